// k6 load script: POSTs a real AdmissionReview to a deployed Canopy's /validate and checks each answer.
//
//   k6 run -e CANOPY_URL=https://127.0.0.1:8443 -e REVIEW=../examples/admission-reviews/pod.json load/validate.js
//
// Canopy's generated certificate is signed by its own CA; k6 cannot be given a CA file, so TLS
// verification is skipped here. Run it against a test deployment, not through an untrusted network.
import http from 'k6/http';
import { check } from 'k6';

const url = `${__ENV.CANOPY_URL || 'https://127.0.0.1:8443'}/validate`;
const body = open(__ENV.REVIEW || '../examples/admission-reviews/pod.json');
const uid = JSON.parse(body).request.uid;

export const options = {
  insecureSkipTLSVerify: true,
  scenarios: {
    validate: { executor: 'constant-vus', vus: Number(__ENV.VUS || 20), duration: __ENV.DURATION || '30s' },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    http_req_duration: ['p(99)<50'],
  },
};

export default function () {
  const res = http.post(url, body, { headers: { 'Content-Type': 'application/json' } });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'answer echoes the uid': (r) => r.json('response.uid') === uid,
  });
}

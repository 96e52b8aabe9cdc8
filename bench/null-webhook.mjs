// The null webhook: Canopy's server stack (fastify over HTTPS, the same TLS settings, body limit, error
// handling and AdmissionReview envelope checks) answering `allowed: true` without evaluating anything.
// It is the ceiling of the HTTP layer on this machine. Prints "listening on https://127.0.0.1:PORT".
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAdmissionReview } from '../dist/kubernetes/admission/index.js';
import { createLogger } from '../dist/operations/decision-log/index.js';
import { createServer } from '../dist/server/index.js';
import { ensureCertificates } from '../dist/sources/tls/index.js';

const stateDir = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'canopy-bench-null-'));
const files = await ensureCertificates(path.join(stateDir, 'tls'), ['127.0.0.1', 'localhost']);

const allow = async (body) => {
  const request = parseAdmissionReview(body);
  const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, allowed: true } };
  return { request, review, latencyUs: 0, decision: { allowed: true, denials: [], warnings: [], audits: [] } };
};
const nullPipeline = { handleValidate: allow, handleMutate: allow, policySet: { revision: 'null', policies: new Map(), mutations: [] }, ready: true };

const app = await createServer({ pipeline: nullPipeline, tls: files.serving, logger: createLogger(undefined, { level: 'warn' }) });
await app.listen({ host: '127.0.0.1', port: 0 });
process.stderr.write(`listening on https://127.0.0.1:${app.server.address().port}\n`);

// AdmissionReview bodies for an object, as the API server would send them, for tests that make their own.
type Json = Record<string, unknown>;

export interface ReviewOptions {
  operation?: string;
  oldObject?: Json;
  dryRun?: boolean;
  kind?: Json;
  resource?: Json;
  subResource?: string;
  userInfo?: Json;
}

let uid = 0;

export function admissionReview(object: Json, options: ReviewOptions = {}): Json {
  const metadata = (object['metadata'] ?? {}) as Json;
  const apiVersion = String(object['apiVersion'] ?? 'v1');
  const [group, version] = apiVersion.includes('/') ? (apiVersion.split('/') as [string, string]) : ['', apiVersion];
  const kind = String(object['kind']);
  uid += 1;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `test-${uid}`,
      kind: options.kind ?? { group, version, kind },
      resource: options.resource ?? { group, version, resource: `${kind.toLowerCase()}s` },
      ...(options.subResource ? { subResource: options.subResource } : {}),
      name: metadata['name'],
      namespace: metadata['namespace'],
      operation: options.operation ?? 'CREATE',
      userInfo: options.userInfo ?? { username: 'alice', groups: ['system:authenticated'] },
      object,
      oldObject: options.oldObject ?? null,
      dryRun: options.dryRun ?? false,
    },
  };
}

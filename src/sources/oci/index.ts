// OCI registries: image references, a distribution client, cosign signatures.
export { MANIFEST_TYPES, OCI_MANIFEST, OciClient, OciError, pushArtifact, type ArtifactLayer, type Manifest, type RegistryAccess } from './client.js';
export { pushImage, signImage, signatureTag, simpleSigningPayload, verifyCosign, SIGNATURE_ANNOTATION, type SignatureCheck } from './cosign.js';
export { parseImageReference, ImageReferenceError, type ImageReference } from './reference.js';

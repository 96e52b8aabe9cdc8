// The one HTTP transport (undici) under the Kubernetes, OCI and bundle-store clients, and its errors.
export {
  describeRequest,
  HttpError,
  HttpMalformedError,
  HttpNetworkError,
  HttpRequestError,
  HttpStatusError,
  HttpTimeoutError,
  HttpTooLargeError,
} from './errors.js';
export {
  ERROR_BODY_BYTES,
  headerValue,
  HttpTransport,
  type HttpRequest,
  type HttpResponse,
  type JsonLineStream,
  type ResponseHeaders,
  type StreamRequest,
  type TlsSettings,
  type TransportOptions,
} from './transport.js';

// Every error answer is JSON that says what is wrong: `{ "error": "...", "message": "..." }`.
import type { FastifyError } from 'fastify';
import type { WebhookApp } from './app.js';
import { AdmissionReviewError } from '../kubernetes/admission/index.js';

export interface ErrorBody {
  error: string;
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
};

function errorBody(status: number, message: string): ErrorBody {
  return { error: REASONS[status] ?? 'Error', message };
}

/** Maps the errors fastify and the pipeline raise onto status codes and clear messages. */
export function registerErrorHandling(app: WebhookApp, bodyLimit: number): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AdmissionReviewError) {
      return reply.code(400).send(errorBody(400, `not a valid AdmissionReview v1: ${error.message}`));
    }
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return reply.code(413).send(errorBody(413, `request body is larger than the limit of ${bodyLimit} bytes`));
    }
    if (error instanceof SyntaxError) {
      return reply.code(400).send(errorBody(400, `request body is not JSON: ${error.message}`));
    }
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) request.log.error({ err: error }, 'request failed');
    return reply.code(status).send(errorBody(status, error.message));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, `no route for ${request.method} ${request.url}`));
  });
}

/**
 * Parse every body as JSON whatever its Content-Type: the API server sends application/json, and a body
 * sent by hand with another type should get "not JSON" or a verdict, not a confusing 415. Parsed values
 * are only read, never merged into other objects, so a `__proto__` key is inert. The text is kept as
 * `bodyText`: an evaluation worker is sent it rather than the object, which would cost this thread more
 * to clone than the string.
 */
export function acceptJsonWithAnyContentType(app: WebhookApp): void {
  app.removeAllContentTypeParsers();
  app.decorateRequest('bodyText', '');
  app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(Object.assign(new SyntaxError('the body is empty'), { statusCode: 400 }), undefined);
      return;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      request.bodyText = text;
      done(null, parsed);
    } catch (error) {
      done(Object.assign(error as SyntaxError, { statusCode: 400 }), undefined);
    }
  });
}

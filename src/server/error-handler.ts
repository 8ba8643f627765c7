// Maps every error to one status and the JSON body {"error":{"code","message"}} — the one place
// where codes become HTTP statuses (the table is src/errors.ts).
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, errorBody, isHeadroomError } from '../errors.js';

// Fastify's own error codes that are the client's fault, mapped to ours.
const FASTIFY_CODES: Record<string, keyof typeof ERRORS> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'HEADROOM_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'HEADROOM_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'HEADROOM_BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'HEADROOM_BAD_REQUEST',
  FST_ERR_VALIDATION: 'HEADROOM_BAD_REQUEST',
};

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isHeadroomError(err)) {
      if (err.statusCode >= 500) request.log.warn({ code: err.code, err: err.cause ?? undefined }, err.message);
      void reply.code(err.statusCode).headers(err.headers).send(err.toJSON());
      return;
    }
    const mapped = err.code ? FASTIFY_CODES[err.code] : undefined;
    if (mapped) {
      void reply.code(ERRORS[mapped].status).send(errorBody(mapped, err.message));
      return;
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      void reply.code(err.statusCode).send(errorBody('HEADROOM_BAD_REQUEST', err.message));
      return;
    }
    request.log.error({ err }, 'unhandled error');
    void reply.code(500).send(errorBody('HEADROOM_INTERNAL', 'internal error; see the gateway log'));
  });

  // Methods of every fixed path, so a wrong method on a known path is a 405 with Allow rather
  // than a 404 (RFC 9110 §15.5.6). Routes register after this hook, so it sees them all.
  const methods = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (/[:*]/.test(route.url)) return;
    const set = methods.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) set.add(m);
    methods.set(route.url, set);
  });

  const notFound = (request: FastifyRequest, reply: FastifyReply): void => {
    const path = request.url.split('?')[0]!;
    const allowed = methods.get(path);
    if (allowed) {
      const allow = [...allowed].join(', ');
      void reply
        .code(ERRORS.HEADROOM_METHOD_NOT_ALLOWED.status)
        .header('allow', allow)
        .send(errorBody('HEADROOM_METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path}; it takes ${allow}`));
      return;
    }
    void reply.code(404).send(errorBody('HEADROOM_NOT_FOUND', `no route for ${request.method} ${path}; see docs/endpoints.md`));
  };
  (app as Answering)[NOT_FOUND] = notFound;
  app.setNotFoundHandler(notFound);
}

const NOT_FOUND = Symbol('headroom.notFound');
type Answering = FastifyInstance & { [NOT_FOUND]?: (request: FastifyRequest, reply: FastifyReply) => void };

/**
 * The 404/405 answer of installErrorHandlers for a scope of its own (the admin API), so that its
 * onRequest hooks (rate limit, token) run before it: an unauthenticated client must not learn
 * which admin routes exist. The scope's instance inherits the root's answer.
 */
export function scopeNotFound(scope: FastifyInstance): void {
  const answer = (scope as Answering)[NOT_FOUND];
  if (answer) scope.setNotFoundHandler(answer);
}

// Request memory accounting for Fastify: `await app.register(accountRequests, { accounting, capture })`.
// onRequest opens the request's ledger and runs the rest of the request inside it (the way
// @fastify/request-context does: done() called within AsyncLocalStorage.run), the capture's bytes
// are charged to it, and the raw response's 'close' ends it with the route template.
import type { FastifyPluginAsync } from 'fastify';
import type { RequestAccounting } from '../../log/accounting.js';
import type { BodyCapture } from '../../log/capture.js';
import { HeadroomError } from '../../errors.js';
import { UNMATCHED_ROUTE } from '../../observe/route-labels.js';

export interface AccountRequestsOptions {
  accounting: RequestAccounting;
  /** A capture (createBodyCapture) whose kept bytes are charged; do not also register captureBodies. */
  capture?: BodyCapture;
}

const plugin: FastifyPluginAsync<AccountRequestsOptions> = async (app, options) => {
  const { accounting, capture } = options;
  if (!accounting || typeof accounting.open !== 'function')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'accountRequests: accounting must be made by createRequestAccounting()');
  if (capture !== undefined && typeof capture?.tap !== 'function')
    throw new HeadroomError('HEADROOM_CONFIG_INVALID', 'accountRequests: capture must be made by createBodyCapture()');
  app.addHook('onRequest', (request, reply, done) => {
    const ledger = accounting.open();
    capture?.tap(request.raw, reply.raw, (delta) => ledger.charge(delta));
    reply.raw.once('close', () => ledger.end(request.routeOptions.url ?? UNMATCHED_ROUTE));
    accounting.run(ledger, done);
  });
  app.addHook('onClose', async () => {
    await capture?.close();
  });
};

Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'headroom-memory-accounting',
  [Symbol.for('plugin-meta')]: { name: 'headroom-memory-accounting', fastify: '5.x' },
});

/** Charges each request with the bytes headroom holds for it; register once, at the root. */
export const accountRequests: FastifyPluginAsync<AccountRequestsOptions> = plugin;

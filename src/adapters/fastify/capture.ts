// Capped body capture for Fastify: `await app.register(captureBodies, { logger: app.log })`. One
// onRequest hook taps the raw request and response (Fastify writes every payload, streams
// included, through them), so the capture is the same as on Express; onClose stops it.
import type { FastifyPluginAsync } from 'fastify';
import { createBodyCapture, type BodyCapture } from '../../log/capture.js';
import type { BodyCaptureOptions } from '../../log/capture-types.js';
import { FASTIFY_REGISTER_KEYS } from '../../options/spec.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The capture registered by captureBodies (its stats(): bytes held, requests in flight, lines logged). */
    bodyCapture: BodyCapture;
  }
}

const plugin: FastifyPluginAsync<BodyCaptureOptions> = async (app, options) => {
  const given: Record<string, unknown> = { ...options };
  for (const key of FASTIFY_REGISTER_KEYS) delete given[key];
  const capture = createBodyCapture(given as BodyCaptureOptions);
  app.decorate('bodyCapture', capture);
  app.addHook('onRequest', (request, reply, done) => {
    capture.tap(request.raw, reply.raw);
    done();
  });
  app.addHook('onClose', async () => capture.close());
};

// As in plugin.ts: skip-override (fastify-plugin's effect) so the hook reaches every route of the app.
Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'headroom-memory-capture',
  [Symbol.for('plugin-meta')]: { name: 'headroom-memory-capture', fastify: '5.x' },
});

/** Capped request/response body capture: register once, at the root, before other plugins read bodies. */
export const captureBodies: FastifyPluginAsync<BodyCaptureOptions> = plugin;

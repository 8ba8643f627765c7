/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS app that prints where it listens */
// A NestJS app with headroom, in plain CommonJS JavaScript (no build step, so the decorators are
// called as functions; in TypeScript you would write @Controller('notes') and so on).
//
//   UPSTREAM_URL=https://api.example.com API_KEY=secret npm start
//
// - GET /health, /health/live, /health/ready, /metrics   headroom, in front of the app (no key)
// - ANY /api/*    streamed to UPSTREAM_URL by headroom's proxy, behind the app's ApiKeyGuard
// - POST /notes   the app's own JSON route: Nest's body parser, then the same guard
// - /admin/*      headroom's admin API, when HEADROOM_ADMIN_TOKEN is set
// SIGTERM/SIGINT: readiness turns 503, in-flight requests finish, the process exits with code 0.
require('reflect-metadata');
const { Body, Controller, HttpException, Module, Post } = require('@nestjs/common');
const { APP_GUARD, NestFactory } = require('@nestjs/core');
const { HeadroomModule, enableHeadroomShutdown } = require('headroom-memory/nestjs');

const API_KEY = process.env.API_KEY || 'dev-key';
const UPSTREAM_URL = process.env.UPSTREAM_URL;

// The app's auth: a global guard, as Nest apps usually have. It protects the app's routes AND the
// proxied /api/* routes (headroom's proxy is a controller, so guards run before it).
class ApiKeyGuard {
  canActivate(context) {
    const req = context.switchToHttp().getRequest();
    if (req.headers['x-api-key'] !== API_KEY) throw new HttpException({ error: 'missing or wrong x-api-key' }, 401);
    return true;
  }
}

class NotesController {
  create(note) {
    return { saved: note };
  }
}
Post()(NotesController.prototype, 'create', Object.getOwnPropertyDescriptor(NotesController.prototype, 'create'));
Body()(NotesController.prototype, 'create', 0);
Controller('notes')(NotesController);

class AppModule {}
Module({
  imports: [
    HeadroomModule.forRoot({
      // ANY /api/* → UPSTREAM_URL (the /api prefix is removed: /api/users?x=1 → /users?x=1).
      // The app's own key is not passed on to the upstream (dropHeaders).
      proxy: UPSTREAM_URL
        ? { upstreamUrl: UPSTREAM_URL, upstreamToken: process.env.UPSTREAM_TOKEN || undefined, dropHeaders: ['x-api-key'] }
        : undefined,
      adminToken: process.env.HEADROOM_ADMIN_TOKEN || undefined,
    }),
  ],
  controllers: [NotesController],
  providers: [{ provide: APP_GUARD, useClass: ApiKeyGuard }],
})(AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  // Instead of app.enableShutdownHooks(): drains, closes the app and headroom, exits with code 0.
  enableHeadroomShutdown(app, { log: (message, err) => console.log(message, err ?? '') });
  const port = Number(process.env.PORT || 3000);
  await app.listen(port, process.env.HOST || '127.0.0.1');
  const { port: actual } = app.getHttpServer().address();
  console.log(`nestjs example listening on http://127.0.0.1:${actual}`);
  console.log(UPSTREAM_URL ? `proxying /api/* to ${UPSTREAM_URL}` : 'UPSTREAM_URL is not set: /api/* is not proxied');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});

// HeadroomMemoryInterceptor on real NestJS apps (both platforms): with accountingMiddleware in
// front, each request is reported with its duration and the bytes charged to it, and one above
// warnBytes is logged as a warning.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  accountingMiddleware,
  createBodyCapture,
  createRequestAccounting,
  HeadroomMemoryInterceptor,
  type RequestMemoryReport,
} from '../../../src/adapters/nestjs/index.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { nestController, PNG } from './apps.js';

for (const platform of ['express', 'fastify'] as const) {
  test(
    `nest-${platform}: the memory interceptor reports duration and bytes charged, and warns above warnBytes`,
    { timeout: 60_000 },
    async () => {
      await assertNoLeakedHandles(async () => {
        class AppModule {}
        Module({ controllers: [nestController()] })(AppModule);
        const app = await NestFactory.create(AppModule, platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(), {
          logger: false,
        });
        const accounting = createRequestAccounting({ warnBytes: '8KiB' });
        const capture = createBodyCapture({ onCapture: () => {} });
        const reports: RequestMemoryReport[] = [];
        const warnings: [object, string | undefined][] = [];
        app.use(accountingMiddleware(accounting, capture));
        app.useGlobalInterceptors(
          new HeadroomMemoryInterceptor(accounting, {
            onReport: (r) => reports.push(r),
            logger: { warn: (o, m) => warnings.push([o, m]) },
          }),
        );
        await app.listen(0, '127.0.0.1');
        const server = app.getHttpServer() as Server;
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        try {
          const body = JSON.stringify({ fill: 'z'.repeat(20_000) });
          const echoed = await fetch(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
          assert.equal(await echoed.text(), body);
          const png = Buffer.from(await (await fetch(`${url}/png`)).arrayBuffer());
          assert.ok(png.equals(PNG));
          await waitFor(() => reports.length === 2, 'two reports');
          const [echo, image] = reports;
          assert.deepEqual(
            { ...echo, ms: 0 },
            { handler: 'CaptureController.echo', ms: 0, peak: 2 * 8192, charged: 2 * 8192, heavy: true },
          );
          assert.ok(echo!.ms > 0);
          assert.deepEqual({ ...image, ms: 0 }, { handler: 'CaptureController.png', ms: 0, peak: 0, charged: 0, heavy: false });
          assert.equal(warnings.length, 1);
          assert.match(warnings[0]![1]!, /^CaptureController\.echo held 16384 bytes \(above 8192\)$/);
          assert.equal(accounting.held(), 0);
          assert.throws(() => new HeadroomMemoryInterceptor({} as never), /accounting must be made by createRequestAccounting/);
          assert.throws(() => new HeadroomMemoryInterceptor(accounting, null as never), {
            code: 'HEADROOM_CONFIG_INVALID',
            message: 'HeadroomMemoryInterceptor: options must be an object',
          });
          assert.throws(() => new HeadroomMemoryInterceptor(accounting, { onReprot: () => undefined } as never), {
            code: 'HEADROOM_CONFIG_INVALID',
            message: 'HeadroomMemoryInterceptor: onReprot: unknown option; did you mean onReport?',
          });
        } finally {
          server.closeAllConnections();
          await app.close();
          await capture.close();
          await accounting.close();
        }
      });
    },
  );
}

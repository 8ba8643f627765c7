// bench/adapters: a NestJS app with one JSON route (GET /app/hello), on the Express or the Fastify
// platform, bare or with HeadroomModule.forRoot() imported the way docs/frameworks/nestjs.md shows
// (monitor with its default sample interval, shedding, health, metrics and admin routes, in-flight
// counting). Decorators are called as functions: tsx (esbuild) emits no decorator metadata.
// BENCH_WITHOUT=monitor (with headroom) stops the monitor once the app is up (bench/adapters --base).
import 'reflect-metadata';
import { Controller, Get, Module, type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import type * as NestAdapter from '../../../src/adapters/nestjs/index.js';
import { loadHeadroom } from './headroom.js';
import { benchWithout } from './parts.js';

class AppController {
  hello(): unknown {
    return { hello: 'world' };
  }
}
Get('hello')(AppController.prototype, 'hello', Object.getOwnPropertyDescriptor(AppController.prototype, 'hello')!);
Controller('app')(AppController);

export async function main(platform: 'express' | 'fastify'): Promise<void> {
  const without = benchWithout(['monitor']);
  const nest = process.env.BENCH_VARIANT === 'headroom' ? await loadHeadroom<typeof NestAdapter>('adapters/nestjs/index.js') : undefined;
  const imports: DynamicModule[] = nest ? [nest.HeadroomModule.forRoot()] : [];
  class AppModule {}
  Module({ imports, controllers: [AppController] })(AppModule);
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  if (nest && without.has('monitor')) app.get<NestAdapter.Headroom>(nest.HEADROOM).monitor.stop(); // sampling, event-loop probe, GC observer
  await app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
  const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
  console.log(`HEADROOM_FIXTURE_LISTENING http://127.0.0.1:${port}`);
}

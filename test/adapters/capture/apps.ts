// Real Express 5, Fastify and NestJS (on both platforms) apps with the body capture wired the way
// each adapter documents, serving the same routes:
//   POST /echo        parses a JSON body and answers it back as JSON
//   GET  /big?mb=N    streams N MiB of text/plain from a Readable (backpressure honoured)
//   GET  /png         64 KiB of image/png
//   GET  /hang        writes 1 KiB of text/plain, then never ends (the client aborts)
import 'reflect-metadata';
import { Body, Controller, Get, Post, Query, Res, StreamableFile } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import express from 'express';
import Fastify from 'fastify';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { captureMiddleware, createBodyCapture } from '../../../src/adapters/express/index.js';
import { captureMiddleware as nestCaptureMiddleware } from '../../../src/adapters/nestjs/index.js';
import { captureBodies } from '../../../src/adapters/fastify/index.js';
import type { BodyCapture, CaptureRecord } from '../../../src/log/capture.js';
import { listenFastify } from '../../helpers/net.js';

export type CaptureAppKind = 'express' | 'fastify' | 'nest-express' | 'nest-fastify';
export const CAPTURE_APPS: CaptureAppKind[] = ['express', 'fastify', 'nest-express', 'nest-fastify'];

export const CHUNK = 64 * 1024;

/** Chunk i of /big: printable text stamped with its index, so reordered or lost chunks change the hash. */
export function bigChunk(i: number): Buffer {
  const b = Buffer.alloc(CHUNK, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
  b.write(`chunk ${i} `, 0, 'latin1');
  return b;
}

function bigStream(mb: number): Readable {
  const count = (mb * 1024 * 1024) / CHUNK;
  let i = 0;
  // read() is called only when the consumer wants more: this is what keeps a 100 MB body bounded.
  return new Readable({
    read() {
      this.push(i < count ? bigChunk(i++) : null);
    },
  });
}

export const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64 * 1024 - 8, 0xff)]);

export interface CaptureApp {
  url: string;
  capture: BodyCapture;
  records: CaptureRecord[];
  /** Resolves on each record; `next()` waits for the next one. */
  next(): Promise<CaptureRecord>;
  close(): Promise<void>;
}

function recorder(): { records: CaptureRecord[]; onCapture: (r: CaptureRecord) => void; next(): Promise<CaptureRecord> } {
  const records: CaptureRecord[] = [];
  const waiting: ((r: CaptureRecord) => void)[] = [];
  let read = 0;
  return {
    records,
    onCapture(r) {
      records.push(r);
      const w = waiting.shift();
      if (w) {
        read++;
        w(r);
      }
    },
    next() {
      if (read < records.length) return Promise.resolve(records[read++]!);
      return new Promise((resolve) => waiting.push(resolve));
    },
  };
}

const hang = (res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.write('h'.repeat(1024));
};

async function expressApp(
  onCapture: (r: CaptureRecord) => void,
  maxBytes: number | undefined,
): Promise<Omit<CaptureApp, 'records' | 'next'>> {
  const capture = createBodyCapture({ onCapture, maxBytes });
  const app = express();
  app.use(captureMiddleware(capture));
  app.use(express.json({ limit: '2mb' }));
  app.post('/echo', (req, res) => void res.json(req.body));
  app.get('/big', (req, res) => {
    res.type('text/plain');
    bigStream(Number(req.query.mb)).pipe(res);
  });
  app.get('/png', (_req, res) => void res.type('image/png').send(PNG));
  app.get('/hang', (_req, res) => hang(res));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, capture, close: () => closeServer(server, capture) };
}

async function closeServer(server: Server, capture: BodyCapture): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await capture.close();
}

async function fastifyApp(
  onCapture: (r: CaptureRecord) => void,
  maxBytes: number | undefined,
): Promise<Omit<CaptureApp, 'records' | 'next'>> {
  const app = Fastify({ bodyLimit: 2 * 1024 * 1024 });
  await app.register(captureBodies, { onCapture, maxBytes });
  app.post('/echo', async (req) => req.body);
  app.get('/big', async (req, reply) => reply.type('text/plain').send(bigStream(Number((req.query as { mb: string }).mb))));
  app.get('/png', async (_req, reply) => reply.type('image/png').send(PNG));
  app.get('/hang', (_req, reply) => {
    reply.hijack();
    hang(reply.raw);
  });
  return { ...(await listenFastify(app)), capture: app.bodyCapture };
}

export function nestController(): new () => unknown {
  class CaptureController {
    echo(body: unknown): unknown {
      return body;
    }
    big(mb: string): StreamableFile {
      return new StreamableFile(bigStream(Number(mb)), { type: 'text/plain' });
    }
    png(): StreamableFile {
      return new StreamableFile(PNG, { type: 'image/png' });
    }
    hang(res: ServerResponse | { raw: ServerResponse; hijack(): void }): void {
      if ('raw' in res) {
        res.hijack();
        hang(res.raw);
      } else hang(res);
    }
  }
  const p = CaptureController.prototype;
  const d = (name: string, ...decorators: MethodDecorator[]): void => {
    for (const dec of decorators) dec(p, name, Object.getOwnPropertyDescriptor(p, name)!);
  };
  d('echo', Post('echo'));
  Body()(p, 'echo', 0);
  d('big', Get('big'));
  Query('mb')(p, 'big', 0);
  d('png', Get('png'));
  d('hang', Get('hang'));
  Res()(p, 'hang', 0);
  Controller()(CaptureController);
  return CaptureController;
}

async function nestApp(
  platform: 'express' | 'fastify',
  onCapture: (r: CaptureRecord) => void,
  maxBytes: number | undefined,
): Promise<Omit<CaptureApp, 'records' | 'next'>> {
  class AppModule {}
  Module({ controllers: [nestController()] })(AppModule);
  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter();
  const app = await NestFactory.create(AppModule, adapter, { logger: false });
  const capture = createBodyCapture({ onCapture, maxBytes });
  app.use(nestCaptureMiddleware(capture));
  await app.listen(0, '127.0.0.1');
  const server = app.getHttpServer() as Server;
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    capture,
    close: async () => {
      server.closeAllConnections();
      await app.close();
      await capture.close();
    },
  };
}

export async function startCaptureApp(kind: CaptureAppKind, maxBytes?: number): Promise<CaptureApp> {
  const rec = recorder();
  const app =
    kind === 'express'
      ? await expressApp(rec.onCapture, maxBytes)
      : kind === 'fastify'
        ? await fastifyApp(rec.onCapture, maxBytes)
        : await nestApp(kind === 'nest-express' ? 'express' : 'fastify', rec.onCapture, maxBytes);
  return { ...app, records: rec.records, next: rec.next };
}

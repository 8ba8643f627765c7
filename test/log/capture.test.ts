// createBodyCapture on a bare node:http server: option checks, the pino line, string and Buffer
// writes cut across chunks, compressed and extra types, a logger that throws, close().
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { createBodyCapture, type BodyCapture, type BodyCaptureOptions, type CaptureRecord } from '../../src/log/capture.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** One request to a server whose every request is tapped by `capture`, answered by `handler`. */
async function once(
  capture: BodyCapture,
  handler: Handler,
  body?: string | Buffer,
  headers: Record<string, string> = {},
  path = '/p?token=secret',
): Promise<Buffer> {
  const server = createServer((req, res) => {
    capture.tap(req, res);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<Buffer>((resolve, reject) => {
      const req = request({ port, host: '127.0.0.1', method: body === undefined ? 'GET' : 'POST', path, headers, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts)));
      });
      req.on('error', reject).end(body);
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function collecting(options: Omit<BodyCaptureOptions, 'onCapture' | 'logger'> = {}): { capture: BodyCapture; records: CaptureRecord[] } {
  const records: CaptureRecord[] = [];
  return { capture: createBodyCapture({ ...options, onCapture: (r) => records.push(r) }), records };
}

const readAll = (req: IncomingMessage, then: () => void): void => void req.resume().on('end', then);

test('options are checked, naming the option and what is accepted', () => {
  const onCapture = (): void => {};
  const refused = (o: unknown, re: RegExp): void =>
    assert.throws(
      () => createBodyCapture(o as BodyCaptureOptions),
      (e: Error & { code?: string }) => e.code === 'HEADROOM_CONFIG_INVALID' && re.test(e.message),
    );
  refused({ onCapture, maxBytes: 2 * 1024 ** 2 }, /maxBytes.*between 0 bytes and 1 MiB/);
  refused({ onCapture, maxBytes: 'lots' }, /maxBytes/);
  refused({}, /exactly one of logger .* and onCapture/);
  refused({ onCapture, logger: { info() {} } }, /exactly one of logger/);
  refused({ onCapture: 'log' }, /onCapture must be a function/);
  refused({ logger: console.log }, /logger=.*: must be a logger \(an object with info\(\)\)/);
  refused({ onCapture, textTypes: ['json'] }, /textTypes.*media types/);
  refused({ onCapture, maxbytes: 10 }, /did you mean maxBytes/);
  assert.equal(typeof createBodyCapture({ onCapture, maxBytes: '16KiB' }).tap, 'function');
});

test('a pino logger gets one info line a request, without the query string', async () => {
  await assertNoLeakedHandles(async () => {
    const lines: string[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const capture = createBodyCapture({ logger: pino({ base: null }, dest) });
    await once(capture, (req, res) => readAll(req, () => res.writeHead(201, { 'content-type': 'text/plain' }).end('made')), 'a=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown> & CaptureRecord;
    assert.equal(line.level, 30);
    assert.match(String(line.msg), /^POST \/p 201 [\d.]+ms$/);
    assert.equal(line.path, '/p');
    assert.ok(!lines[0]!.includes('secret'));
    assert.deepEqual(line.request, {
      contentType: 'application/x-www-form-urlencoded',
      bytes: 3,
      body: 'a=1',
      truncated: false,
      binary: false,
    });
    assert.deepEqual(line.response, { contentType: 'text/plain', bytes: 4, body: 'made', truncated: false, binary: false });
    await capture.close();
  });
});

test('string and Buffer writes are cut at maxBytes across chunks; the true size counts every byte', async () => {
  const { capture, records } = collecting({ maxBytes: 100 });
  const sent = await once(capture, (_req, res) => {
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.write('a'.repeat(60));
    res.write(Buffer.from('62'.repeat(60), 'hex').toString('hex'), 'hex'); // 60 × 'b'
    res.end('c'.repeat(1000));
  });
  assert.equal(sent.length, 1120);
  const r = records[0]!;
  assert.deepEqual([r.response.bytes, r.response.body, r.response.truncated], [1120, 'a'.repeat(60) + 'b'.repeat(40), true]);
  assert.equal(capture.stats().held, 0);
});

test('an absolute-form target is recorded by its path (no userinfo); a Content-Type is cut at 256; a body read with setEncoding counts its bytes', async () => {
  const { capture, records } = collecting();
  const body = 'hello world';
  const handler: Handler = (req, res) => {
    req.setEncoding('base64');
    readAll(req, () => res.end('ok'));
  };
  await once(
    capture,
    handler,
    body,
    { 'content-type': `text/plain; x=${'a'.repeat(1000)}` },
    'http://alice:s3cr3t@127.0.0.1/private/path?token=x',
  );
  const r = records[0]!;
  assert.equal(r.path, '/private/path');
  assert.ok(!JSON.stringify(r).includes('s3cr3t'));
  assert.equal(r.request.contentType?.length, 256);
  assert.deepEqual([r.request.bytes, r.request.body], [11, body]);
  await capture.close();
});

test('compressed, untyped and multipart bodies are sized, not captured; textTypes adds types', async () => {
  const { capture, records } = collecting({ textTypes: ['application/vnd.acme'] });
  await once(
    capture,
    (req, res) =>
      readAll(req, () => res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' }).end('not really gzip')),
    'x',
    {
      'content-type': 'multipart/form-data; boundary=z',
    },
  );
  await once(capture, (_req, res) => res.end(Buffer.from('no type')));
  await once(capture, (_req, res) => res.writeHead(200, [['content-type', 'application/vnd.acme']].flat()).end('custom'));
  assert.deepEqual(records[0]!.request, { contentType: 'multipart/form-data; boundary=z', bytes: 1, truncated: true, binary: true });
  assert.deepEqual(records[0]!.response, { contentType: 'text/plain', bytes: 15, truncated: true, binary: true });
  assert.deepEqual(records[1]!.response, { bytes: 7, truncated: true, binary: true });
  assert.equal(records[2]!.response.body, 'custom');
});

test('maxBytes 0 records sizes only; a throwing logger still releases; close() stops new taps', async () => {
  const sizes = collecting({ maxBytes: 0 });
  await once(sizes.capture, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"a":1}'));
  assert.deepEqual(sizes.records[0]!.response, { contentType: 'application/json', bytes: 7, truncated: true, binary: false });

  const throwing = createBodyCapture({
    logger: {
      info() {
        throw new Error('logger down');
      },
    },
  });
  await once(throwing, (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('kept then released'));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(throwing.stats(), { held: 0, active: 0, logged: 0, failed: 1 });

  await throwing.close();
  await throwing.close();
  await once(throwing, (_req, res) => res.end('after close'));
  assert.deepEqual(throwing.stats(), { held: 0, active: 0, logged: 0, failed: 1 });
});

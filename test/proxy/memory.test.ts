// A slow client reads a 200 MB body through a gateway running in a child process: backpressure
// must keep the gateway's RSS flat (the upstream is throttled by the client, not buffered).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { startUpstream, within } from './helpers.js';

const SIZE = 200 * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 120);

function ask(child: ChildProcess, msg: string): Promise<Record<string, number>> {
  const reply = once(child, 'message') as Promise<[Record<string, number>]>;
  child.send(msg);
  return reply.then(([m]) => m);
}

test('slow client reading 200 MB: gateway RSS stays bounded and the upstream is slowed', { timeout: 60_000 }, async () => {
  let sent = 0;
  const up = await startUpstream((req, res) => {
    const size = req.url === '/api/warmup' || req.url === '/warmup' ? 16 * 1024 * 1024 : SIZE;
    res.writeHead(200, { 'content-length': size });
    let mine = 0;
    const pump = (): void => {
      while (mine < size) {
        mine += CHUNK.length;
        if (size === SIZE) sent += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  const child = fork(fileURLToPath(new URL('./fixtures/gateway-child.ts', import.meta.url)), [up.url], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const [{ port }] = (await within(once(child, 'message'), 20_000, 'child gateway')) as [{ port: number }];
    await new Promise((r) => http.get(`http://127.0.0.1:${port}/api/warmup`, { agent: false }, (res) => res.resume().on('close', r)));
    const baseline = (await ask(child, 'baseline')).rss!;
    // The client stops for 15 ms after every MiB (a few times slower than loopback); half way
    // through, the upstream may be ahead only by what socket buffers hold.
    const started = Date.now();
    let lead = 0;
    const got = await within(
      new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
        http
          .get(`http://127.0.0.1:${port}/api/big`, { agent: false }, (res) => {
            let bytes = 0;
            let complete = false;
            res.on('data', (c: Buffer) => {
              const before = bytes;
              bytes += c.length;
              if (before < SIZE / 2 && bytes >= SIZE / 2) lead = sent - bytes;
              if (Math.floor(before / 2 ** 20) !== Math.floor(bytes / 2 ** 20)) {
                res.pause();
                setTimeout(() => res.resume(), 15);
              }
            });
            res.on('end', () => (complete = true));
            res.on('close', () => resolve({ bytes, complete }));
          })
          .on('error', reject);
      }),
      45_000,
      'slow download',
    );
    const finished = Date.now();
    const peak = await ask(child, 'max');
    assert.equal(got.complete, true);
    assert.equal(got.bytes, SIZE);
    const growth = peak.rss! - baseline;
    console.log(
      `# 200 MB slow download in ${finished - started} ms; gateway RSS baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, peak growth ${(growth / 2 ** 20).toFixed(1)} MiB`,
    );
    assert.ok(growth < 48 * 2 ** 20, `gateway RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
    console.log(`# upstream ahead of the client by ${(lead / 2 ** 20).toFixed(1)} MiB half way`);
    assert.ok(lead < 40 * 2 ** 20, 'backpressure did not reach the upstream');
  } finally {
    const exited = once(child, 'exit');
    if (child.connected) child.send('stop');
    await within(exited, 10_000, 'child exit').catch(() => child.kill());
    await up.close();
  }
});

// sharp (libvips, a native module) loads only when an image is first transformed: a user of the
// cache, the monitor, the proxy, the errors or the metrics never loads it, and neither does
// importing the image entry or creating an image service. Each case runs in a fresh process
// (lazy-sharp-child.ts) that reports whether sharp's shared objects are mapped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHILD = new URL('./lazy-sharp-child.ts', import.meta.url).pathname;

async function child(...args: string[]): Promise<Record<string, { sharpLoaded?: boolean; status?: number; type?: string }>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, ...args], { timeout: 60_000 });
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { at: string });
  return Object.fromEntries(lines.map(({ at, ...rest }) => [at, { ...rest }])) as never;
}

test('the detector sees sharp when it is loaded (control)', async () => {
  const r = await child('entry', 'sharp');
  assert.equal(r.start!.sharpLoaded, false);
  assert.equal(r.imported!.sharpLoaded, true);
});

for (const entry of ['cache/index', 'monitor/index', 'proxy/index', 'errors-entry', 'metrics-entry', 'gateway-entry', 'image/index'])
  test(`importing src/${entry} does not load sharp`, async () => {
    const r = await child('entry', `../../src/${entry}.js`);
    assert.equal(r.imported!.sharpLoaded, false);
  });

test('an image service loads sharp with its first transform, not before', async () => {
  const r = await child('image');
  assert.equal(r.created!.sharpLoaded, false, 'creating the service does not load sharp');
  assert.equal(r.response!.status, 200);
  assert.equal(r.response!.type, 'image/webp');
  assert.equal(r.transformed!.sharpLoaded, true);
});

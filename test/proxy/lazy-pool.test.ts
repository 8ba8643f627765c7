// undici loads when a proxy is created, not with the code that can make one (that an adapter
// without a proxy loads none of it, through both builds: test/package/lazy-imports.test.ts). A
// request made before the load has finished waits for it; a failed load answers the request with
// an error and lets close() settle. Each case runs in a fresh process (fixtures/lazy-pool-child.ts),
// which must exit on its own: nothing is left open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CHILD = new URL('./fixtures/lazy-pool-child.ts', import.meta.url).pathname;

interface Report {
  modules: number;
  index: boolean;
  createdModules?: number;
  status?: number;
  body?: string;
  message?: string;
  code?: string;
}

async function child(mode: string): Promise<Record<string, Report>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, mode], { timeout: 60_000 });
  const lines = stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Report & { at: string });
  return Object.fromEntries(lines.map(({ at, ...rest }) => [at, rest]));
}

test('a proxy loads undici’s Pool (not its index) when it is created; a request made in the same tick waits for it and is answered', async () => {
  const r = await child('proxy');
  assert.equal(r.imported!.modules, 0, 'nothing before the proxy is created');
  assert.equal(r.answered!.createdModules, 0, 'the load is asynchronous: the request was made before it finished');
  assert.equal(r.answered!.status, 200);
  assert.equal(r.answered!.body, 'upstream saw /echo?x=1');
  assert.ok(r.answered!.modules > 0, 'undici is loaded once the proxy has answered');
  assert.equal(r.answered!.index, false, 'undici’s index (fetch, WebSocket, mocks) is not loaded');
});

test('the headroom-memory/proxy entry loads undici’s Pool and request() for createUpstreamClient, not its index', async () => {
  const r = await child('entry');
  assert.ok(r.imported!.modules > 0);
  assert.equal(r.imported!.index, false);
});

test('when undici’s Pool cannot be loaded, a process warning names the cause and the fix, a proxied request is answered 502 and close() settles', async () => {
  const r = await child('fail');
  assert.equal(r.answered!.status, 502);
  assert.equal(r.answered!.modules, 0);
  assert.equal(r.warning!.code, 'HEADROOM_PROXY_UNDICI');
  assert.match(r.warning!.message!, /cannot load undici's Pool \(Error: undici is not installed \(test\)\).*npm ci/);
});

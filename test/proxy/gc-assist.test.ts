// The GC assist runs a scavenge once per `everyBytes` relayed, and that scavenge frees read
// buffers that died young (the garbage it exists to bound).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { collectUnderPressure, createGcAssist, PRESSURE_COLLECT_INTERVAL } from '../../src/proxy/gc-assist.js';
import { FakePressure } from '../helpers/pressure.js';
import { waitFor } from '../helpers/wait.js';

test('off for 0; otherwise one scavenge per everyBytes relayed', () => {
  assert.equal(createGcAssist(0), undefined);
  const assist = createGcAssist(1000)!;
  assist.relayed(999);
  assert.equal(assist.runs, 0);
  assist.relayed(1);
  assert.equal(assist.runs, 1);
  assist.relayed(2500);
  assert.equal(assist.runs, 2, 'one run per call; the remainder (500) carries over');
  assist.relayed(500);
  assert.equal(assist.runs, 3);
});

test('its scavenge frees young ArrayBuffers that are garbage', async () => {
  const assist = createGcAssist(1)!;
  assist.relayed(1); // settle what is young now
  const before = process.memoryUsage().arrayBuffers;
  // 32 MiB of dead "read buffers": fewer than V8's own external-memory trigger would wait for.
  for (let i = 0; i < 512; i++) Buffer.allocUnsafeSlow(64 * 1024).fill(i);
  assert.ok(process.memoryUsage().arrayBuffers - before > 24 * 1024 ** 2, 'the garbage is counted before the assist');
  assist.relayed(1);
  // ArrayBuffers are swept concurrently right after the scavenge.
  await waitFor(() => process.memoryUsage().arrayBuffers - before < 8 * 1024 ** 2, 'the scavenge to free the dead buffers', 1_000);
});

test('without --expose-gc (production): gc comes from a vm context and globalThis stays clean', () => {
  const script = `
    const { createGcAssist } = await import(${JSON.stringify(new URL('../../src/proxy/gc-assist.ts', import.meta.url).href)});
    const assist = createGcAssist(10);
    assist.relayed(10);
    console.log(JSON.stringify({ runs: assist.runs, gcOnGlobal: typeof globalThis.gc }));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  assert.deepEqual(JSON.parse(out.trim().split('\n').pop()!), { runs: 1, gcOnGlobal: 'undefined' });
});

test('collectUnderPressure collects after the turn to warning or critical (once the other listeners ran), again every 2 s until healthy, and stops', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setImmediate'] });
  const monitor = new FakePressure();
  const order: string[] = [];
  monitor.onPressure((level) => order.push(`cache saw ${level}`));
  let runs = 0;
  const stop = collectUnderPressure(monitor, () => {
    runs++;
    order.push('collect');
  });
  monitor.emit('warning');
  monitor.emit('critical'); // no second schedule
  monitor.emit('warning');
  t.mock.timers.runAll();
  assert.deepEqual(order.slice(0, 4), ['cache saw warning', 'cache saw critical', 'cache saw warning', 'collect']);
  runs = 0;
  t.mock.timers.tick(PRESSURE_COLLECT_INTERVAL * 3);
  assert.equal(runs, 3, 'again while not healthy (a warning left after a burst kept ~90 MiB of dead Buffers)');
  monitor.emit('healthy');
  t.mock.timers.tick(PRESSURE_COLLECT_INTERVAL * 3);
  assert.equal(runs, 3, 'not once it is over');
  monitor.emit('critical');
  stop();
  t.mock.timers.tick(PRESSURE_COLLECT_INTERVAL * 3);
  assert.equal(runs, 3, 'the undo cancels what was pending');
  assert.equal(monitor.listeners.size, 1, 'unsubscribed');
});

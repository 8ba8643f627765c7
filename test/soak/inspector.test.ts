// The inspector probe's bound on every reply: a target that stops answering (here: SIGSTOP) ends
// the command with an error naming it, instead of hanging the soak.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { connectInspector } from '../../src/soak/inspector.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

test('a target that stops answering: measure() rejects after the reply timeout, naming the command', { timeout: 30_000 }, async () => {
  await assertNoLeakedHandles(async () => {
    const child = spawn(process.execPath, ['--inspect=127.0.0.1:0', '-e', 'setInterval(() => {}, 1000)'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let text = '';
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (c: Buffer) => {
          text += c.toString();
          const m = /Debugger listening on (ws:\/\/\S+)/.exec(text);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`child exited (${code}): ${text}`)));
      });
      const probe = await connectInspector(url, 10_000, 500);
      try {
        const first = await probe.measure(); // answering: a real reading
        assert.ok(first.heapUsed > 0);
        child.kill('SIGSTOP');
        const t0 = performance.now();
        await assert.rejects(probe.measure(), /no reply to HeapProfiler\.collectGarbage within 500 ms/);
        const waited = performance.now() - t0;
        assert.ok(waited >= 450 && waited < 10_000, `waited ${waited} ms`);
      } finally {
        child.kill('SIGCONT');
        await probe.close();
      }
    } finally {
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  });
});

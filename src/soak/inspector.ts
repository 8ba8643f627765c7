// A minimal Chrome DevTools Protocol client over undici's WebSocket (already a dependency: no
// `ws` package), for the few commands the soak needs: forced GC, heap usage, and one evaluation.
import { setTimeout as sleep } from 'node:timers/promises';
import { closeSync, openSync, writeSync } from 'node:fs';
import { WebSocket } from 'undici';

export interface HeapReading {
  /** V8 heap in use after a forced full GC (Runtime.getHeapUsage usedSize), bytes. */
  heapUsed: number;
  heapTotal: number;
  /** process.memoryUsage() of the target after that GC: memory outside the V8 heap (Buffers). */
  external: number;
  arrayBuffers: number;
  /** process.getActiveResourcesInfo().length of the target. */
  handles: number;
  /**
   * Post-GC bytes in the V8 spaces that hold compiled code (code_space, code_large_object_space,
   * and the trusted spaces where newer V8 keeps bytecode): JIT warm-up, not request data.
   * 0 when the target has no process.getBuiltinModule (Node < 20.16).
   */
  codeBytes: number;
  /** Time the forced GC took, seen from here (ms). */
  gcMs: number;
}

export interface InspectorProbe {
  /** The pid of the inspected process (for /proc). */
  readonly pid: number;
  /** Forces a full GC in the target, then reads its heap. Call at a quiet point. */
  measure(): Promise<HeapReading>;
  /**
   * Takes a heap snapshot of the target and writes it to `file` chunk by chunk as the inspector
   * streams it (never the whole snapshot in memory); `onWrite` is called once each chunk is on
   * disk (a reader of the growing file waits for it). Resolves with the file's size in bytes.
   */
  takeHeapSnapshot(file: string, onWrite?: () => void): Promise<number>;
  /** Evaluates an expression in the target and returns its value (JSON-able values only). */
  evaluate(expression: string): Promise<unknown>;
  close(): Promise<void>;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

// Evaluated in the target after the GC. `process` is a global of every Node process; v8 is reached
// through process.getBuiltinModule because `require` is not in scope of an ES module's evaluation.
const TARGET_EXPRESSION = `(() => {
  const m = process.memoryUsage();
  let code = 0;
  const v8 = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('v8') : undefined;
  if (v8) for (const s of v8.getHeapSpaceStatistics()) if (/^code_|trusted/.test(s.space_name)) code += s.space_used_size;
  return [m.external, m.arrayBuffers, process.getActiveResourcesInfo().length, process.pid, code];
})()`;

/** How long a command other than a heap snapshot may wait for the target's reply. */
export const INSPECTOR_REPLY_TIMEOUT_MS = 60_000;

/**
 * Connects to a target's inspector WebSocket URL (ws://127.0.0.1:PORT/UUID). `timeoutMs` bounds
 * the connection; `replyTimeoutMs` every command's reply but a heap snapshot's (its time grows
 * with the heap), so a target that stops answering (stopped, wedged) ends the soak with an error
 * naming the command instead of hanging it.
 */
export async function connectInspector(
  url: string,
  timeoutMs = 10_000,
  replyTimeoutMs = INSPECTOR_REPLY_TIMEOUT_MS,
): Promise<InspectorProbe> {
  const ws = new WebSocket(url);
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let closed = false;
  // The one event subscribed to: snapshot chunks, while a snapshot is being taken.
  let onChunk: ((chunk: string) => void) | undefined;
  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data)) as {
      id?: number;
      method?: string;
      params?: { chunk?: string };
      result?: unknown;
      error?: { message: string };
    };
    if (msg.id === undefined) {
      if (msg.method === 'HeapProfiler.addHeapSnapshotChunk' && typeof msg.params?.chunk === 'string') onChunk?.(msg.params.chunk);
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`inspector: ${msg.error.message}`));
    else p.resolve(msg.result);
  });
  ws.addEventListener('close', () => {
    closed = true;
    failAll(new Error('inspector: the connection closed (did the target exit?)'));
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`inspector: no connection to ${url} within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.addEventListener('open', () => (clearTimeout(timer), resolve()), { once: true });
    ws.addEventListener('error', () => (clearTimeout(timer), reject(new Error(`inspector: cannot connect to ${url}`))), { once: true });
  });

  const send = <T>(method: string, params: Record<string, unknown> = {}, waitMs: number | undefined = replyTimeoutMs): Promise<T> => {
    if (closed) return Promise.reject(new Error('inspector: closed'));
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        waitMs === undefined
          ? undefined
          : setTimeout(() => {
              pending.delete(id);
              reject(new Error(`inspector: no reply to ${method} within ${waitMs} ms (is the target stopped or stuck?)`));
            }, waitMs);
      timer?.unref();
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ id, method, params }));
    });
  };
  const evaluate = async (expression: string): Promise<unknown> => {
    const r = await send<{
      result: { value?: unknown };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>('Runtime.evaluate', { expression, returnByValue: true, silent: true });
    if (r.exceptionDetails) {
      // text is only "Uncaught"; the description's first line names the error.
      const what = r.exceptionDetails.exception?.description?.split('\n')[0];
      throw new Error(`inspector: evaluation failed: ${what ?? r.exceptionDetails.text}`);
    }
    return r.result.value;
  };

  // A target connected to early may still be booting: an evaluation can run in the middle of Node's
  // bootstrap, where process.pid is not set yet and loading a built-in (v8) can throw. Wait for it.
  let pid: unknown;
  for (const bootBy = performance.now() + timeoutMs; ; await sleep(20)) {
    pid = await evaluate('process.pid');
    if (typeof pid === 'number') break;
    if (performance.now() > bootBy) {
      ws.close();
      throw new Error(`inspector: the target at ${url} did not finish booting within ${timeoutMs} ms (no process.pid)`);
    }
  }
  return {
    pid: pid as number,
    async measure() {
      const t0 = performance.now();
      await send('HeapProfiler.collectGarbage');
      const gcMs = performance.now() - t0;
      const usage = await send<{ usedSize: number; totalSize: number }>('Runtime.getHeapUsage');
      const [external, arrayBuffers, handles, , codeBytes] = (await evaluate(TARGET_EXPRESSION)) as number[];
      return {
        heapUsed: usage.usedSize,
        heapTotal: usage.totalSize,
        external: external!,
        arrayBuffers: arrayBuffers!,
        handles: handles!,
        codeBytes: codeBytes!,
        gcMs,
      };
    },
    evaluate,
    async takeHeapSnapshot(file, onWrite) {
      // Synchronous writes: each chunk is on disk before the next message is handled, so nothing
      // queues up in memory however fast the target streams.
      const fd = openSync(file, 'w', 0o600);
      let bytes = 0;
      let writeError: Error | undefined;
      onChunk = (chunk) => {
        if (writeError) return;
        try {
          bytes += writeSync(fd, chunk);
          onWrite?.();
        } catch (err) {
          writeError = err as Error;
        }
      };
      try {
        await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, undefined); // grows with the heap: no reply timeout
      } finally {
        onChunk = undefined;
        closeSync(fd);
      }
      if (writeError) throw new Error(`inspector: writing the heap snapshot to ${file} failed: ${writeError.message}`);
      return bytes;
    },
    async close() {
      if (closed) return;
      closed = true;
      failAll(new Error('inspector: closed'));
      await new Promise<void>((resolve) => {
        // A target that died mid-handshake never answers the close frame.
        const timer = setTimeout(resolve, 1000);
        ws.addEventListener('close', () => (clearTimeout(timer), resolve()), { once: true });
        ws.close();
      });
    },
  };
}

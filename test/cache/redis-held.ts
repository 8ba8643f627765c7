// Cache commands an ioredis client holds, measured at every moment one is added (not sampled, so a
// burst that is answered within a millisecond is still seen). Held means: written and unanswered,
// waiting in a connection's offline queue or the cluster's, or waiting in the cluster's retry timers
// (its delay queue). ioredis's own upkeep of a connection (ready check, slot map refresh, role
// switch) is not a cache command and is not counted: the cap is on what the cache asks. Test-only
// reach into ioredis's internals (5.x), checked to exist so that a rename fails here, not silently.
import assert from 'node:assert/strict';
import type { Cluster, Redis } from 'ioredis';

const UPKEEP = new Set(['info', 'cluster', 'select', 'client', 'auth', 'readonly', 'readwrite', 'ping', 'quit']);

type Item = { command: { name: string } };
type Queue = { toArray(): Item[] };
type Internals = {
  commandQueue?: Queue;
  offlineQueue?: Queue;
  delayQueue?: { queues: Record<string, { length: number } | null>; push: (...a: unknown[]) => void };
  sendCommand: (...a: unknown[]) => unknown;
};

const isCluster = (c: Redis | Cluster): c is Cluster => 'nodes' in c && typeof c.nodes === 'function';

function queued(r: unknown): number {
  const i = r as Internals;
  assert.ok(i.commandQueue && i.offlineQueue, 'ioredis keeps commandQueue and offlineQueue on each connection');
  const count = (q: Queue): number => q.toArray().filter((x) => !UPKEEP.has(x.command.name)).length;
  return count(i.commandQueue) + count(i.offlineQueue);
}

/** Cache commands the client holds now (see the top of this file). */
export function heldNow(c: Redis | Cluster): number {
  if (!isCluster(c)) return queued(c);
  const i = c as unknown as Internals;
  assert.ok(i.delayQueue, 'ioredis Cluster keeps its retries in delayQueue');
  // The cluster's retry timers hold closures over cache commands (upkeep does not retry there).
  const delayed = Object.values(i.delayQueue.queues).reduce((n, q) => n + (q?.length ?? 0), 0);
  return (i.offlineQueue?.toArray().length ?? 0) + delayed + c.nodes('all').reduce((n, r) => n + queued(r), 0);
}

export interface HeldWatch {
  /** The most cache commands held at once since the watch began. */
  readonly peak: number;
  /** Commands sent to a node after their promise had settled (their call had ended): none may be. */
  readonly lateSends: number;
  stop(): void;
}

/**
 * Measures heldNow() after every command a connection of `c` takes and every retry the cluster
 * delays, and counts commands sent again after their promise settled.
 */
export function watchHeld(c: Redis | Cluster): HeldWatch {
  let peak = heldNow(c);
  let lateSends = 0;
  const seen = new WeakSet<object>();
  const settled = new WeakSet<object>();
  const measure = (command: unknown): void => {
    const cmd = command as { promise?: Promise<unknown> } | undefined;
    if (cmd?.promise !== undefined) {
      if (settled.has(cmd)) lateSends++;
      else if (!seen.has(cmd)) {
        seen.add(cmd);
        const done = (): void => void settled.add(cmd);
        cmd.promise.then(done, done);
      }
    }
    peak = Math.max(peak, heldNow(c));
  };
  const wrapped: object[] = [];
  const wrap = (target: object, method: 'sendCommand' | 'push'): void => {
    const own = target as unknown as Record<string, (...a: unknown[]) => unknown>;
    const original = own[method]!;
    own[method] = function (this: unknown, ...a: unknown[]) {
      const r = original.apply(this, a);
      measure(method === 'sendCommand' ? a[0] : undefined);
      return r;
    };
    wrapped.push(target);
  };
  const onNode = (r: Redis): void => wrap(r as unknown as Internals, 'sendCommand');
  if (isCluster(c)) {
    for (const r of c.nodes('all')) onNode(r);
    c.on('+node', onNode);
    wrap((c as unknown as Internals).delayQueue!, 'push');
  } else {
    wrap(c as unknown as Internals, 'sendCommand');
  }
  return {
    get peak() {
      return peak;
    },
    get lateSends() {
      return lateSends;
    },
    stop() {
      if (isCluster(c)) c.off('+node', onNode);
      // The wrappers were own properties over the prototype's methods: deleting them restores those.
      for (const t of wrapped.splice(0)) {
        const own = t as unknown as Record<string, unknown>;
        delete own.sendCommand;
        delete own.push;
      }
    },
  };
}

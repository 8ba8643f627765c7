// The live feed: one newline-delimited JSON stream per viewer, at most `maxViewers` of them. One
// frame is built per tick while anyone watches (none otherwise) and offered to every viewer; a
// viewer whose connection is still full from earlier frames gets this one dropped, never queued,
// so a slow viewer costs at most one high-water mark of memory. A viewer that has accepted nothing
// for `stallTimeout` is disconnected, and every feed ends after `viewTimeout` (the page reconnects):
// a client whose kernel takes frames that it never reads (the send and receive buffers hold
// megabytes, hours of ~700-byte frames) never looks stalled here, and would keep its slot forever.
import type { ServerResponse } from 'node:http';
import { HeadroomError } from '../../errors.js';
import type { LiveBody } from './types.js';

/** Bytes a Web-stream viewer may have queued before frames are dropped (Node responses use their own writableHighWaterMark). */
const WEB_HIGH_WATER_MARK = 64 * 1024;

export interface LiveFeedOptions {
  maxViewers: number;
  /** Milliseconds between frames. */
  interval: number;
  stallTimeout: number;
  /** Milliseconds after which a feed ends, read or not. */
  viewTimeout: number;
  /** One frame, without the trailing newline. Called once per tick, only while someone watches. */
  frame: () => string;
  /**
   * Told when frame() throws (a source's stats() failing): once when a streak of failures starts,
   * not every tick. The frame is skipped; the viewers get the next one that builds.
   */
  onFrameError?: (err: unknown) => void;
}

export interface LiveFeedStats {
  viewers: number;
  /** Frames written to a viewer, and frames skipped because that viewer had not read the previous ones. */
  sent: number;
  dropped: number;
  /** Viewers disconnected after stallTimeout without reading. */
  stalled: number;
  /** Feeds ended after viewTimeout (a page reconnects at once). */
  expired: number;
  /** Frames skipped because building them threw (a frame source's stats() failing). */
  failed: number;
}

export interface LiveFeed {
  /** A new viewer's body; HEADROOM_DASHBOARD_FULL when maxViewers are watching. */
  open(): LiveBody;
  stats(): LiveFeedStats;
  /** Ends every viewer (shutting down); new ones are still refused only by close(). */
  endAll(): void;
  /** Ends every viewer, stops the timer and refuses new viewers. Idempotent. */
  close(): Promise<void>;
}

interface Viewer {
  /** Writes the chunk and returns true, or returns false when the viewer has not read the previous ones. Unset until attached. */
  offer?: (chunk: Uint8Array) => boolean;
  /** Ends the body: gracefully, or at once (stalled). */
  end?: (now: boolean) => void;
  /** performance.now() of the last frame the viewer accepted (or of opening). */
  lastAccepted: number;
  /** performance.now() of opening. */
  openedAt: number;
}

export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const viewers = new Set<Viewer>();
  const counts = { sent: 0, dropped: 0, stalled: 0, expired: 0, failed: 0 };
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // Built once without a stack: a flood of extra viewers costs no stack capture.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const fullError = new HeadroomError(
    'HEADROOM_DASHBOARD_FULL',
    `the dashboard already streams to ${options.maxViewers} viewers (DASHBOARD_MAX_VIEWERS)`,
    { headers: { 'retry-after': String(Math.ceil(options.stallTimeout / 1000)) } },
  );
  Error.stackTraceLimit = limit;
  const full = (): HeadroomError => fullError;

  const remove = (v: Viewer): void => {
    if (!viewers.delete(v)) return;
    v.offer = undefined;
    if (viewers.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  /** Ends the feed of a viewer that has watched for viewTimeout (the page reconnects); true when it did. */
  const expire = (v: Viewer, now: number): boolean => {
    if (now - v.openedAt < options.viewTimeout) return false;
    counts.expired++;
    remove(v);
    v.end?.(false);
    return true;
  };

  const deliver = (v: Viewer, chunk: Uint8Array, now: number): void => {
    if (expire(v, now)) return;
    if (v.offer?.(chunk)) {
      v.lastAccepted = now;
      counts.sent++;
      return;
    }
    counts.dropped++;
    if (now - v.lastAccepted >= options.stallTimeout) {
      counts.stalled++;
      remove(v);
      v.end?.(true);
    }
  };

  /** The frame, or undefined when building it threw: it runs on a timer, where a throw would end the process. */
  const encode = (): Uint8Array | undefined => {
    try {
      const chunk = Buffer.from(`${options.frame()}\n`);
      failing = false;
      return chunk;
    } catch (err) {
      counts.failed++;
      if (!failing) {
        failing = true;
        options.onFrameError?.(err);
      }
      return undefined;
    }
  };

  const tick = (): void => {
    const chunk = encode();
    const now = performance.now();
    // A skipped frame still ends the feeds that reached viewTimeout.
    for (const v of viewers) {
      if (chunk) deliver(v, chunk, now);
      else expire(v, now);
    }
  };

  // The first frame goes out at once, so the page shows numbers without waiting a tick.
  const attach = (v: Viewer): void => {
    if (!viewers.has(v)) return v.end?.(true);
    const chunk = encode();
    if (chunk) deliver(v, chunk, performance.now());
  };

  const open = (): LiveBody => {
    if (closed) throw new HeadroomError('HEADROOM_DRAINING', 'the dashboard is shutting down');
    if (viewers.size >= options.maxViewers) throw full();
    // Counted from here: a body nobody attaches gives its slot back after stallTimeout.
    const opened = performance.now();
    const v: Viewer = { lastAccepted: opened, openedAt: opened };
    viewers.add(v);
    if (!timer) {
      timer = setInterval(tick, options.interval);
      timer.unref();
    }
    return {
      pipe(res: ServerResponse) {
        v.offer = (chunk) => {
          if (res.writableNeedDrain || res.destroyed) return false;
          res.write(chunk);
          return true;
        };
        v.end = (now) => (now || res.writableNeedDrain ? res.destroy() : res.end());
        res.once('close', () => remove(v));
        attach(v);
      },
      web() {
        return new ReadableStream<Uint8Array>(
          {
            start(controller) {
              v.offer = (chunk) => {
                if ((controller.desiredSize ?? 0) <= 0) return false;
                controller.enqueue(chunk);
                return true;
              };
              v.end = (now) => {
                try {
                  if (now) controller.error(new Error('dashboard viewer stalled'));
                  else controller.close();
                } catch {
                  // already closed by the reader
                }
              };
              attach(v);
            },
            cancel: () => remove(v),
          },
          new ByteLengthQueuingStrategy({ highWaterMark: WEB_HIGH_WATER_MARK }),
        );
      },
      cancel: () => remove(v),
    };
  };

  const endAll = (): void => {
    for (const v of [...viewers]) {
      remove(v);
      v.end?.(false);
    }
  };

  return {
    open,
    stats: () => ({ viewers: viewers.size, ...counts }),
    endAll,
    close() {
      closed = true;
      endAll();
      return Promise.resolve();
    },
  };
}

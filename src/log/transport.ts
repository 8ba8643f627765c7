// The pino transport target (`pino.transport({ target: 'headroom-memory/log/transport', options })`):
// the worker thread ships with the same shipper, under the same cap. At its start, every
// `statsInterval` ms and once when it closes, the worker posts its stats to the main thread as the event
// 'headroom:log-stats' on the transport stream, which guardTransport() reads.
import type { Transform } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import build from 'pino-abstract-transport';
import { createLogShipper } from './shipper.js';
import { STATS_EVENT, type LogShipperOptions } from './types.js';

export interface LogTransportOptions extends LogShipperOptions {
  /** How often the worker posts its stats to the main thread (ms, default 1000). */
  statsInterval?: number;
}

interface PinoAdded {
  $context?: unknown;
  pinoWillSendConfig?: unknown;
}

export default function logTransport(options: LogTransportOptions): Transform {
  // (Transform, not ReturnType<typeof build>: the declaration file must not default-import a module.)
  // pino adds $context and pinoWillSendConfig to every target's options: not the shipper's.
  const { statsInterval = 1000, $context: _c, pinoWillSendConfig: _p, ...shipperOptions } = options as LogTransportOptions & PinoAdded;
  if (!Number.isInteger(statsInterval) || statsInterval < 10 || statsInterval > 60_000)
    throw new TypeError(`statsInterval: must be an integer number of ms between 10 and 60000, got ${String(statsInterval)}`);
  const shipper = createLogShipper(shipperOptions);
  let receivedBytes = 0; // tells the main thread how much is still between the threads
  // thread-stream turns { code: 'EVENT' } messages into events on the main-thread stream.
  const post = (): void => parentPort?.postMessage({ code: 'EVENT', name: STATS_EVENT, args: [{ ...shipper.stats(), receivedBytes }] });
  const timer = setInterval(post, statsInterval);
  timer.unref();
  post(); // at once: until a first report the guard knows neither maxBytes nor the format
  return build(
    async (source: AsyncIterable<string>) => {
      // parse: 'lines' hands over each line without its newline; the shipper takes pino's line.
      for await (const line of source) {
        receivedBytes += Buffer.byteLength(line) + 1;
        shipper.write(`${line}\n`);
      }
    },
    {
      parse: 'lines',
      close: async () => {
        clearInterval(timer);
        await shipper.close();
        post();
      },
    },
  );
}

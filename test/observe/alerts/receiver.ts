// A real webhook receiver on 127.0.0.1 that misbehaves on demand: slow, black-holed (reads the
// request, never answers), answering a status (503, 400), or refusing (stop(): the port is closed
// and connections reset; start() listens again on the same port).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { restartableServer } from '../../helpers/restartable-server.js';

export type ReceiverMode = { kind: 'ok' } | { kind: 'slow'; ms: number } | { kind: 'blackhole' } | { kind: 'status'; status: number };

export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body, as signed. */
  body: Buffer;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** What the receiver answered (or 0: never answered). */
  status: number;
  /** performance.now() when the request had arrived whole. */
  at: number;
}

export interface Receiver {
  url: string;
  port: number;
  mode: ReceiverMode;
  /** Answers for the next requests, before `mode` applies again (e.g. [503, 503] then ok; [429, { 'retry-after': '1' }] with headers). */
  script: (number | [number, Record<string, string>])[];
  /** Every request, answered or not, in arrival order. */
  requests: Received[];
  /** Requests answered 2xx: the notifications delivered. */
  delivered(): Received[];
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const open = new Set<Receiver>();

/** Closes every receiver still open (an after() hook: a failed test must not keep the run alive). */
export async function closeAllReceivers(): Promise<void> {
  await Promise.all([...open].map((r) => r.close()));
}

export async function startReceiver(mode: ReceiverMode = { kind: 'ok' }): Promise<Receiver> {
  const timers = new Set<NodeJS.Timeout>();
  const r: Receiver = {
    url: '',
    port: 0,
    mode,
    script: [],
    requests: [],
    delivered: () => r.requests.filter((q) => q.status >= 200 && q.status < 300),
    stop,
    start,
    close: async () => {
      open.delete(r);
      await stop();
    },
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const received: Received = { headers: req.headers, body, json: JSON.parse(body.toString('utf8')), status: 0, at: performance.now() };
      r.requests.push(received);
      const scripted = r.script.shift();
      const m = r.mode;
      if (scripted === undefined && m.kind === 'blackhole') return;
      const [status, headers] = Array.isArray(scripted) ? scripted : [scripted ?? (m.kind === 'status' ? m.status : 204), {}];
      const answer = (): void => {
        received.status = status;
        res.writeHead(status, headers).end();
      };
      if (scripted === undefined && m.kind === 'slow') {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, m.ms);
        timers.add(t);
      } else answer();
    });
  }

  const server = restartableServer(handle);

  async function start(): Promise<void> {
    await server.start();
    r.port = server.port;
    r.url = `http://127.0.0.1:${r.port}/hook`;
  }

  async function stop(): Promise<void> {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await server.stop();
  }

  await start();
  open.add(r);
  return r;
}

// Raw HTTP over a TCP socket, for what a well-behaved client library will not send: duplicate
// headers, broken framing, stalled uploads, clients that stop reading.
import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface RawReply {
  /** Everything the server sent, latin1. */
  text: string;
  /** Status code of the first response line, or 0 when nothing arrived. */
  status: number;
  /** True when the server closed or reset the connection. */
  closed: boolean;
}

/** Opens a connection to a http://host:port URL. */
export function openSocket(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends `data` and collects the reply until `done(text)` holds, the server closes the connection or
 * `timeoutMs` passes (then `closed` is false); the socket is destroyed afterwards.
 */
export async function rawRequest(
  url: string,
  data: string | Buffer,
  done: (text: string) => boolean = () => false,
  timeoutMs?: number,
): Promise<RawReply> {
  const s = await openSocket(url);
  return collect(s, data, done, timeoutMs);
}

export function collect(
  s: Socket,
  data: string | Buffer | undefined,
  done: (text: string) => boolean = () => false,
  timeoutMs?: number,
): Promise<RawReply> {
  return new Promise((resolve) => {
    let text = '';
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(false), timeoutMs);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      s.removeAllListeners('data');
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0, closed });
    };
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      if (done(text)) finish(false);
    });
    s.on('error', () => {});
    s.on('close', () => finish(true));
    if (data !== undefined) s.write(data);
  });
}

/** The JSON body of a raw reply with Content-Length. */
export function jsonBody(reply: RawReply): { error?: { code: string; message: string } } {
  const at = reply.text.indexOf('\r\n\r\n');
  return JSON.parse(reply.text.slice(at + 4)) as { error?: { code: string; message: string } };
}

/** True once a complete Content-Length-framed response has arrived. */
export function completeResponse(text: string): boolean {
  const at = text.indexOf('\r\n\r\n');
  if (at === -1) return false;
  const m = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, at));
  return m !== null && text.length - at - 4 >= Number(m[1]);
}

export const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/**
 * A client that sends `head` (with Expect: 100-continue) and then `body` only once the server
 * answers 100 Continue; the reply holds the 100 and the final response after it (or what came
 * within 5 s).
 */
export async function uploadOnContinue(url: string, head: string, body: string): Promise<RawReply> {
  const s = await openSocket(url);
  let sent = false;
  return collect(
    s,
    head,
    (text) => {
      if (!sent && text.startsWith(CONTINUE)) {
        sent = true;
        s.write(body);
      }
      return sent && completeResponse(text.slice(CONTINUE.length));
    },
    5_000,
  );
}

/**
 * Asks `server` for `path` and never reads the answer; resolves once the server has closed the
 * connection (within `withinMs`, else rejects). A paused socket does not see the close itself until
 * it reads, so the server's side is watched, then the client reads to the end.
 */
export async function stallReading(server: Server, url: string, path: string, withinMs = 10_000): Promise<void> {
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const s = await openSocket(url);
  s.on('error', () => {});
  s.pause();
  s.write(`GET ${path} HTTP/1.1\r\nHost: stalled.example\r\n\r\n`);
  const [serverSide] = await accepted;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      once(serverSide, 'close'),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`the server kept a client that does not read ${path} for ${withinMs} ms`)), withinMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  const closed = once(s, 'close');
  s.resume();
  await closed;
}

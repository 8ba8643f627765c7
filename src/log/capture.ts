// Capped request/response capture for Node HTTP servers (Express, Fastify, NestJS on either
// platform all hand us Node's IncomingMessage and ServerResponse). The bodies are tapped where they
// pass — the request's 'data' events, the response's write()/end() — so the client gets exactly
// what the app wrote, streams keep their backpressure (write()'s return value is passed through)
// and nothing beyond maxBytes a body is held. One record per request when its response closes;
// the bodies are released in a finally, whether the response finished, was aborted or destroyed,
// or the logger threw.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { BodyTap } from './capture-body.js';
import { resolveCaptureOptions } from './capture-options.js';
import type { BodyCaptureOptions, BodyCaptureStats, CaptureRecord, HeldChange } from './capture-types.js';

export interface BodyCapture {
  /**
   * Starts capturing one request; call it before anything reads the body or writes the response
   * (the adapters do it in their first hook). A second call for the same response does nothing.
   * `onHeld` (optional) is told of the bytes this request holds, for request accounting.
   */
  tap(req: IncomingMessage, res: ServerResponse, onHeld?: HeldChange): void;
  stats(): BodyCaptureStats;
  /** New requests pass untapped; those in flight are still logged and released. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const TAPPED = Symbol('headroom.capture');
const MAX_PATH = 2048;

const headerText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : Array.isArray(v) ? String(v[0]) : typeof v === 'number' ? String(v) : undefined;

const encoded = (v: string | undefined): boolean => v !== undefined && v.trim() !== '' && v.trim().toLowerCase() !== 'identity';

/** A header from writeHead's headers argument: an object, or a flat [name, value, …] array. */
function fromWriteHead(headers: unknown, name: string): string | undefined {
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) if (String(headers[i]).toLowerCase() === name) return headerText(headers[i + 1]);
    return undefined;
  }
  if (headers && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (k.toLowerCase() === name) return headerText(v);
  }
  return undefined;
}

function requestPath(req: IncomingMessage & { originalUrl?: string }): string {
  let url = req.originalUrl ?? req.url ?? '/';
  // An absolute-form target (GET http://user:pass@host/path): the path only, never its userinfo.
  if (url.charCodeAt(0) !== 47 /* / */) url = url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '') || '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  return path.length > MAX_PATH ? path.slice(0, MAX_PATH) : path;
}

export function createBodyCapture(options: BodyCaptureOptions): BodyCapture {
  const { maxBytes, textTypes, emit } = resolveCaptureOptions('createBodyCapture', options);
  let held = 0;
  let active = 0;
  let logged = 0;
  let failed = 0;
  let closed = false;

  function tap(req: IncomingMessage, res: ServerResponse, onHeld?: HeldChange): void {
    const marked = res as ServerResponse & { [TAPPED]?: true };
    if (closed || marked[TAPPED]) return;
    marked[TAPPED] = true;
    active++;
    const started = performance.now();
    const charge = (delta: number): void => {
      held += delta;
      onHeld?.(delta);
    };
    const request = new BodyTap(maxBytes, charge);
    const response = new BodyTap(maxBytes, charge);
    let released = false;
    request.type(headerText(req.headers['content-type']), encoded(headerText(req.headers['content-encoding'])), textTypes);

    // Request body: every consumer (on('data'), pipe, read(), async iteration) gets chunks through
    // a 'data' event, so this sees them without switching the stream to flowing mode itself.
    const reqEmit = req.emit;
    req.emit = function (this: IncomingMessage, event: string | symbol, ...args: unknown[]): boolean {
      // After req.setEncoding('base64') a chunk is the bytes as base64: counted and kept as the bytes.
      if (event === 'data' && !released) request.add(args[0], this.readableEncoding ?? undefined);
      return reqEmit.call(this, event, ...args);
    } as typeof req.emit;

    // Response body. Fastify passes its headers to writeHead rather than setHeader, so the type
    // is read from there too; it is decided at the first body byte, when the head is final.
    let headArg: unknown;
    const decide = (): void => {
      if (response.decided) return;
      const header = (name: string): string | undefined => headerText(res.getHeader(name)) ?? fromWriteHead(headArg, name);
      response.type(header('content-type'), encoded(header('content-encoding')), textTypes);
    };
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      const last = args[args.length - 1];
      if (typeof last === 'object' && last !== null) headArg = last;
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
    // HTTP/2's end(chunk) writes the chunk through this.write (HTTP/1's does not): what end() counted
    // is not counted again there.
    let ending = false;
    // An answer ended after the client left reaches no one, though Node then counts the response as
    // finished; and one whose head too was written then (Express's 400 for an upload cut short) had
    // no status that anyone saw.
    let endedDead = false;
    let headDead = false;
    const write = res.write;
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
      if (!released && !ending) {
        decide();
        response.add(chunk, rest[0]);
      }
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof res.write;
    const end = res.end;
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (!released && chunk !== undefined && chunk !== null && typeof chunk !== 'function') {
        decide();
        response.add(chunk, rest[0]);
      }
      if ((this.socket ?? req.socket)?.destroyed === true) {
        endedDead = true;
        headDead = !this.headersSent;
      }
      ending = true;
      try {
        return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
      } finally {
        ending = false;
      }
    } as typeof res.end;

    // 'close' comes once for every response: finished, aborted by the client, or destroyed.
    res.once('close', () => {
      try {
        decide();
        const record: CaptureRecord = {
          method: req.method ?? 'GET',
          path: requestPath(req),
          status: res.headersSent && !headDead ? res.statusCode : 0,
          ms: Math.round((performance.now() - started) * 100) / 100,
          aborted: !res.writableFinished || endedDead,
          request: request.result(),
          response: response.result(),
        };
        const message = `${record.method} ${record.path} ${record.status}${record.aborted ? ' aborted' : ''} ${record.ms}ms`;
        emit(record, message);
        logged++;
      } catch {
        failed++; // a logger that throws must not keep the bodies alive nor crash the response
      } finally {
        released = true;
        request.release();
        response.release();
        active--;
      }
    });
  }

  const close = (): Promise<void> => {
    closed = true;
    return Promise.resolve();
  };
  return {
    tap,
    stats: () => ({ held, active, logged, failed }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

export type { BodyCaptureOptions, BodyCaptureStats, CaptureRecord, CapturedBody, CaptureLogger } from './capture-types.js';
export { captureSpecs } from './capture-options.js';

// When a Next.js route's answer has been handed over, for the in-flight count. Most answers are
// complete when the handler returns (Response.json(), new Response(text or bytes)): their bytes are
// read at once, the count ends there, and they go out in a new Response, with no stream of ours
// pulling each chunk through. A body still being produced (a proxied download, an event stream) is
// wrapped so the count ends when it ends, fails or is cancelled (Next.js cancels it when the client
// goes away). A Web Response offers no cheaper way to know: any Response with a body builds a
// ReadableStream, and next/server's after() measured dearer still than the wrap.
import type { ReadableStreamReadResult } from 'node:stream/web';

/** Microtasks a read of an already complete body takes to settle (1–2 on Node.js 20), with room to spare. */
const READY_TICKS = 4;
/** Most bytes taken up front; past this the rest streams through the wrapper. */
const READY_LIMIT = 64 * 1024;

type Read = ReadableStreamReadResult<Uint8Array>;
const PENDING = Symbol('pending');

/** The read's result if it settles within READY_TICKS microtasks, else PENDING (a failed read too: the wrapper reports it). */
async function ifReady(read: Promise<Read>): Promise<Read | typeof PENDING> {
  const state: { result?: Read } = {};
  read.then(
    (r) => (state.result = r),
    () => undefined,
  );
  for (let i = 0; i < READY_TICKS && !state.result; i++) await undefined;
  return state.result ?? PENDING;
}

/**
 * `res` with `end` called once its body has been handed over: at once for no body or a body that
 * is complete now (up to READY_LIMIT bytes), else when the body stream ends, fails or is cancelled.
 */
export async function whenSent(res: Response, end: () => void): Promise<Response> {
  if (!res.body) {
    end();
    return res;
  }
  const init = { status: res.status, statusText: res.statusText, headers: res.headers };
  const reader = res.body.getReader();
  const taken: Uint8Array[] = [];
  let size = 0;
  let next: Promise<Read> | undefined = reader.read();
  while (next) {
    const r = await ifReady(next);
    if (r === PENDING) break;
    if (r.done) {
      end();
      return new Response(taken.length === 0 ? null : taken.length === 1 ? taken[0]! : Buffer.concat(taken, size), init);
    }
    taken.push(r.value);
    size += r.value.byteLength;
    next = size < READY_LIMIT ? reader.read() : undefined;
  }
  return new Response(rest(reader, taken, next, end), init);
}

/** The body from here on: the chunks already taken, the read under way, then the reader's; pulled one chunk at a time. */
function rest(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  taken: Uint8Array[],
  pending: Promise<Read> | undefined,
  end: () => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        const chunk = taken.shift();
        if (chunk) return c.enqueue(chunk);
        try {
          const read = pending ?? reader.read();
          pending = undefined;
          const { done, value } = await read;
          if (done) {
            end();
            c.close();
          } else c.enqueue(value);
        } catch (err) {
          end();
          c.error(err);
        }
      },
      cancel(reason) {
        end();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

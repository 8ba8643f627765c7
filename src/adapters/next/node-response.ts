// The Node.js ServerResponse behind a Next.js route handler's Web Request, so that the in-flight
// count can end on the response's 'close' event (written to the end or aborted) instead of a
// stream wrapped around the handler's body, which costs a request more than the rest of the
// adapter together. Next.js hands route handlers no way to it, so the HTTP server's
// `http.server.request.start` diagnostics channel, published synchronously just before the
// server's 'request' event, puts it in an AsyncLocalStorage that everything Next.js does for that
// request inherits. Requests that did not come through a Node.js HTTP server in this process
// (started before the subscription, `next build` prerendering, tests calling a handler directly)
// find nothing here and are tracked by their body (body.ts).
// The store is a holder that the first reader empties: every async resource created while Next.js
// handles the request inherits it and may outlive the request, and none of them should keep the
// response (and the request, body and buffers it reaches) alive after it.
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';

const CHANNEL = 'http.server.request.start';

interface Holder {
  res: ServerResponse | undefined;
}

interface Hook {
  storage: AsyncLocalStorage<Holder>;
  onStart: (message: unknown) => void;
  /** Headrooms (route bundles' copies, a Headroom closed and made again) that asked for the hook. */
  users: number;
}

// One per process (on a globalThis symbol like the Headroom itself): every copy of this module
// reads the same storage, whichever copy subscribed.
const HOOK = Symbol.for('headroom-memory.next.node-response');
type Global = typeof globalThis & { [HOOK]?: Hook };

function hook(): Hook {
  const g = globalThis as Global;
  if (g[HOOK]) return g[HOOK];
  const storage = new AsyncLocalStorage<Holder>();
  const onStart = (message: unknown): void => storage.enterWith({ res: (message as { response: ServerResponse }).response });
  return (g[HOOK] = { storage, onStart, users: 0 });
}

/** Starts putting each HTTP request's response where takeNodeResponse() finds it; returns the idempotent undo. */
export function watchResponses(): () => void {
  const h = hook();
  if (h.users++ === 0) subscribe(CHANNEL, h.onStart);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--h.users === 0) unsubscribe(CHANNEL, h.onStart);
  };
}

/**
 * The Node.js response of the HTTP request being handled, if it came through a watched server and
 * nobody took it yet: the first call takes it, later ones in the same request get undefined.
 */
export function takeNodeResponse(): ServerResponse | undefined {
  const h = (globalThis as Global)[HOOK];
  // Unsubscribed, a connection's store may still hold an earlier request's response.
  if (!h || h.users === 0) return undefined;
  const holder = h.storage.getStore();
  if (!holder) return undefined;
  const res = holder.res;
  holder.res = undefined;
  return res;
}

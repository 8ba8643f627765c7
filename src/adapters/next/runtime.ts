// Which runtime a Next.js handler runs on, and the Edge fallback. No Node-only imports here: the
// Edge entry (edge.ts) and the next/image loader are built from this file too.

/** True on Next.js's Node.js runtime (or plain Node); false on the Edge runtime. */
export function isNodeRuntime(): boolean {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined>; versions?: { node?: string } } }).process;
  if (p?.env?.NEXT_RUNTIME === 'edge') return false;
  return typeof p?.versions?.node === 'string';
}

/** A Next.js route handler (the second argument, the route context, is not used). */
export type RouteHandler = (request: Request, context?: unknown) => Promise<Response>;

/**
 * What each route factory returns: its handlers under their methods' names, to export as they are
 * (`export const { GET, HEAD } = createHealthRoute()`), and itself a handler of the same requests, so
 * that `export const GET = createHealthRoute()` works too.
 */
export type RouteHandlers<M extends string> = RouteHandler & Record<M, RouteHandler>;

/** `handler` under each of `methods`, and callable itself (index.ts's factories, and edge.ts's refusals). */
export function routeHandlers<M extends string>(handler: RouteHandler, methods: readonly M[]): RouteHandlers<M> {
  const route: RouteHandler = (request, context) => handler(request, context);
  return Object.assign(route, Object.fromEntries(methods.map((m) => [m, handler])) as Record<M, RouteHandler>);
}

const WARNED = Symbol.for('headroom-memory.next.edge-warned');

/** Warns once per process (or isolate) that headroom does nothing on the Edge runtime. */
export function warnEdgeOnce(): void {
  const g = globalThis as { [WARNED]?: boolean };
  if (g[WARNED]) return;
  g[WARNED] = true;
  console.warn(
    "headroom-memory/next: this route runs on the Edge runtime, where headroom does nothing (no memory monitor, proxy or image service). Add `export const runtime = 'nodejs'` to the route file.",
  );
}

/** What every headroom route answers on the Edge runtime: 501 with the fix. */
export function edgeResponse(): Response {
  warnEdgeOnce();
  return new Response(
    JSON.stringify({
      error: {
        code: 'HEADROOM_EDGE_RUNTIME',
        message: "headroom needs the Node.js runtime: add `export const runtime = 'nodejs'` to this route file",
      },
    }),
    { status: 501, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } },
  );
}

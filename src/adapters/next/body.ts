// When a Next.js route's answer has been handed over, for the in-flight count of a request that is
// not counted on its Node.js response (server-requests.ts: a direct call, a request that started
// before the Headroom existed): the body is wrapped in a stream that ends the count when it is read
// to the end, fails or is cancelled (Next.js cancels it when the client goes away). The wrap costs a
// request about 30 µs of CPU on Node.js 20 (a second ReadableStream and Response), which is why it
// is only the fallback; nothing cheaper tells when a Web Response has been sent, measured: reading a
// body that is already complete and passing its bytes on in a new Response costs the same (any
// Response with a body builds a ReadableStream), and next/server's after() costs more (it snapshots
// every AsyncLocalStorage and queues the task).

/** `res` with `end` called once its body has been read to the end, failed or been cancelled (at once without a body). */
export function whenSent(res: Response, end: () => void): Response {
  // Not a Response (a handler that returned nothing): counted no longer, and handed to Next.js as it
  // is, which says what is wrong with it.
  if (!(res instanceof Response) || !res.body) {
    end();
    return res;
  }
  const reader = res.body.getReader();
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        try {
          const { done, value } = await reader.read();
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
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

// The one place that speaks undici's dispatch-handler API (the controller-based one; the legacy
// onConnect/onHeaders/onData callbacks are gone in undici 8). A subclass implements five hooks and
// never sees a controller. What this costs on the hot path, and why it is done this way:
// - undici (7 through its UnwrapHandler, 8 in its core) parses the response headers into an object
//   for every response whatever the handler wants, so the hook gets that object (names already
//   lower-cased, common ones interned) rather than a second conversion of the raw Buffers;
// - backpressure is controller.pause()/resume(), driven by the hooks' boolean results;
// - undici 7's wrapper does not pass onBodySent on, so request-body bytes are counted from the
//   request stream itself (and onBodySent is deliberately not implemented: undici 8 would call it
//   too and count twice).
// - a 204 or 304 that declares a Content-Length is complete at its head (RFC 9110 §8.6: a 304 may
//   give the length of the body it stands for); undici checks the length on every response but HEAD
//   and fails these after their head, so that failure is read here as their end.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export abstract class UpstreamHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private pendingAbort: Error | undefined;
  private upload: Readable | null = null;
  /** A 204 or 304 head arrived and no body byte since: it is complete whatever undici says next. */
  private bodiless = false;

  /** Response head (final status only; 1xx are skipped). false pauses the upstream. */
  protected abstract head(status: number, headers: IncomingHttpHeaders, statusText: string): boolean;
  /** A body chunk. false pauses the upstream until resumeUpstream(). */
  protected abstract body(chunk: Buffer): boolean;
  protected abstract end(): void;
  /** The request failed (upstream fault, timeout, or our own abort). Called at most once. */
  protected abstract fail(err: Error): void;
  /** Request-body bytes handed to undici. */
  protected abstract uploaded(bytes: number): void;

  /** Sends the request; every outcome arrives through the hooks. */
  send(
    dispatcher: { dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): unknown },
    options: Dispatcher.DispatchOptions,
  ): void {
    this.upload = options.body && typeof (options.body as Readable).on === 'function' ? (options.body as Readable) : null;
    dispatcher.dispatch(options, this);
  }

  /** Aborts the upstream request now, or as soon as undici starts it. */
  protected abortUpstream(err: Error): void {
    if (this.controller) this.controller.abort(err);
    else this.pendingAbort = err;
  }

  protected resumeUpstream(): void {
    this.controller?.resume();
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.pendingAbort) return controller.abort(this.pendingAbort);
    this.controller = controller;
    const upload = this.upload;
    if (upload) {
      this.upload = null; // once, even if undici were to start the request again
      // undici starts reading the body right after this call, in the same tick.
      upload.on('data', (chunk: Buffer) => this.uploaded(chunk.length));
    }
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusText?: string): void {
    if (status < 200) return; // 1xx: the final response follows
    this.bodiless = status === 204 || status === 304;
    if (!this.head(status, headers, statusText ?? '')) controller.pause();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.bodiless = false;
    if (!this.body(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    if (this.bodiless && !this.pendingAbort && (err as { code?: unknown }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      this.bodiless = false;
      return this.end();
    }
    // An abort asked for before undici started the request is why it failed, whatever undici says
    // (a queued request is failed by the pool's destroy, which names itself).
    this.fail(this.pendingAbort ?? err);
  }
}

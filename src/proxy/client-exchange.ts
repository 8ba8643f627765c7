// What the Node exchange (exchange.ts) and the Web-stream exchange (web.ts) share above undici's
// handler: being done, aborting the upstream side, shedding, and the sweep's look (CLIENT_TIMEOUT,
// CLIENT_READ_TIMEOUT) at whether the client is the side that stalls. Each says what client progress means for it. Both charge
// the bytes they hold for the request to its ledger (request accounting) when it has one.
import type { Sheddable } from '../admission/index.js';
import type { RequestLedger } from '../log/accounting.js';
import { ProxyAbort } from './faults.js';
import { UpstreamHandler } from './upstream-handler.js';

/** Sweep looks without progress after which a client loses its slot: sending its body, taking the response. */
export interface ClientLooks {
  upload: number;
  download: number;
  /**
   * Looks between two samples of the upload rate's window (four intervals span one CLIENT_TIMEOUT):
   * with a much shorter CLIENT_READ_TIMEOUT the sweep looks often, and a sample per look would
   * keep thousands per upload.
   */
  uploadStride: number;
}

/** Intervals of the upload window: four of uploadStride looks each, one CLIENT_TIMEOUT. */
const UPLOAD_INTERVALS = 4;

export abstract class ClientExchange extends UpstreamHandler implements Sheddable {
  done = false;
  bytes = 0;
  private seen = -1;
  private idleChecks = 0;
  /** Upload bytes at every uploadStride-th look while the upload was awaited (for the minimum rate). */
  private uploadLooks: number[] | undefined;
  private sinceSample = 0;
  /** Bytes charged to `ledger` now. */
  private charged = 0;

  /**
   * The request's ledger, taken where the request entered the proxy (undici's callbacks do not
   * run in the request's async context). Undefined without request accounting: every charge site
   * checks it first, so accounting that is off costs one field read per chunk.
   */
  constructor(protected readonly ledger: RequestLedger | undefined) {
    super();
  }

  /** Makes the ledger hold `bytes` for this exchange now (only with a ledger). */
  protected holding(bytes: number): void {
    const d = bytes - this.charged;
    if (d === 0) return;
    this.charged = bytes;
    this.ledger!.charge(d);
  }

  /** Gives back everything charged (the exchange ended). */
  protected releaseHeld(): void {
    if (this.ledger !== undefined) this.holding(0);
  }

  /**
   * A number that changes whenever the client makes progress while the exchange waits on it
   * (upload bytes, drains or pulls of a full download), or undefined when nothing waits on the
   * client (waiting for the upstream is not the client's fault).
   */
  protected abstract clientProgress(): number | undefined;

  /** True when the client is gone without the usual signal having said so (see the Node exchange). */
  protected clientGone(): boolean {
    return false;
  }

  /**
   * One look of the sweep: counts consecutive looks in which the client was the side that stalled
   * and made no progress, and ends the exchange at `looks.upload` (sending the body) or
   * `looks.download` (taking the response). An upload (progress counts its bytes) is also ended
   * when the last CLIENT_TIMEOUT of looks in a row brought fewer than `minUploadBytes`: any byte is
   * progress, and a byte now and then would hold the slot for ever (`slow` says why).
   */
  checkClient(looks: ClientLooks, minUploadBytes = 0, slow?: () => Error): void {
    if (this.clientGone()) return this.abort(new ProxyAbort('clientAbort'));
    const progress = this.clientProgress();
    if (progress === undefined) {
      this.idleChecks = 0;
      this.seen = -1;
      this.uploadLooks = undefined;
      this.sinceSample = 0;
      return;
    }
    this.idleChecks = progress === this.seen ? this.idleChecks + 1 : 0;
    this.seen = progress;
    // Download progress is negative (-2 - drains), upload progress the bytes sent.
    if (this.idleChecks >= (progress < 0 ? looks.download : looks.upload)) return this.abort(new ProxyAbort('clientTimeout'));
    if (minUploadBytes <= 0 || progress < 0) {
      this.uploadLooks = undefined;
      this.sinceSample = 0;
      return;
    }
    const window = (this.uploadLooks ??= []);
    if (window.length > 0 && ++this.sinceSample < looks.uploadStride) return;
    this.sinceSample = 0;
    window.push(progress);
    if (window.length > UPLOAD_INTERVALS + 1) window.shift();
    if (window.length === UPLOAD_INTERVALS + 1 && progress - window[0]! < minUploadBytes)
      this.abort(slow?.() ?? new ProxyAbort('clientTimeout'));
  }

  /** Aborts the upstream side (client gone, shed); undici then reports the failure to fail(). */
  abort(err: Error): void {
    if (!this.done) this.abortUpstream(err);
  }

  shed(): void {
    this.abort(new ProxyAbort('shed'));
  }
}

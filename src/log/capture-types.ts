// Types of the capped body capture (src/log/capture.ts).

/** A pino-compatible logger: capture lines go to `info(record, message)`. */
export interface CaptureLogger {
  info(obj: object, msg?: string): unknown;
}

/** One body as logged. */
export interface CapturedBody {
  /** The Content-Type, parameters included, when there was one. */
  contentType?: string;
  /** Every byte of the body that passed (the true size), kept or not. */
  bytes: number;
  /** The first maxBytes as text; absent for binary, compressed or untyped bodies and for empty ones. */
  body?: string;
  /** More bytes passed than were kept. */
  truncated: boolean;
  /** Not captured because of its type or Content-Encoding; only its size is recorded. */
  binary: boolean;
}

export interface CaptureRecord {
  method: string;
  /** The request path, without the query string (values there may be secrets), cut at 2048 characters. */
  path: string;
  status: number;
  /** From the tap to the close of the response, milliseconds. */
  ms: number;
  /** The response did not complete: the client left, or the stream was destroyed. */
  aborted: boolean;
  request: CapturedBody;
  response: CapturedBody;
}

export interface BodyCaptureOptions {
  /** Most bytes kept per body (number, or text such as '8KiB'); default 8 KiB, at most 1 MiB. */
  maxBytes?: number | string;
  /** More media types to capture as text, besides text/*, JSON, XML, form and JavaScript types. */
  textTypes?: string[];
  /** Each request is logged with `logger.info(record, message)`. Exactly one of logger and onCapture. */
  logger?: CaptureLogger;
  /** Called once per request with the record and a one-line message. */
  onCapture?: (record: CaptureRecord, message: string) => void;
}

export interface BodyCaptureStats {
  /** Bytes of captured bodies held right now, across requests in flight. */
  held: number;
  /** Requests tapped and not yet closed. */
  active: number;
  /** Records emitted. */
  logged: number;
  /** Records whose logger or callback threw (the capture was released all the same). */
  failed: number;
}

/** Passed to `onHeld` when a request's held bytes change (+ when kept, - when released). */
export type HeldChange = (delta: number) => void;

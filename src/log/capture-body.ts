// One body as the capture sees it: counts every byte that passes and keeps at most `max` of them,
// and only for text types. A binary body is never decoded (only its length is read), so an image
// or an octet-stream costs a counter, not a string.
import { TextDecoder } from 'node:util';
import type { CapturedBody } from './capture-types.js';

/** Longest Content-Type kept in a capture record. */
const MAX_CONTENT_TYPE = 256;

const TEXT =
  /^(?:text\/.+|application\/(?:json|xml|javascript|ecmascript|x-javascript|x-www-form-urlencoded|x-ndjson|graphql)|[a-z0-9!#$&^_.-]+\/[a-z0-9!#$&^_.-]+\+(?:json|xml))$/;

/** Whether a Content-Type names text the capture may keep (`extra`: more media types, lowercase). */
export function isTextType(contentType: string | undefined, extra: ReadonlySet<string>): boolean {
  if (!contentType) return false;
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return TEXT.test(media) || extra.has(media);
}

function charsetOf(contentType: string | undefined): string {
  const m = contentType && /;\s*charset\s*=\s*"?([\w.:-]+)"?/i.exec(contentType);
  return m ? m[1]!.toLowerCase() : 'utf-8';
}

/** Characters of a string chunk enough to make `room` bytes in its encoding (never fewer). */
function charsFor(room: number, encoding: BufferEncoding): number {
  if (encoding === 'hex') return room * 2;
  if (encoding === 'base64' || encoding === 'base64url') return Math.ceil(room / 3) * 4;
  return room; // utf8, latin1, ascii: at least one byte a character; utf16le: two
}

export class BodyTap {
  /** Bytes seen: the true size. */
  bytes = 0;
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private text: boolean | undefined;
  private contentType: string | undefined;

  /** `charge(n)` is told of every byte kept (and of their release, negated). */
  constructor(
    private readonly max: number,
    private readonly charge: (delta: number) => void,
  ) {}

  /**
   * Decides once, before the first chunk, whether the body is captured. `encoded`: a
   * Content-Encoding other than identity (compressed bytes are binary whatever the type).
   */
  type(contentType: string | undefined, encoded: boolean, extra: ReadonlySet<string>): void {
    if (this.text !== undefined) return;
    // A header of any length was accepted: the record keeps a bounded one, as it does the path.
    this.contentType =
      contentType !== undefined && contentType.length > MAX_CONTENT_TYPE ? contentType.slice(0, MAX_CONTENT_TYPE) : contentType;
    this.text = !encoded && isTextType(contentType, extra);
  }

  get decided(): boolean {
    return this.text !== undefined;
  }

  add(chunk: unknown, encoding?: unknown): void {
    if (typeof chunk === 'string') {
      const enc = typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8';
      this.bytes += Buffer.byteLength(chunk, enc);
      const room = this.max - this.keptBytes;
      // Only a prefix of the string is encoded: a 100 MB string costs at most a few times `room`.
      if (this.text && room > 0) this.keep(Buffer.from(chunk.length > room ? chunk.slice(0, charsFor(room, enc)) : chunk, enc), room);
    } else if (chunk instanceof Uint8Array) {
      this.bytes += chunk.byteLength;
      const room = this.max - this.keptBytes;
      if (this.text && room > 0) this.keep(chunk, room);
    }
  }

  private keep(bytes: Uint8Array, room: number): void {
    const n = Math.min(room, bytes.byteLength);
    if (n === 0) return;
    // A copy: the writer may reuse its buffer once write() returns.
    const copy = Buffer.allocUnsafeSlow(n);
    copy.set(bytes.subarray(0, n));
    this.kept.push(copy);
    this.keptBytes += n;
    this.charge(n);
  }

  /** What is logged. Decoding happens here, once, of at most `max` bytes. */
  result(): CapturedBody {
    const truncated = this.bytes > this.keptBytes;
    const out: CapturedBody = { bytes: this.bytes, truncated, binary: this.text === false && this.bytes > 0 };
    if (this.contentType !== undefined) out.contentType = this.contentType;
    if (this.text && this.keptBytes > 0) {
      const all = this.kept.length === 1 ? this.kept[0]! : Buffer.concat(this.kept, this.keptBytes);
      let decoder: TextDecoder;
      try {
        decoder = new TextDecoder(charsetOf(this.contentType));
      } catch {
        decoder = new TextDecoder('utf-8'); // an unknown charset label
      }
      // stream: true leaves out a character the cut split in two rather than logging U+FFFD.
      out.body = decoder.decode(all, { stream: truncated });
    }
    return out;
  }

  /** Drops what was kept and gives its bytes back. Idempotent. */
  release(): void {
    if (this.keptBytes > 0) this.charge(-this.keptBytes);
    this.kept = [];
    this.keptBytes = 0;
  }
}

// A body larger than every buffer between a server and a client that does not read (the kernel's
// on both sides, Node's, a framework's): a pass-through to such a client has to wait for it.
import type { ServerResponse } from 'node:http';

/** Zero bytes sent after the head. */
export const PADDING = 32 * 1024 * 1024;

/** Answers 200 with `head` then PADDING zero bytes (Content-Length their sum), written as the client drains. */
export function sendPadded(res: ServerResponse, head: Buffer, contentType: string): void {
  res.writeHead(200, { 'content-type': contentType, 'content-length': head.length + PADDING });
  res.write(head);
  const zeros = Buffer.alloc(64 * 1024);
  let left = PADDING;
  const pump = (): void => {
    while (left > 0 && !res.destroyed) {
      left -= zeros.length;
      if (!res.write(zeros)) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
}

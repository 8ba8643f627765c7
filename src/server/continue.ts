// Expect: 100-continue. Unless a server listens for 'checkContinue', Node answers "100 Continue"
// the moment such a request's headers arrive, before the gateway has decided anything: a client
// about to be shed, refused for its Host, over its per-client limit or without the admin token is
// told to send its body anyway. Here the 100 goes out when the body is first read (the proxy
// starts streaming it upstream). A request answered without reading its body gets only its final
// status, and Node closes the connection after it (a client that was told nothing may still send
// the body, which must not be read as the next request).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Sends 100 Continue on the server's requests only once their body is read; returns the undo. */
export function continueOnRead(server: Server): () => void {
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // Every way of reading a Node stream (pipe, 'data', read(), async iteration) calls _read; an
    // IncomingMessage calls it only for a reader, never on its own as bytes arrive.
    const read = req._read;
    req._read = function (size) {
      req._read = read;
      // After the final status's headers a 100 would be read as part of that response.
      if (!res.headersSent) res.writeContinue();
      read.call(this, size);
    };
    server.emit('request', req, res);
  };
  server.on('checkContinue', listener);
  return () => {
    server.off('checkContinue', listener);
  };
}

// An undici Agent that can only connect to public addresses: every address DNS returns is
// checked before connecting (so a name that resolves to 127.0.0.1 or 169.254.169.254 fails), and
// the address of the connected socket is checked again (IP literals skip lookup; this also
// closes any gap between resolution and connection, i.e. DNS rebinding).
// Named imports only: a default import of a built-in would reach the .d.ts and fail to compile for
// users without esModuleInterop (TS1192).
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';
import type { Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { HeadroomError } from '../errors.js';
import { isBlockedAddress } from './address.js';

export type LookupFunction = (
  hostname: string,
  options: LookupAllOptions,
  callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

// The address stays out of the client's message: it would map internal names (and a redirect
// target the client never named) to private addresses. onRefused hands it to the server's log.
const forbidden = (): HeadroomError =>
  new HeadroomError(
    'HEADROOM_IMAGE_ORIGIN_FORBIDDEN',
    'image origin resolves to a private, loopback or otherwise reserved address, refused unless IMAGE_ALLOW_PRIVATE_ORIGINS lists the origin',
  );

export interface AgentOptions {
  guard: boolean;
  lookup?: LookupFunction;
  connectTimeout: number;
  bodyTimeout: number;
  headersTimeout: number;
  /** Told the host and the address of each connection refused for its address (for the log). */
  onRefused?: (host: string, address: string) => void;
}

export function createImageAgent(options: AgentOptions): Agent {
  const resolve: LookupFunction = options.lookup ?? ((host, opts, cb) => dnsLookup(host, opts, cb));
  const lookup = (hostname: string, opts: LookupOptions, cb: (...args: unknown[]) => void): void => {
    resolve(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err);
      if (!addresses?.length) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }));
      if (options.guard) {
        const bad = addresses.find((a) => isBlockedAddress(a.address));
        if (bad) {
          options.onRefused?.(hostname, bad.address);
          return cb(forbidden());
        }
      }
      if (opts.all) cb(null, addresses);
      else cb(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
  const base = buildConnector({ lookup, timeout: options.connectTimeout } as buildConnector.BuildOptions);
  const connect: buildConnector.connector = (opts, callback) =>
    base(opts, (err, socket) => {
      if (err) return callback(err, null);
      const address = (socket as Socket).remoteAddress;
      if (options.guard && (!address || isBlockedAddress(address))) {
        socket!.destroy();
        options.onRefused?.(opts.hostname, address ?? 'unknown');
        return callback(forbidden(), null);
      }
      callback(null, socket!);
    });
  return new Agent({ connect, bodyTimeout: options.bodyTimeout, headersTimeout: options.headersTimeout });
}

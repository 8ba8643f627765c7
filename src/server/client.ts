// The client address of a request the gateway routes before Fastify (the raw proxy path), worked
// out under TRUST_PROXY as Fastify does for its own routes' request.ip.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { TrustProxy } from '../config/options.js';
import { clientAddress, trustedClient } from '../toolkit/node-middleware.js';

export function clientOfTrust(trust: TrustProxy): (req: IncomingMessage) => string {
  if (trust === false) return clientAddress;
  if (typeof trust === 'number') return (req) => trustedClient(req, (_address, hop) => hop < trust);
  const proxies = new BlockList();
  for (const entry of trust) {
    const [address = '', bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) proxies.addAddress(address, family);
    else proxies.addSubnet(address, Number(bits), family);
  }
  const trusted = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && proxies.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
  return (req) => trustedClient(req, trusted);
}

// Which IP addresses an image fetch may connect to. The list follows the IANA special-purpose
// registries: anything that is not globally routable unicast is refused, including 0.0.0.0 (which
// Linux connects to localhost), IPv4-mapped/NAT64/6to4 IPv6 forms that can embed a private IPv4,
// CGNAT and multicast.
import { BlockList, isIP } from 'node:net';

// Separate lists: a BlockList checks IPv4 addresses against IPv6 rules in their ::ffff: form.
const v4 = new BlockList();
const v6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  v4.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['::ffff:0:0', 96],
  ['::', 96],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  v6.addSubnet(net, prefix, 'ipv6');

/** True when the address must not be fetched from (or is not an IP address at all). */
export function isBlockedAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 0) return true;
  return family === 4 ? v4.check(bare, 'ipv4') : v6.check(bare, 'ipv6');
}

// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first
// '{' and the next '}', when not empty) or of the whole key, modulo 16384 — as Redis computes it
// (cluster.c keyHashSlot). Written here because ioredis computes it with a package of its own that
// it does not export; the store needs it only for stats (which master holds the cache).

function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(hashed, 'utf8')) % 16384;
}

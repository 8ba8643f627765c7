// A coarse clock for TTL checks on the hit path. Date.now() costs ~100 ns on some VMs (no vDSO
// clock source), more than the whole Map lookup; like lru-cache's ttlResolution, the time is read
// once and reused for 1 ms. The invalidating timer is unref'd and ends by itself within 1 ms, so it
// never keeps the process alive and is not a handle left behind by close().
const RESOLUTION_MS = 1;
let cached = 0;
const expire = (): void => {
  cached = 0;
};

export function now(): number {
  if (cached !== 0) return cached;
  cached = Date.now();
  setTimeout(expire, RESOLUTION_MS).unref();
  return cached;
}

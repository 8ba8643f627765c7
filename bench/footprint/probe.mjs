// Preloaded (--import) into every process bench/footprint measures, the gateway and its peer
// alike: answers the parent's IPC messages with the process's own heap figures, optionally after a
// full GC (the children run with --expose-gc). Nothing else: it loads no module of its own.
process.on('message', (msg) => {
  if (msg === 'gc' && typeof globalThis.gc === 'function') globalThis.gc();
  if (msg === 'heap' || msg === 'gc') process.send?.({ kind: msg, ...process.memoryUsage() });
});

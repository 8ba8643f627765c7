// What a heap snapshot costs the process that takes it, outside its heap: V8 builds the snapshot's
// graph (an entry per object, an edge per reference, an id per address) in native memory before
// it writes a byte, and that graph grows with the number of objects, not their bytes. Peak RSS
// above the process's own, measured on Node 20 (v8.writeHeapSnapshot, heaps of 20–200 MiB):
//   a few large arrays 0.3× the heap · the idle gateway ~5× · objects holding strings (the usual
//   leak: request records, cache entries) 10.7–12.4× · tiny objects without strings 24–30×.
// Guards size for the usual leak; a heap of tiny objects can still need more than this.

/** Native memory a heap snapshot needs, as a multiple of the heap used. */
export const SNAPSHOT_MEMORY_FACTOR = 12;

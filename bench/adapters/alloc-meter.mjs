// bench/adapters: loaded into every bench app (node --import, on both sides alike). Between the
// bench's IPC messages 'alloc-start' and 'alloc-stop' it counts the bytes the app allocates on V8's
// heap, from each GC's heap before and after (v8.GCProfiler), and answers { allocated, gcs }. More
// bytes per request means more scavenges, and on an app whose p99 is its scavenge pauses (Next.js)
// a higher p99: this resolves per-request allocation to a few hundred bytes where p99 resolves
// hundreds of µs. Nothing runs in the app until the first message; the GC callbacks only between the two.
// 'live' (the round's last message, after every measurement): a full GC, then { live } — the bytes
// still in use on V8's heap. What an app holds that the bare one does not (finished requests kept
// alive, say) shows here, where committed heap and RSS mostly show V8 sizing its heap.

import v8 from 'node:v8';
import vm from 'node:vm';

let profiler;
let usedAtStart = 0;
process.on('message', (message) => {
  if (message === 'alloc-start') {
    profiler?.stop();
    profiler = new v8.GCProfiler();
    usedAtStart = v8.getHeapStatistics().used_heap_size;
    profiler.start();
    process.send('alloc-started');
  } else if (message === 'alloc-stop' && profiler) {
    const usedAtEnd = v8.getHeapStatistics().used_heap_size;
    const { statistics } = profiler.stop();
    profiler = undefined;
    // What was allocated between GCs: the heap's growth from after one GC to before the next.
    let allocated = 0;
    let after = usedAtStart;
    for (const gc of statistics) {
      allocated += gc.beforeGC.heapStatistics.usedHeapSize - after;
      after = gc.afterGC.heapStatistics.usedHeapSize;
    }
    allocated += usedAtEnd - after;
    process.send({ allocated, gcs: statistics.length });
  } else if (message === 'live') {
    // The app runs without --expose-gc (both sides alike): the flag is set only now, at the end.
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc');
    gc();
    gc(); // a second one for what the first left to finalizers and weak references
    process.send({ live: v8.getHeapStatistics().used_heap_size });
  }
});
// The channel must not keep an app alive that would otherwise exit.
process.channel?.unref();

// Heap-heavy workload: retains JS arrays (1 MiB each, in the V8 heap) until the process fails.
// Prints "retained <bytes>" after each chunk, synchronously, so the last line survives any end.
import { writeSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';

const CHUNK = 1 << 20;
const keep = [];
let retained = 0;
writeSync(1, `heap_size_limit ${getHeapStatistics().heap_size_limit}\n`);
for (;;) {
  keep.push(new Array(CHUNK / 8).fill(keep.length)); // 8 bytes a slot (Smi)
  retained += CHUNK;
  writeSync(1, `retained ${retained}\n`);
}

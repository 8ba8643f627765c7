// Buffer-heavy workload without a guard: retains 4 MiB Buffers (outside the V8 heap) until the
// process fails. V8's heap limit does not bound them: this one is ended by the kernel.
import { writeSync } from 'node:fs';

const CHUNK = 4 << 20;
const keep = [];
let retained = 0;
for (;;) {
  keep.push(Buffer.alloc(CHUNK, keep.length & 0xff));
  retained += CHUNK;
  writeSync(1, `retained ${retained}\n`);
}

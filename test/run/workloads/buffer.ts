// Buffer-heavy workload with headroom's guard: retains 4 MiB Buffers while the monitor admits
// them; ends shed (exit 0, "shed …") when it refuses three in a row.
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGuard } from './guard.js';

const CHUNK = 4 << 20;
const guard = createGuard();
const keep: Buffer[] = [];
let retained = 0;
let refused = 0;
for (;;) {
  if (!guard.admit()) {
    if (++refused >= 3) guard.shed(retained);
    await sleep(10);
    continue;
  }
  refused = 0;
  keep.push(Buffer.alloc(CHUNK, keep.length & 0xff));
  retained += CHUNK;
  writeSync(1, `retained ${retained}\n`);
}

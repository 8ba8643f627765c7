// sharp-heavy workload with headroom's guard: upscales a small generated image to 2048×2048 raw (nearest neighbour, to fill memory fast)
// RGB (12 MiB an output, through libvips' own memory) and holds every output, while the monitor
// admits the next resize; ends shed (exit 0) when it refuses three in a row.
import { writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { createGuard } from './guard.js';

const guard = createGuard();
const input = await sharp({
  create: { width: 512, height: 512, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
})
  .jpeg()
  .toBuffer();
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
  const out = await sharp(input).resize(2048, 2048, { kernel: 'nearest' }).raw().toBuffer();
  keep.push(out);
  retained += out.length;
  writeSync(1, `retained ${retained}\n`);
}

// Container limit detection and V8 flag derivation: `headroom run`, `headroom flags`.
export { readMemoryLimit, parseLimitValue, parseProcCgroup, type MemoryLimit, type LimitReaderOptions } from '../monitor/limit.js';
export {
  derive,
  tierFor,
  TIERS,
  NODE_BASELINE,
  RUNNER_OVERHEAD,
  MIN_BUDGET,
  MiB,
  type Derivation,
  type DeriveInput,
  type Tier,
} from './derive.js';
export { explain } from './explain.js';
export { findGivenFlags, splitNodeOptions, type GivenFlag } from './node-flags.js';
export { plan, start, isNodeCommand, FORWARDED_SIGNALS, type Plan, type ChildEnd } from './runner.js';
export { parseSize, SIZE_ACCEPTED } from './size.js';

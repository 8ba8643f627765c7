// headroom-memory/soak: the leak gate as a library.
export { runSoak, SoakStartError, type SoakReport, type SoakProgress, type SoakRound } from './run.js';
export type { SoakOptions } from './options.js';
export { parseScenario, DEFAULT_SCENARIO, type ScenarioRequest } from './scenario.js';
export { judge, DEFAULT_THRESHOLDS, type Verdict, type Sample, type Thresholds, type Judgement } from './verdict.js';
export { theilSen, median, type SlopeFit } from './stats.js';
export * from '../errors-entry.js';

// headroom-memory/soak: the leak gate as a library.
export { runSoak, SoakStartError, SoakAttachError, type SoakReport, type SoakProgress, type SoakRound } from './run.js';
export type { SoakOptions } from './options.js';
export { parseAttach, type AttachTarget } from './attach.js';
export type { SnapshotReport } from './snapshot/take.js';
export type { SnapshotAnalysis } from './snapshot/analyze.js';
export type { GrownClass } from './snapshot/diff.js';
export { parseHeapSnapshot, HeapSnapshotFormatError, type HeapGraph } from './snapshot/parse.js';
export { parseScenario, DEFAULT_SCENARIO, type ScenarioRequest } from './scenario.js';
export { judge, DEFAULT_THRESHOLDS, type Verdict, type Sample, type Thresholds, type Judgement } from './verdict.js';
export { renderHtml } from './report/html.js';
export { theilSen, median, type SlopeFit } from './stats.js';
export * from '../errors-entry.js';

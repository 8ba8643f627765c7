// runSoak: start the service (inspector on), drive load, measure post-GC memory at quiet points,
// judge in rounds, stop everything, return the report. Leaves no handle behind.
import { setTimeout as sleep } from 'node:timers/promises';
import { findInspector, SoakAttachError } from './attach.js';
import {
  EXIT_GRACE_MS,
  exitedWithin,
  startChild,
  freePort,
  portInUse,
  ServicePortTaken,
  SoakStartError,
  type StartedChild,
} from './child.js';
import { connectInspector, type InspectorProbe } from './inspector.js';
import { connectServing, listensOn } from './serving.js';
import { startLoad, type LoadDriver, type LoadStats } from './load.js';
import { resolveOptions, type SoakOptions } from './options.js';
import { readProc } from './proc.js';
import { snapshotDiff, type SnapshotReport } from './snapshot/take.js';
import { judge, retained, type Judgement, type Sample, type Thresholds, type Verdict } from './verdict.js';

export interface SoakProgress {
  elapsedMs: number;
  budgetMs: number;
  warmup: boolean;
  requests: number;
  /** Requests per second since the previous sample. */
  rps: number;
  sample: Sample;
  /** The judgement on the samples so far (acted on only at the end of a round). */
  judgement: Judgement;
}

export interface SoakRound {
  atMs: number;
  verdict: Verdict;
  reason: string;
  bytesPerRequest?: number;
  lo?: number;
  hi?: number;
}

export interface SoakReport {
  verdict: Verdict;
  reason: string;
  command: string[];
  url: string;
  startedAt: string;
  /** Time measured (from the first request to the verdict), ms; the budget and warm-up asked for. */
  elapsedMs: number;
  budgetMs: number;
  warmupMs: number;
  thresholds: Thresholds;
  judgement: Judgement;
  rounds: SoakRound[];
  samples: Sample[];
  /** The slope (bytes/request) and its interval after each sample, as judged then: how the evidence built up. */
  slopes: { t: number; slope: number; lo: number; hi: number }[];
  /** On a leak verdict: the heap snapshots and the constructors that grew in every interval. */
  snapshots?: SnapshotReport;
  /** The load up to the verdict: the same span as `elapsedMs` (the load during heap snapshots is not counted). */
  load: LoadStats & { connections: number; rate: number; rps: number };
  /**
   * `exited`: how the command ended, when it did (under a wrapper, the wrapper's code);
   * `serviceExited`: the measured process left during the soak (under a wrapper the command may run on).
   */
  target: { pid: number; attached: boolean; exited?: { code: number | null; signal: string | null }; serviceExited?: true };
  /** What may make the verdict say less than it seems (an attached process the URL may not reach). */
  warnings: string[];
  /** What measuring cost the target: forced full GCs and their pauses. */
  cost: { forcedGcs: number; gcsPerMinute: number; gcPauseMs: { mean: number; max: number }; quietMs: number };
}

export { SoakStartError, SoakAttachError };

/** Requests that got no answer or a 4xx/5xx: load that did not reach the service's routes. */
const failedOf = (s: LoadStats): number => s.errors + (s.statuses['4xx'] ?? 0) + (s.statuses['5xx'] ?? 0);
/** Requests the warm-up must have sent before all of them failing says the load reaches no route. */
const MIN_REACH_REQUESTS = 20;
/** How long the first answer may take, whatever the warm-up, before the service "never answered". */
const FIRST_ANSWER_GRACE_MS = 5_000;

/**
 * Why the soak ended early when the service it started is leaving: the inspector lets go (a Node
 * process that called process.exit() waits for that), then its exit code is awaited briefly.
 */
async function serviceExited(child: StartedChild, probe: InspectorProbe | undefined): Promise<string> {
  await probe?.close();
  await exitedWithin(child, EXIT_GRACE_MS);
  const exit = child.exit();
  const output = `; last output:\n${child.tail().trim()}`;
  // Under a wrapper (npm start, a shell) the code is the wrapper's, not the service's: said so.
  if (probe && probe.pid !== child.pid) {
    const command = exit ? `ended with ${exit.signal ?? `code ${exit.code}`}` : `was still running after ${EXIT_GRACE_MS} ms`;
    return `the service (pid ${probe.pid}) exited during the soak; the command it ran under (pid ${child.pid}) ${command}${output}`;
  }
  const how = exit ? (exit.signal ?? `code ${exit.code}`) : `still exiting after ${EXIT_GRACE_MS} ms`;
  return `the service exited during the soak (${how})${output}`;
}

/**
 * Soaks a service: starts `command` with its inspector on (or attaches to a running process),
 * sends load, and says whether its retained memory grows with the requests it serves; on a leak,
 * diffs heap snapshots to name what grows. Throws SoakStartError when the service does not start
 * (no inspector line, exits, or accepts no connection within `startTimeoutMs`), SoakAttachError
 * when the process to attach to has no reachable inspector, and a TypeError/RangeError for bad
 * options. Stops early when `signal` aborts (verdict inconclusive).
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const o = resolveOptions(options);
  let port = o.url === undefined && o.attach === undefined ? await freePort() : undefined;
  let url = o.url ?? `http://127.0.0.1:${port}`;
  const startedAt = new Date().toISOString();
  let child: StartedChild | undefined;
  let probe: InspectorProbe | undefined;
  let load: LoadDriver | undefined;
  const warnings: string[] = [];
  try {
    if (o.attach) {
      const inspectorUrl = await findInspector(o.attach, o.startTimeoutMs, o.signal);
      try {
        probe = await connectInspector(inspectorUrl);
      } catch (err) {
        throw new SoakAttachError(`--attach: the service's inspector did not answer: ${(err as Error).message}`);
      }
      if ('pid' in o.attach && probe.pid !== o.attach.pid)
        throw new SoakAttachError(
          `--attach pid:${o.attach.pid}: the inspector on 127.0.0.1:9229 belongs to pid ${probe.pid} (another process holds port 9229)`,
        );
      // A proxy in front may pass the load on to it (so not refused); a URL of another service
      // would leave the measured process idle, and a no-leak verdict would mean nothing.
      const loadPort = Number(new URL(url).port || 80);
      if ((await probe.evaluate(listensOn(loadPort)).catch(() => true)) === false) {
        const warning = `pid ${probe.pid} does not listen on port ${loadPort}, where --url sends the load: unless something in front passes it on to this process, the soak measures a process the load does not reach`;
        warnings.push(warning);
        o.onNotice?.(`warning: ${warning}`);
      }
    } else {
      for (let attempt = 1; ; attempt++) {
        try {
          child = await startChild({
            command: o.command,
            env: o.env,
            cwd: o.cwd,
            url,
            port,
            startTimeoutMs: o.startTimeoutMs,
            onOutput: o.onOutput,
            signal: o.signal,
          });
          probe = await connectServing(child, new URL(url), o.startTimeoutMs, o.signal);
          break;
        } catch (err) {
          await child?.stop(1000); // its whole output read: whether it failed for the port is known
          // The port was ours to choose: choose another (the OS gave it to the inspector too, or to
          // another process before the service listened).
          const taken = err instanceof ServicePortTaken || (child !== undefined && port !== undefined && portInUse(child.tail(), port));
          if (!taken || attempt === 3) throw err;
          child = undefined;
          port = await freePort();
          url = `http://127.0.0.1:${port}`;
        }
      }
    }
    const samples: Sample[] = [];
    const slopes: SoakReport['slopes'] = [];
    const rounds: SoakRound[] = [];
    let quietMs = 0;
    // A service that dies mid-measurement never answers the inspector: its exit ends the wait.
    // Watched from here: a process of the group the soak was attached to while it looked for the
    // service (a wrapper's pre-script) may have left already. (A service that begins to exit in the
    // moment between connectServing's return and this line is not seen here: its measurement then
    // fails on the inspector's reply timeout instead.)
    const watch = child?.watchLeaving();
    const died = watch?.leaving.then(() => {
      throw new Error('the service exited');
    });
    died?.catch(() => undefined); // raced by each measurement; a death between them is seen by the loop
    const take = async (t0: number): Promise<Sample> => {
      const q0 = performance.now();
      // Requests in flight are waited for at most a sample interval: one that never gets an answer
      // must not stop the measuring (nor hold the soak past its budget).
      await load!.pause(o.sampleIntervalMs);
      try {
        const measured = (async () => ({ heap: await probe!.measure(), proc: await readProc(probe!.pid) }))();
        const { heap, proc } = await (died ? Promise.race([measured, died]) : measured);
        return {
          t: Math.round(performance.now() - t0),
          requests: load!.completed,
          heapUsed: heap.heapUsed,
          external: heap.external,
          codeBytes: heap.codeBytes,
          ...proc,
          handles: heap.handles,
          gcMs: Math.round(heap.gcMs * 100) / 100,
          warmup: false,
        };
      } finally {
        load!.resume();
        quietMs += performance.now() - q0;
      }
    };

    load = startLoad({ url, connections: o.connections, rate: o.rate, requests: o.requests });
    const t0 = performance.now();
    const postWarmup = o.durationMs - o.warmupMs;
    // Rounds: the first verdict may come once half the post-warm-up time is measured, then every eighth of it.
    const roundMs = Math.max(o.sampleIntervalMs, postWarmup / 8);
    let nextRound = o.warmupMs + postWarmup / 2;
    let judgement: Judgement = { verdict: 'inconclusive', reason: 'no sample yet' };
    /** The measured process left during the soak (a failed run, exit 2, whatever the command does). */
    let serviceGone = false;
    let decided = false;
    let lastT = 0;
    let lastRequests = 0;
    let reachChecked = false;
    for (let k = 1; !decided; k++) {
      const due = t0 + k * o.sampleIntervalMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait, undefined, { signal: o.signal }).catch(() => undefined);
      if (o.signal?.aborted) {
        judgement = { ...judge(samples, o.thresholds), verdict: 'inconclusive' };
        judgement.reason = `stopped before a verdict (${judgement.reason})`;
        break;
      }
      if (child && watch?.isLeaving()) {
        serviceGone = true;
        judgement = { verdict: 'inconclusive', reason: await serviceExited(child, probe) };
        break;
      }
      let sample: Sample;
      try {
        sample = await take(t0);
      } catch (err) {
        serviceGone = child !== undefined && watch?.isLeaving() === true;
        judgement = {
          verdict: 'inconclusive',
          reason: child && serviceGone ? await serviceExited(child, probe) : `measuring failed: ${(err as Error).message}`,
        };
        break;
      }
      sample.warmup = sample.t < o.warmupMs;
      samples.push(sample);
      // A load that reaches none of the service's routes (a 404 for every GET / of the default) is a
      // set-up mistake: said once the warm-up is over, not as "inconclusive" after the whole budget.
      // No answer yet is "never answered" only after FIRST_ANSWER_GRACE_MS too: with a short or no
      // warm-up, a slow first answer (a cold start) would otherwise end the soak.
      const s = sample.warmup || reachChecked ? undefined : load.stats();
      if (s && !(s.requests === 0 && sample.t < FIRST_ANSWER_GRACE_MS)) {
        reachChecked = true;
        const failed = failedOf(s);
        if (s.requests === 0)
          throw new SoakStartError(
            `soak: the service never answered: it accepts connections at ${url}, but none of the requests sent in the first ${(sample.t / 1000).toFixed(1)} s (the warm-up: ${(o.warmupMs / 1000).toFixed(1)} s) got an answer (${load.inFlight} still waiting): check --url and that the service responds`,
          );
        if (s.requests >= MIN_REACH_REQUESTS && failed === s.requests)
          throw new SoakStartError(
            `soak: none of the ${s.requests} requests of the warm-up reached the service's routes (${JSON.stringify(s.statuses)}, ${s.errors} errors${s.lastError ? `, the last: ${s.lastError}` : ''}): check --url and --scenario`,
          );
      }
      const last = sample.t >= o.durationMs - o.sampleIntervalMs / 2;
      judgement = judge(samples, o.thresholds);
      if (judgement.perRequest)
        slopes.push({ t: sample.t, slope: judgement.perRequest.slope, lo: judgement.perRequest.lo, hi: judgement.perRequest.hi });
      if (sample.t >= nextRound || last) {
        rounds.push({
          atMs: sample.t,
          verdict: judgement.verdict,
          reason: judgement.reason,
          bytesPerRequest: judgement.perRequest?.slope,
          lo: judgement.perRequest?.lo,
          hi: judgement.perRequest?.hi,
        });
        nextRound += roundMs;
        decided = judgement.verdict !== 'inconclusive' || last;
        if (last && judgement.verdict === 'inconclusive') judgement.reason = `budget spent: ${judgement.reason}`;
      }
      const rps = ((sample.requests - lastRequests) * 1000) / Math.max(1, sample.t - lastT);
      lastT = sample.t;
      lastRequests = sample.requests;
      o.onProgress?.({
        elapsedMs: sample.t,
        budgetMs: o.durationMs,
        warmup: sample.warmup,
        requests: sample.requests,
        rps,
        sample,
        judgement,
      });
    }
    // Requests and time over the same span, up to the verdict: the snapshots below take seconds
    // with the load running, which is not what the verdict measured.
    const elapsedMs = Math.round(performance.now() - t0);
    const stats = load.stats();
    let snapshots: SnapshotReport | undefined;
    if (judgement.verdict === 'leak' && o.snapshots > 0 && !child?.exit())
      snapshots = await snapshotDiff({
        probe,
        load,
        count: o.snapshots,
        intervalMs: o.snapshotIntervalMs,
        budgetMs: o.snapshotBudgetMs,
        heapBytes: samples[samples.length - 1]!.heapUsed,
        dir: o.snapshotDir,
        signal: o.signal,
        onNotice: o.onNotice,
      });
    await load.close();
    // No leak in a service that mostly refused the load says nothing about its routes (a 404 for
    // every request of the default GET /); an unclear run says so first too, as the likelier cause.
    const failed = failedOf(stats);
    if (judgement.verdict !== 'leak' && stats.requests > 0 && failed > stats.requests / 2)
      judgement = {
        verdict: 'inconclusive',
        reason: `${Math.round((failed / stats.requests) * 100)}% of the requests failed or were answered 4xx/5xx (${JSON.stringify(stats.statuses)}, ${stats.errors} errors): the load did not reach the service's routes; check --url and --scenario${judgement.verdict === 'inconclusive' ? ` (and ${judgement.reason})` : ''}`,
      };
    const gcs = samples.map((s) => s.gcMs);
    const exited = child?.exit();
    return {
      verdict: judgement.verdict,
      reason: judgement.reason,
      command: [...o.command],
      url,
      startedAt,
      elapsedMs,
      budgetMs: o.durationMs,
      warmupMs: o.warmupMs,
      thresholds: o.thresholds,
      judgement,
      rounds,
      samples,
      slopes,
      ...(snapshots ? { snapshots } : {}),
      load: { ...stats, connections: o.connections, rate: o.rate, rps: (stats.requests * 1000) / Math.max(1, elapsedMs) },
      target: {
        pid: probe.pid,
        attached: o.attach !== undefined,
        ...(exited ? { exited: { code: exited.code, signal: exited.signal } } : {}),
        ...(serviceGone ? { serviceExited: true as const } : {}),
      },
      warnings,
      cost: {
        forcedGcs: gcs.length,
        gcsPerMinute: (gcs.length * 60_000) / Math.max(1, elapsedMs),
        gcPauseMs: { mean: gcs.length ? gcs.reduce((a, b) => a + b, 0) / gcs.length : 0, max: Math.max(0, ...gcs) },
        quietMs: Math.round(quietMs),
      },
    };
  } finally {
    await load?.close();
    await probe?.close();
    await child?.stop();
  }
}

export { retained };

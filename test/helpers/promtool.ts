// Prometheus' own checker (`promtool`, from Debian's prometheus package) for the metrics suites:
// a loud SKIP where it is missing, a failure where it is required (CI installs it).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

/** True when promtool is on PATH; otherwise throws under HEADROOM_REQUIRE_PROMTOOL=1 or CI, else warns. */
export function promtoolOrSkip(what: string): boolean {
  if (spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  if (process.env.HEADROOM_REQUIRE_PROMTOOL === '1' || process.env.CI === 'true') {
    throw new Error('promtool is required (HEADROOM_REQUIRE_PROMTOOL=1 or CI) but is not on PATH (apt-get install -y prometheus)');
  }
  console.warn(`\n*** SKIP ${what}: promtool is not on PATH (apt-get install -y prometheus) ***\n`);
  return false;
}

/** promtool check metrics' findings on a scrape, one per line (it exits non-zero when it has any). */
export async function promtoolCheckMetrics(text: string): Promise<string[]> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve));
  child.stdin.end(text);
  await exited;
  return out.split('\n').filter(Boolean);
}

/** promtool's exit status and everything it printed. */
export interface PromtoolResult {
  status: number | null;
  output: string;
}

/** Runs promtool with `args` (synchronously: it reads files and exits). */
export function promtool(args: string[]): PromtoolResult {
  const r = spawnSync('promtool', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * `promtool test rules` on a unit-test file written from `spec` (rule_files given as absolute
 * paths) in a temporary folder that is removed afterwards.
 */
export function promtoolTestRules(spec: object): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'headroom-promtool-'));
  try {
    const file = join(dir, 'tests.yml');
    writeFileSync(file, YAML.stringify(spec, { lineWidth: 0 }));
    return promtool(['test', 'rules', file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

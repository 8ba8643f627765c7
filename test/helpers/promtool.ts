// Prometheus' own checker (`promtool`, from Debian's prometheus package) for the metrics suites:
// a loud SKIP where it is missing, a failure where it is required (CI installs it).
import { spawn, spawnSync } from 'node:child_process';

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

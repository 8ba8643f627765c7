// Flags the user already gave Node, in NODE_OPTIONS or on a `node …` command line: the derivation
// leaves every one of them alone (and says so).

/** The flags the derivation sets, by their canonical name (V8 also accepts underscores). */
export const HEAP_FLAGS = ['max-old-space-size', 'max-semi-space-size', 'max-heap-size'] as const;
export const SNAPSHOT_FLAGS = ['heapsnapshot-near-heap-limit', 'diagnostic-dir'] as const;
type Known = (typeof HEAP_FLAGS)[number] | (typeof SNAPSHOT_FLAGS)[number];
const KNOWN: readonly string[] = [...HEAP_FLAGS, ...SNAPSHOT_FLAGS];

export interface GivenFlag {
  name: Known;
  /** The value as given ('' when the flag came without one). */
  value: string;
  /** Where it was found: 'NODE_OPTIONS' or 'argv'. */
  from: string;
  /** The flag as written. */
  text: string;
}

/**
 * A heap flag Node starts with but ignores: no size, or 0 (`--max-old-space-size=` leaves V8's
 * default heap, whatever the container allows). Not a limit the user set, so the heap is sized.
 */
export const ignoredByNode = (g: GivenFlag): boolean =>
  (HEAP_FLAGS as readonly string[]).includes(g.name) && (g.value.trim() === '' || Number(g.value) === 0);

/** Splits NODE_OPTIONS the way Node does: on spaces, with double quotes grouping and backslash escapes inside them. */
export function splitNodeOptions(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += s[++i];
    } else if (c === '"') {
      quoted = !quoted;
      has = true;
    } else if (!quoted && /\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
    }
  }
  if (has || cur) out.push(cur);
  return out;
}

/** Quotes a NODE_OPTIONS token when it needs it (a --diagnostic-dir with spaces). */
export const quoteNodeOption = (token: string): string => (/[\s"\\]/.test(token) ? `"${token.replace(/["\\]/g, (c) => `\\${c}`)}"` : token);

// Node options written with their value as the next argument: that value is not the script. The
// code of -e/-p is not a script either: Node reads options after it (`node -e CODE --max-old-space-size=100`).
const TAKES_VALUE = new Set([
  // Node 20's `node --help` (flags shown as --flag=...), and later ones; -pe and --loader are aliases.
  ...['-e', '--eval', '-p', '--print', '-pe', '-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions'],
  ...['--allow-fs-read', '--allow-fs-write', '--build-snapshot-config', '--cpu-prof-dir', '--cpu-prof-interval', '--cpu-prof-name'],
  ...['--disable-proto', '--disable-warning', '--dns-result-order', '--env-file', '--env-file-if-exists', '--experimental-default-type'],
  ...['--experimental-policy', '--experimental-sea-config', '--heap-prof-dir', '--heap-prof-interval', '--heap-prof-name'],
  ...['--heapsnapshot-signal', '--icu-data-dir', '--input-type', '--inspect-port', '--inspect-publish-uid', '--max-http-header-size'],
  ...['--network-family-autoselection-attempt-timeout', '--openssl-config', '--policy-integrity', '--redirect-warnings'],
  ...['--report-dir', '--report-directory', '--report-filename', '--report-signal', '--secure-heap', '--secure-heap-min'],
  ...['--snapshot-blob', '--stack-trace-limit', '--test-concurrency', '--test-name-pattern', '--test-reporter'],
  ...['--test-reporter-destination', '--test-shard', '--test-skip-pattern', '--test-timeout', '--test-isolation'],
  ...['--test-coverage-include', '--test-coverage-exclude', '--title', '--tls-cipher-list', '--tls-keylog'],
  ...['--trace-event-categories', '--trace-event-file-pattern', '--trace-require-module', '--unhandled-rejections'],
  ...['--use-largepages', '--v8-pool-size', '--watch-path', '--experimental-config-file', '--localstorage-file', '--run'],
]);

/** The known flags among `tokens` (Node options: stop at the first argument that is not an option). */
export function findGivenFlags(tokens: readonly string[], from: string, stopAtScript = false): GivenFlag[] {
  const out: GivenFlag[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === '--' || (stopAtScript && !t.startsWith('-'))) break;
    if (stopAtScript && TAKES_VALUE.has(t)) {
      i++;
      continue;
    }
    const m = /^--([a-z_-]+)(?:=(.*))?$/i.exec(t);
    if (!m) continue;
    const name = m[1]!.replaceAll('_', '-').toLowerCase();
    if (!KNOWN.includes(name)) continue;
    let value = m[2];
    // `--max-old-space-size 300`: Node 20 refuses that spelling itself ("illegal value"); read as
    // given all the same, so that no second one is added beside it.
    if (value === undefined && name !== 'heapsnapshot-near-heap-limit' && /^\d/.test(tokens[i + 1] ?? '')) value = tokens[++i]!;
    if (value === undefined && name === 'diagnostic-dir' && tokens[i + 1] !== undefined) value = tokens[++i]!;
    out.push({ name: name as Known, value: value ?? '', from, text: value === undefined ? t : `--${m[1]}=${value}` });
  }
  return out;
}

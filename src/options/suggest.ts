// "Did you mean": the closest known name to a misspelt one. Used by the configuration (variables,
// flags, config-file keys, commands) and by the factories' options objects (resolveOptions).

/** The closest known name within a small edit distance (at most `maxDistance` when given), if any. */
export function suggest(name: string, candidates: Iterable<string>, maxDistance = Infinity): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(Math.max(2, Math.floor(name.length / 4)), maxDistance) + 1;
  const upper = name.toUpperCase();
  for (const c of candidates) {
    // The distance is at least the difference in length: a name far longer than every candidate
    // (a 1 MB key in a config file) is not compared character by character.
    if (Math.abs(name.length - c.length) >= bestDistance) continue;
    const d = editDistance(upper, c.toUpperCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * For option names (camelCase): the closest one by edit distance, else one that the name begins,
 * extends or ends as whole words (`critical` → `criticalThreshold`, `rawPath` → `raw`,
 * `prefix` → `keyPrefix`).
 */
export function suggestOption(name: string, candidates: readonly string[]): string | undefined {
  const starts = (short: string, long: string): boolean =>
    short.length >= 3 && long.length > short.length && long.startsWith(short) && /[A-Z]/.test(long[short.length]!);
  const ends = (short: string, long: string): boolean =>
    short.length >= 3 && long.length > short.length && long.endsWith(short[0]!.toUpperCase() + short.slice(1));
  return (
    // Short names are not guessed from far: `ma` is not a typo of `raw`.
    suggest(name, candidates, Math.ceil(name.length / 2)) ??
    candidates.find((c) => starts(name, c)) ??
    candidates.find((c) => starts(c, name)) ??
    candidates.find((c) => ends(name, c))
  );
}

/** Whether `name` is the start of `flag` (`dur` of `duration`), three letters at least. */
const begins = (name: string, flag: string): boolean => name.length >= 3 && flag.startsWith(name);

/** For CLI flags: one the name begins or extends (`--dur` → `--duration`), else the closest by edit distance. */
export function suggestFlag(name: string, flags: readonly string[]): string | undefined {
  return flags.find((f) => begins(name, f) || name.startsWith(f)) ?? suggest(name, flags);
}

/**
 * The CLIs' one wording for a flag they do not know, from the token as given (`--prot`, `--prot=1`,
 * `-url`); `hintOf` finds the flag meant by a two-dash one. A one-dash word is named only when it is
 * (nearly) a flag: a token starting with a dash may be a secret split off its flag
 * (`--admin-token= -s3cret`), and is not echoed.
 */
export function unknownFlag(token: string, flags: readonly string[], hintOf = suggestFlag): string {
  const word = token.replace(/^--?/, '').split('=')[0]!;
  if (token.startsWith('--')) {
    const hint = hintOf(word, flags);
    return `unknown option --${word}${hint ? ` (did you mean --${hint}?)` : ''}`;
  }
  // Only a word a flag holds whole, or one within a typo of a flag: a longer word that merely begins
  // with a flag's name (-urlQx9secret) may be a secret and is not named.
  const hint = flags.includes(word) ? word : (suggest(word, flags) ?? flags.find((f) => begins(word, f)));
  return hint
    ? `unknown option -${word}: flags take two dashes (did you mean --${hint}?)`
    : "unknown option '<hidden>' (an argument starting with one dash): flags take two dashes, each as --flag VALUE or --flag=VALUE";
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

// deploy/Dockerfile, linted without a Docker engine: stages, user, entry point and signals, the
// health check, and that every COPY source exists (in the build context and not ignored by
// .dockerignore, or in a previous stage).
import assert from 'node:assert/strict';
import { posix } from 'node:path';
import { test } from 'node:test';
import { COMMANDS } from '../../src/cli/usage.js';
import { configFrom, exists, read } from './helpers.js';

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  name: string;
  base: string;
  ops: Instruction[];
}

/** Instructions with continuation lines joined, comments and parser directives dropped. */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buf = '';
  let start = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) continue;
    if (buf !== '' && line.startsWith('#')) continue; // comment inside a continuation
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) {
      buf += `${line.slice(0, -1)} `;
      continue;
    }
    buf += line;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(buf);
    assert.ok(m, `Dockerfile line ${start}: not an instruction: ${buf}`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  }
  return out;
}

function stages(ins: Instruction[]): Stage[] {
  const out: Stage[] = [];
  for (const i of ins) {
    if (i.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(i.args);
      assert.ok(m, `line ${i.line}: FROM ${i.args}`);
      out.push({ base: m[1]!, name: m[2] ?? String(out.length), ops: [] });
    } else if (out.length > 0) out.at(-1)!.ops.push(i);
  }
  return out;
}

const execForm = (i: Instruction): string[] => {
  const parsed: unknown = JSON.parse(i.args);
  assert.ok(
    Array.isArray(parsed) && parsed.every((s) => typeof s === 'string'),
    `line ${i.line}: ${i.op} must be exec form (a JSON array)`,
  );
  return parsed as string[];
};

/** Docker's .dockerignore rules for the patterns we use: `*` within one path segment, `**` across, `!` re-includes, last match wins, a match on a parent directory counts. */
export function dockerIgnored(patterns: string[], path: string): boolean {
  const parts = path.split('/');
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      `^${pattern
        .split(/(\*\*|\*|\?)/)
        .map((t) => (t === '**' ? '.*' : t === '*' ? '[^/]*' : t === '?' ? '[^/]' : t.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('')}$`,
    );
    const matches = parts.some((_, n) => re.test(parts.slice(0, n + 1).join('/')));
    if (matches) ignored = !negate;
  }
  return ignored;
}

const text = read('deploy/Dockerfile');
const ins = parseDockerfile(text);
const all = stages(ins);
const final = all.at(-1)!;
const dockerignore = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

test('multi-stage, slim bases, ARGs declared before use', () => {
  assert.ok(all.length >= 2, 'at least a build stage and a runtime stage');
  for (const s of all)
    assert.match(s.base, /-slim$|^[a-z0-9_-]+$/, `stage ${s.name}: base ${s.base} is not a slim image or a previous stage`);
  assert.match(final.base, /-slim$/, 'the runtime stage is a slim image');
  const args = new Set(ins.filter((i) => i.op === 'ARG').map((i) => i.args.split('=')[0]));
  for (const s of all)
    for (const [, v] of s.base.matchAll(/\$\{(\w+)\}/g)) assert.ok(args.has(v), `FROM ${s.base}: ARG ${v} is not declared`);
  const names = all.map((s) => s.name);
  assert.equal(new Set(names).size, names.length, 'stage names are unique');
});

test('the runtime stage runs as a non-root user and copies no sources or dev tools', () => {
  const users = final.ops.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0, 'USER in the runtime stage');
  assert.doesNotMatch(users.at(-1)!.args, /^(root|0)(:|$)/, 'the last USER is not root');
  const later = final.ops.slice(final.ops.indexOf(users.at(-1)!) + 1);
  assert.deepEqual(
    later.filter((i) => i.op === 'RUN' || i.op === 'COPY').map((i) => `${i.op} ${i.args}`),
    [],
    'nothing is installed or copied after USER',
  );
  for (const c of final.ops.filter((i) => i.op === 'COPY')) {
    assert.doesNotMatch(c.args, /(^|\s)(src|test|\.)(\s|$)/, `line ${c.line}: the runtime stage copies sources`);
  }
});

test('entry point: headroom run in exec form (signals reach Node, no shell, no npm), the gateway as CMD', () => {
  const entry = execForm(final.ops.findLast((i) => i.op === 'ENTRYPOINT')!);
  const cmd = execForm(final.ops.findLast((i) => i.op === 'CMD')!);
  assert.deepEqual(entry.slice(0, 1), ['node']);
  assert.match(entry[1]!, /dist\/cli\/main\.js$/);
  assert.deepEqual(entry.slice(2), ['run', '--'], 'ENTRYPOINT is `headroom run --`');
  assert.deepEqual(cmd.slice(-1), ['serve']);
  for (const argv of [entry, cmd]) {
    assert.ok(!argv.some((a) => /^(npm|npx|sh|bash|\/bin\/sh)$/.test(a)), `no npm or shell in ${JSON.stringify(argv)}`);
  }
  // The file it starts is the package's bin, built from src/cli/main.ts.
  const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
  assert.equal(pkg.bin.headroom, 'dist/cli/main.js');
  assert.ok(exists('src/cli/main.ts'));
  assert.equal(final.ops.find((i) => i.op === 'STOPSIGNAL')?.args ?? 'SIGTERM', 'SIGTERM');
});

test('headroom run exists in the CLI the image starts', (t) => {
  if (!(COMMANDS as readonly string[]).includes('run')) {
    console.warn('\n*** TODO: `headroom run` is not in src/cli/usage.ts COMMANDS yet (branch run): the image needs it ***\n');
    return t.todo('headroom run not merged yet');
  }
});

test('HEALTHCHECK probes /health/live with Node (no curl in slim images)', () => {
  const hc = final.ops.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(hc, 'HEALTHCHECK in the runtime stage');
  const m = /^((?:--\S+\s+)*)CMD\s+(\[.*\])$/.exec(hc.args);
  assert.ok(m, 'HEALTHCHECK [options] CMD [exec form]');
  const argv = JSON.parse(m[2]!) as string[];
  assert.equal(argv[0], 'node');
  assert.match(argv.join(' '), /fetch\(.*\/health\/live/);
  assert.doesNotMatch(argv.join(' '), /curl|wget/);
  assert.match(m[1]!, /--timeout=\d+s/);
});

test('ENV sets only real options with accepted values; EXPOSE matches PORT', () => {
  const env: Record<string, string> = {};
  for (const i of final.ops.filter((o) => o.op === 'ENV')) {
    for (const [, k, v] of i.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[k!] = v!.replace(/^"|"$/g, '');
  }
  assert.equal(env.NODE_ENV, 'production');
  assert.equal(env.HOST, '0.0.0.0', 'listens beyond the container loopback');
  // NODE_ENV=production without UPSTREAM_URL stops start-up: supply one for the check only.
  configFrom({ ...env, UPSTREAM_URL: 'http://upstream:8080' }, 'deploy/Dockerfile ENV');
  assert.equal(final.ops.find((i) => i.op === 'EXPOSE')?.args, env.PORT);
});

test('every COPY source exists: in the build context (and not .dockerignored) or in an earlier stage', () => {
  // What each stage produces: COPY destinations, WORKDIR, and the outputs of the RUN steps it uses.
  const produced = new Map<string, string[]>();
  for (const [n, s] of all.entries()) {
    let workdir = '/';
    const paths: string[] = [];
    const abs = (p: string): string => (p.startsWith('/') ? p : `${workdir.replace(/\/$/, '')}/${p}`).replace(/\/\.?$/, '');
    for (const i of s.ops) {
      if (i.op === 'WORKDIR') workdir = abs(i.args);
      if (i.op === 'RUN') {
        if (/\bnpm ci\b/.test(i.args)) paths.push(abs('node_modules'));
        if (/\bnpm run build\b/.test(i.args)) {
          assert.match(read('scripts/build.mjs'), /'dist'/, 'npm run build writes dist/');
          paths.push(abs('dist'));
        }
      }
      if (i.op === 'COPY') {
        const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        const from = /--from=(\S+)/.exec(i.args)?.[1];
        const dest = words.at(-1)!;
        for (const src of words.slice(0, -1)) {
          if (from === undefined) {
            assert.ok(exists(src), `line ${i.line}: COPY ${src}: not in the repository`);
            assert.ok(!dockerIgnored(dockerignore, src), `line ${i.line}: COPY ${src}: excluded by .dockerignore`);
          } else {
            const stage = all.slice(0, n).find((x) => x.name === from);
            assert.ok(stage, `line ${i.line}: COPY --from=${from}: no earlier stage of that name`);
            const made = produced.get(from)!;
            assert.ok(
              made.some((p) => src === p || src.startsWith(`${p}/`)),
              `line ${i.line}: COPY --from=${from} ${src}: that stage makes only ${made.join(', ')}`,
            );
          }
          paths.push(dest.endsWith('/') || dest === './' ? abs(`${dest}${src.split('/').at(-1)}`) : abs(dest));
        }
      }
    }
    produced.set(s.name, paths);
  }
});

test('the build stage has every script the build imports (scripts/build.mjs and what it imports, transitively)', () => {
  const build = all.find((s) => s.ops.some((i) => i.op === 'RUN' && /\bnpm run build\b/.test(i.args)));
  assert.ok(build, 'a stage runs npm run build');
  const copied = build.ops
    .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
    .flatMap((i) =>
      i.args
        .split(/\s+/)
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1),
    );
  const has = (path: string): boolean => copied.some((src) => path === src || path.startsWith(`${src.replace(/\/$/, '')}/`));
  const seen = new Set<string>();
  const visit = (script: string): void => {
    if (seen.has(script)) return;
    seen.add(script);
    assert.ok(has(script), `the build stage does not COPY ${script}`);
    assert.ok(!dockerIgnored(dockerignore, script), `${script} is excluded by .dockerignore`);
    for (const m of read(script).matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'|\bimport\(\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = posix.normalize(posix.join(posix.dirname(script), m[1] ?? m[2]!));
      if (!target.startsWith('src/')) visit(target); // src/ is copied whole (checked above)
    }
  };
  visit('scripts/build.mjs');
  assert.ok(seen.size > 1, `scripts/build.mjs imports ${[...seen].join(', ')}`);
});

test('.dockerignore keeps secrets and bulk out of the context', () => {
  for (const p of [
    'heap-snapshots/x.heapsnapshot',
    '.headroom-cache/ab',
    '.git/config',
    'node_modules/x',
    'dist/cli/main.js',
    'test/x.ts',
    'x.heapsnapshot',
  ]) {
    assert.ok(dockerIgnored(dockerignore, p), `${p} is sent to the Docker build`);
  }
  assert.ok(!dockerIgnored(dockerignore, 'src/cli/main.ts'));
  assert.ok(!dockerIgnored(dockerignore, 'scripts/build.mjs'));
  assert.ok(dockerIgnored(dockerignore, 'scripts/run-bench.mjs'));
});

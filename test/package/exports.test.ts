// Every entry point in package.json "exports" exports what its kind promises, on both sides: the
// `import` side from src (through tsx, as the tests run) and the `require` side from the CommonJS
// build (dist/cjs of the package as the tests build it, test/helpers/install.ts). Adapters and the toolkit carry the error registry and the
// Prometheus registration (src/shared-entry.ts); each part its own register*Metrics.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { builtPackage } from '../helpers/install.js';

const ROOT = process.cwd();

interface Target {
  types: string;
  default: string;
}
type Entry = string | { import: Target; require: Target; [condition: string]: Target };
const exportsMap = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Entry> }).exports;

const ERRORS = ['ERRORS', 'HeadroomError', 'isErrorCode', 'isHeadroomError', 'statusOf'];
const METRICS = [
  'createMetricsRegistry',
  'registerMonitorMetrics',
  'registerProcessMetrics',
  'registerCacheMetrics',
  'registerProxyMetrics',
  'registerImageMetrics',
  'exposition',
];

/** What each entry must export. Every entry is listed: a new one fails here until its kind is decided. */
const REQUIRED: Record<string, string[]> = {
  // Adapters and the toolkit: the whole shared block.
  './fastify': [...ERRORS, ...METRICS, 'headroom', 'captureBodies', 'accountRequests', 'attributeRouteHeap', 'createRouteHeapAttribution'],
  './express': [
    ...ERRORS,
    ...METRICS,
    'headroom',
    'captureMiddleware',
    'accountingMiddleware',
    'routeHeapMiddleware',
    'createRouteHeapAttribution',
  ],
  './next': [...ERRORS, ...METRICS, 'createProxyRoute'],
  './nestjs': [...ERRORS, ...METRICS, 'HeadroomModule', 'HeadroomMemoryInterceptor', 'captureMiddleware', 'accountingMiddleware'],
  './toolkit': [...ERRORS, ...METRICS, 'createHeadroom'],
  // Parts: their factory, their own Prometheus registration and the error registry.
  './monitor': [...ERRORS, 'createMemoryMonitor', 'registerMonitorMetrics'],
  './cache': [...ERRORS, 'createCache', 'registerCacheMetrics'],
  './proxy': [...ERRORS, 'createProxy', 'registerProxyMetrics'],
  './image': [...ERRORS, 'createImageService', 'registerImageMetrics'],
  './errors': ERRORS,
  './metrics': METRICS,
  './gateway': ['createGateway', 'loadConfig'],
  // The leak gate as a library (the soak tool measures another process: no metrics of its own).
  './soak': [...ERRORS, 'runSoak'],
  './log': [
    ...ERRORS,
    'createLogShipper',
    'registerLogShipMetrics',
    'guardTransport',
    'createBodyCapture',
    'createRequestAccounting',
    'registerRequestAccountingMetrics',
    'createRouteHeapAttribution',
  ],
  // The pino transport target (a worker thread loads its default export).
  './log/transport': ['default'],
  // Stream and batch utilities (no errors of their own: bad options are TypeErrors).
  './streams': ['streamCopyFile', 'processBatch', 'chunkArray', 'createObjectPool'],
  './alerts': [...ERRORS, 'createAlerter', 'registerAlertMetrics', 'verifySignature'],
  // A helper for next.config's images.loader, not an adapter.
  './next/image-loader': ['createImageLoader'],
  './package.json': [],
};

const entries = Object.entries(exportsMap).filter((e): e is [string, Exclude<Entry, string>] => typeof e[1] !== 'string');

test('every entry in package.json "exports" has a kind here', () => {
  assert.deepEqual(Object.keys(exportsMap).sort(), Object.keys(REQUIRED).sort());
});

function missing(mod: Record<string, unknown>, names: string[]): string[] {
  return names.filter((n) => mod[n] === undefined);
}

test('./next on the Edge runtime (edge-light) exports every name the Node.js entry does, and imports no Node module', async () => {
  const node = (await import(pathToFileURL(resolve(ROOT, 'src/adapters/next/index.ts')).href)) as Record<string, unknown>;
  const edge = (await import(pathToFileURL(resolve(ROOT, 'src/adapters/next/edge.ts')).href)) as Record<string, unknown>;
  assert.deepEqual(missing(edge, Object.keys(node)), [], 'the edge entry lacks these');
  assert.ok(edge.HeadroomError === node.HeadroomError, 'the real error registry');
  // What it loads at run time, followed through relative imports (type-only ones are erased).
  const seen = new Set<string>();
  const outside: string[] = [];
  const walk = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = readFileSync(file, 'utf8');
    for (const m of code.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'([^']+)'/gms)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) walk(resolve(file, '..', spec.replace(/\.js$/, '.ts')));
      else outside.push(`${file.slice(ROOT.length + 1)} → ${spec}`);
    }
  };
  walk(resolve(ROOT, 'src/adapters/next/edge.ts'));
  assert.ok(seen.size > 3, 'the walk followed the imports');
  assert.deepEqual(outside, [], 'the edge entry loads only its own files');
});

describe('the import side (ESM, from src)', () => {
  for (const [name, entry] of entries) {
    test(name, async () => {
      // (next/image-loader's import side is the CommonJS build: its source is the same file.)
      const src = resolve(ROOT, entry.import.default.replace(/^\.\/dist\/(cjs\/)?/, 'src/').replace(/\.js$/, '.ts'));
      const mod = (await import(pathToFileURL(src).href)) as Record<string, unknown>;
      assert.deepEqual(missing(mod, REQUIRED[name]!), [], `${name} (import) lacks these`);
    });
  }
});

describe('the require side (CommonJS, from dist/cjs)', { timeout: 300_000 }, () => {
  let built = '';
  before(async () => {
    built = (await builtPackage()).dir;
  });
  /** Every line of the published declaration files that `pick` picks, as "file: line". */
  const declarationLines = (pick: (line: string) => boolean): string[] => {
    const found: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.d.ts'))
          for (const line of readFileSync(p, 'utf8').split('\n')) if (pick(line)) found.push(`${p.slice(built.length + 1)}: ${line}`);
      }
    };
    walk(join(built, 'dist'));
    return found;
  };
  test('no declaration file default-imports a module (TS1192 for users without esModuleInterop)', () => {
    assert.deepEqual(
      declarationLines((line) => /^import (?!type\b)[\w$]+\s*(,|from\b)/.test(line)),
      [],
    );
  });
  // headroom loads some modules of undici and prom-client by path, typed by declarations of its own
  // that are not published: a user's compiler would find no types there (any, under skipLibCheck).
  test("no declaration file imports a dependency's inner module (prom-client/lib/…, undici/lib/…)", () => {
    assert.deepEqual(
      declarationLines((line) => /\bfrom '(@[^/']+\/)?[^./'][^/']*\/lib\//.test(line)),
      [],
    );
  });

  for (const [name, entry] of entries) {
    test(name, () => {
      const require = createRequire(join(built, 'package.json'));
      const mod = require(resolve(built, entry.require.default)) as Record<string, unknown>;
      assert.deepEqual(missing(mod, REQUIRED[name]!), [], `${name} (require) lacks these`);
      // One registry: the errors of an adapter are the errors entry's (same class, so instanceof works).
      if (REQUIRED[name]!.includes('HeadroomError')) {
        const errors = require(resolve(built, (exportsMap['./errors'] as Exclude<Entry, string>).require.default)) as Record<
          string,
          unknown
        >;
        assert.equal(mod.HeadroomError, errors.HeadroomError, `${name}: the one HeadroomError of the CommonJS build`);
      }
    });
  }
});

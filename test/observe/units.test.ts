// The observe parts on their own: request id rules, paths without values, the access log's
// switches, the pretty format and the bound on metric series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { isValidRequestId, MAX_REQUEST_ID_LENGTH, requestIdFrom } from '../../src/observe/request-id.js';
import { createAccessLog, MAX_LOGGED_PATH, pathWithoutValues, type AccessEntry } from '../../src/observe/access-log.js';
import { createPrettyDestination, MAX_PRETTY_LINE, prettyLine } from '../../src/observe/pretty.js';
import { MAX_SERIES, OVERFLOW_ROUTE, REJECTED_ROUTE, RequestMetrics } from '../../src/observe/request-metrics.js';
import { loadConfig } from '../../src/config/index.js';
import { createGatewayLogger } from '../../src/server/logger.js';

test('request ids: bounded length and a safe character set; anything else is replaced by a UUID', () => {
  for (const ok of [
    'a',
    '0f8fad5b-d9cb-469f-a165-70867728950e',
    'Root=1-5759e988-bd862e3fe1be46a994272793',
    'x'.repeat(MAX_REQUEST_ID_LENGTH),
  ]) {
    assert.ok(isValidRequestId(ok), ok);
    assert.equal(requestIdFrom(ok), ok);
  }
  for (const bad of ['', 'a b', 'a,b', 'a;b', 'a"b', 'line\nbreak', 'tab\t', 'é', 'x'.repeat(MAX_REQUEST_ID_LENGTH + 1)]) {
    assert.ok(!isValidRequestId(bad), JSON.stringify(bad));
    assert.match(requestIdFrom(bad), /^[0-9a-f-]{36}$/);
  }
  assert.match(requestIdFrom(['a', 'b']), /^[0-9a-f-]{36}$/, 'several header lines are not one id');
  assert.notEqual(requestIdFrom(undefined), requestIdFrom(undefined));
});

test('paths without query values keep names, drop values and bare segments', () => {
  assert.equal(pathWithoutValues('/a'), '/a');
  assert.equal(pathWithoutValues('/a?'), '/a');
  assert.equal(pathWithoutValues('/a?x=1&y=&z'), '/a?x=&y=');
  assert.equal(pathWithoutValues('/a?SECRET'), '/a');
  assert.equal(pathWithoutValues('/a?=v&k=v'), '/a?k=');
  // An absolute-form target's credentials (refused 400, but logged).
  assert.equal(pathWithoutValues('http://alice:S3CRET@h/api?x=1'), 'http://alice:<hidden>@h/api?x=');
  assert.equal(pathWithoutValues('http://TOKEN@h/a'), 'http://<hidden>@h/a');
});

function capture(): { lines: Record<string, unknown>[]; logger: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: pino(sink) };
}

const entry = (over: Partial<AccessEntry> = {}): AccessEntry => ({
  reqId: 'r1',
  method: 'GET',
  route: '/api/*',
  url: '/api/x?token=SECRET&page=2',
  status: 200,
  ms: 1.23456,
  bytesIn: 0,
  bytesOut: 120,
  cache: undefined,
  upstreamMs: undefined,
  aborted: false,
  client: '127.0.0.1',
  ...over,
});

test('access log switches: off, query values (secrets still hidden), probes', async () => {
  const off = capture();
  createAccessLog({ logger: off.logger, enabled: false, query: false, probes: false }).write(entry());
  const query = capture();
  createAccessLog({ logger: query.logger, enabled: true, query: true, probes: false }).write(entry());
  // Without probes, a probe route is left out unless it was refused (a token being guessed).
  const noProbes = capture();
  const skipping = createAccessLog({ logger: noProbes.logger, enabled: true, query: false, probes: false });
  skipping.write(entry({ route: '/metrics', url: '/metrics' }));
  skipping.write(entry({ route: '/metrics', url: '/metrics', status: 401 }));
  const probes = capture();
  const withProbes = createAccessLog({ logger: probes.logger, enabled: true, query: false, probes: true });
  withProbes.write(entry({ route: '/health/live', url: '/health/live' }));
  withProbes.write(entry({ url: `/api/${'p'.repeat(3 * MAX_LOGGED_PATH)}`, status: 499, aborted: true }));
  await new Promise((r) => setImmediate(r));
  assert.equal(off.lines.length, 0);
  assert.deepEqual(
    noProbes.lines.map((l) => l.status),
    [401],
  );
  assert.equal(query.lines[0]!.path, '/api/x?token=<hidden>&page=2');
  assert.equal(query.lines[0]!.ms, 1.23);
  assert.equal(probes.lines[0]!.route, '/health/live');
  assert.equal((probes.lines[1]!.path as string).length, MAX_LOGGED_PATH);
  assert.equal(probes.lines[1]!.aborted, true);
  assert.equal(probes.lines[1]!.msg, `GET ${probes.lines[1]!.path as string} 499 1.23ms`);
});

test('pretty format: one readable line, fields as key=value, error stacks bounded, non-JSON passed through', () => {
  const line = prettyLine(
    JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 0, 1, 12, 0, 1, 234),
      pid: 1,
      hostname: 'h',
      msg: 'GET /a 200 1ms',
      reqId: 'r1',
      path: '/a b',
      n: 3,
    }),
  );
  assert.equal(line, '12:00:01.234 INFO  GET /a 200 1ms reqId=r1 path="/a b" n=3\n');
  const err = new Error('boom');
  err.stack = ['Error: boom', ...Array.from({ length: 50 }, (_, i) => `    at f${i} (x.js:1:1)`)].join('\n');
  const withErr = prettyLine(
    JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { type: 'Error', message: 'boom', stack: err.stack, code: 'E1' } }),
  );
  const rows = withErr.trimEnd().split('\n');
  assert.match(rows[0]!, /^00:00:00\.000 ERROR failed$/);
  assert.equal(rows[1], '    code=E1');
  assert.equal(rows.length, 1 + 1 + 20 + 1, 'head, code, 20 stack lines, "… more"');
  assert.equal(prettyLine('not json'), 'not json\n');
  const long = prettyLine(JSON.stringify({ level: 30, time: 0, msg: 'x', big: 'y'.repeat(3 * MAX_PRETTY_LINE) }));
  assert.equal(long.length, MAX_PRETTY_LINE + 1);
  assert.equal(prettyLine(JSON.stringify({ level: 40, time: 0, msg: 'w' }), true).includes('\x1b[33mWARN'), true);
});

test('pretty format: terminal control characters in messages and values are escaped, never written raw', () => {
  const line = prettyLine(
    JSON.stringify({ level: 30, time: 0, msg: 'a\u001b[31mred', path: '/x\u001b]0;title\u0007', c1: 'ok\u0085', o: { k: '\u009b' } }),
  );
  assert.ok(![...line.trimEnd()].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f)), line);
  assert.match(line, /a\\u001b\[31mred/);
  assert.match(line, /c1="ok\\u0085"/);
  // Keys too, and the bidi overrides that make the text after them read backwards.
  const odd = prettyLine(JSON.stringify({ level: 30, time: 0, msg: 'm', 'k\nfake=1': 'v\u202egnp.exe', '\u001b[2J': 1 }));
  assert.ok(![...odd.trimEnd()].some((c) => c.charCodeAt(0) < 0x20 || c === '\u202e'), odd);
  assert.match(odd, /"k\\nfake=1"="v\\u202egnp\.exe"/);
  assert.match(odd, /"\\u001b\[2J"=1/);
  const marks = prettyLine(JSON.stringify({ level: 30, time: 0, msg: 'm', '': 2, v: 'x\u200fy\u061c' }));
  assert.match(marks, / ""=2 /, 'an empty key is quoted');
  assert.match(marks, /v="x\\u200fy\\u061c"/, 'bidi marks escaped');
});

test('pretty format: a line whose own time Date cannot hold is shown at the current time, not thrown', () => {
  const line = prettyLine('{"level":30,"time":1,"msg":"x","time":1e20}');
  assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}x\n$/);
});

test('LOG_FORMAT=pretty: the gateway logger writes pretty lines to its destination and JSON stays the default', async () => {
  const out: string[] = [];
  const dest = { write: (s: string) => void out.push(s) };
  for (const format of ['pretty', 'json']) {
    const { config } = loadConfig({ env: { LOG_FORMAT: format } });
    const { logger } = await createGatewayLogger(config, dest);
    logger.info({ reqId: 'abc' }, 'hello');
  }
  assert.match(out[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello reqId=abc\n$/);
  assert.equal(JSON.parse(out[1]!).msg, 'hello');
  assert.throws(() => loadConfig({ env: { LOG_FORMAT: 'yaml' } }), /LOG_FORMAT.*json, pretty/s);
  // Several lines in one write stay several lines.
  const many: string[] = [];
  createPrettyDestination({ write: (s: string) => void many.push(s) }).write(
    '{"level":30,"time":0,"msg":"a"}\n{"level":30,"time":0,"msg":"b"}\n',
  );
  assert.equal(many.join(''), '00:00:00.000 INFO  a\n00:00:00.000 INFO  b\n');
});

test('request metrics: past MAX_SERIES combinations new ones share one overflow series per status class', async () => {
  const m = new RequestMetrics();
  // An unknown method and an impossible status get fixed labels; a status no RFC names, its class.
  m.observe('/r0', 'BREW', 999, 0.2);
  m.observe('/r0', 'GET', 237, 0.2);
  for (let i = 0; i < MAX_SERIES + 50; i++) m.observe(`/r${i}`, 'GET', 200, 0.01);
  // Server errors first seen after the cap still say they are server errors (status=~"5.." rules).
  m.observe('/late', 'DELETE', 502, 0.01);
  m.observe('/late', 'DELETE', 599, 0.01);
  assert.equal(m.size, MAX_SERIES + 2);
  const registry = new Registry();
  m.register(registry);
  const text = await registry.metrics();
  assert.match(text, new RegExp(`^headroom_http_requests_total\\{route="${OVERFLOW_ROUTE}",method="OTHER",status="2xx"\\} 52$`, 'm'));
  assert.match(text, new RegExp(`^headroom_http_requests_total\\{route="${OVERFLOW_ROUTE}",method="OTHER",status="5xx"\\} 2$`, 'm'));
  assert.match(text, /^headroom_http_requests_total\{route="\/r0",method="GET",status="2xx"\} 1$/m);
  assert.match(text, /^headroom_http_request_duration_seconds_count\{route="overflow",method="OTHER",status_class="5xx"\} 2$/m);
  assert.match(text, /^headroom_http_requests_total\{route="\/r0",method="OTHER",status="other"\} 1$/m);
  assert.match(text, /^headroom_http_request_duration_seconds_bucket\{route="\/r0",method="OTHER",status_class="other",le="0\.25"\} 1$/m);
});

test('request metrics: 499 keeps its code; requests refused before routing are counted, not timed', async () => {
  const m = new RequestMetrics();
  m.observe('/api/*', 'GET', 499, 0.3);
  m.observe(REJECTED_ROUTE, 'OTHER', 400, 0);
  const registry = new Registry();
  m.register(registry);
  const text = await registry.metrics();
  assert.match(text, /^headroom_http_requests_total\{route="\/api\/\*",method="GET",status="499"\} 1$/m);
  assert.match(text, /^headroom_http_requests_total\{route="rejected",method="OTHER",status="400"\} 1$/m);
  assert.doesNotMatch(text, /^headroom_http_request_duration_seconds\w*\{route="rejected"/m, 'no 0-s samples in the latency histogram');
});

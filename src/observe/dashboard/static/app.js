// The dashboard page: asks for the admin token once per tab, draws the monitor's history, then
// follows the live feed. Everything it fetches comes from the same origin, with the token in the
// Authorization header.
import { createCharts } from './charts.js';
import { check, follow } from './feed.js';
import * as f from './format.js';

const TOKEN_KEY = 'headroom.adminToken';
const byId = (id) => document.getElementById(id);
const api = new URL(document.body.dataset.api || './', location.href);
const el = {
  status: byId('status'),
  summary: byId('heap-summary'),
  connection: byId('connection'),
  login: byId('login'),
  token: byId('token'),
  loginMessage: byId('login-message'),
  message: byId('message'),
  panels: byId('panels'),
};

let session;

function askToken(message) {
  session?.abort();
  session = undefined;
  sessionStorage.removeItem(TOKEN_KEY);
  el.panels.hidden = true;
  el.login.hidden = false;
  el.loginMessage.textContent = message ?? '';
  el.connection.textContent = 'not connected';
  el.connection.dataset.state = 'off';
  el.token.focus();
}

el.login.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = el.token.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  el.token.value = '';
  start(token);
});

function showMessage(text) {
  el.message.hidden = !text;
  el.message.textContent = text ?? '';
}

function setStatus(status) {
  el.status.textContent = status;
  el.status.dataset.status = status;
}

/** Text with one bold value; `level` colours it (warning, critical). */
function figures(id, parts) {
  const p = byId(id);
  p.replaceChildren(
    ...parts.flatMap(([label, value, level], i) => {
      const b = document.createElement('b');
      b.textContent = value;
      if (level) b.dataset.status = level;
      return [i ? ' · ' : '', `${label} `, b];
    }),
  );
}

const level = (percent, t) =>
  percent === null ? undefined : percent >= t.criticalPercent ? 'critical' : percent >= t.warningPercent ? 'warning' : undefined;

/** Per-second differences of counters between frames (GC pauses, cache lookups, shed requests). */
function differ() {
  let prev;
  return (frame) => {
    const d = prev && {
      gcPauseMs: frame.gc && prev.gc ? frame.gc.pauseMs - prev.gc.pauseMs : 0,
      hits: frame.cache && prev.cache ? frame.cache.hits - prev.cache.hits : 0,
      misses: frame.cache && prev.cache ? frame.cache.misses - prev.cache.misses : 0,
      shed: frame.proxy && prev.proxy ? frame.proxy.shed - prev.proxy.shed : 0,
      seconds: Math.max(0.001, (frame.t - prev.t) / 1000),
    };
    prev = frame;
    return d;
  };
}

function drawHistory(charts, h) {
  const xs = h.series.timestamp.map((t) => t / 1000);
  const flat = (v) => xs.map(() => v);
  charts.heap.load(xs, [h.series.heapUsed, flat((h.heapLimit * h.thresholds.warningPercent) / 100), flat(h.heapLimit)]);
  charts.rss.load(xs, [h.series.rss, flat(h.rssLimit)]);
  charts.loop.load(xs, [h.series.eventLoopDelayP99, h.series.eventLoopUtilization]);
  const last = h.series.status.at(-1);
  if (last) setStatus(last);
}

/** When the heap reaches its limit at the post-GC trend, in words. */
const untilLimit = (g) =>
  g.secondsToLimit !== null ? f.duration(g.secondsToLimit) : g.bytesPerHour === null ? 'not known yet' : 'never at this rate';

function drawFrame(charts, frame, d) {
  const x = frame.t / 1000;
  const t = frame.thresholds;
  setStatus(frame.status);
  el.summary.textContent = `heap ${f.percent(frame.heap.percent)} of ${f.bytes(frame.heap.limit)}`;

  charts.heap.push(x, [frame.heap.used, (frame.heap.limit * t.warningPercent) / 100, frame.heap.limit]);
  figures('fig-heap', [
    [
      'used',
      `${f.bytes(frame.heap.used)} of ${f.bytes(frame.heap.limit)} (${f.percent(frame.heap.percent)})`,
      level(frame.heap.percent, t),
    ],
    ['warning at', f.percent(t.warningPercent)],
    ['critical at', f.percent(t.criticalPercent)],
  ]);

  const g = frame.postGc;
  charts.postgc.push(x, [g.heap]);
  figures('fig-postgc', [
    ['after GC', g.heap === null ? 'no full GC yet' : f.bytes(g.heap)],
    ['trend', f.rate(g.bytesPerHour)],
    ['limit in', untilLimit(g), g.secondsToLimit !== null && g.secondsToLimit < 3600 ? 'critical' : undefined],
  ]);

  charts.rss.push(x, [frame.rss.bytes, frame.rss.limit]);
  figures(
    'fig-rss',
    frame.rss.limit === null
      ? [
          ['RSS', f.bytes(frame.rss.bytes)],
          ['limit', 'none (no cgroup limit)'],
        ]
      : [
          [
            'RSS',
            `${f.bytes(frame.rss.bytes)} of ${f.bytes(frame.rss.limit)} (${f.percent(frame.rss.percent)})`,
            level(frame.rss.percent, t),
          ],
        ],
  );

  charts.loop.push(x, [frame.eventLoop.delayP99, frame.eventLoop.utilizationPercent]);
  figures('fig-loop', [
    ['delay p99', f.ms(frame.eventLoop.delayP99)],
    ['utilisation', f.percent(frame.eventLoop.utilizationPercent)],
  ]);

  // Hidden unless the gateway counts GC pauses (MEMORY_GC_PAUSES).
  panel('fig-gc', frame.gc, (g) => {
    if (d) charts.gc.push(x, [d.gcPauseMs / d.seconds]);
    return [
      ['collections', String(g.count)],
      ['paused', f.ms(g.pauseMs)],
      ['longest', f.ms(g.maxPauseMs)],
    ];
  });

  panel('fig-cache', frame.cache, (c) => {
    const lookups = d ? d.hits + d.misses : 0;
    charts.cache.push(x, [c.bytes, lookups ? (d.hits / lookups) * 100 : null]);
    const l2 = c.l2 ? `${c.l2.kind} ${c.l2.state}` : 'none';
    return [
      ['L1', `${f.bytes(c.bytes)} of ${f.bytes(c.maxBytes)}`],
      ['hit ratio', f.percent(c.hitRatio * 100)],
      ['L2', l2, c.l2 && c.l2.state !== 'up' ? 'critical' : undefined],
    ];
  });
  panel('fig-proxy', frame.proxy, (p) => {
    charts.proxy.push(x, [p.inFlight, p.queued, p.latencyP99]);
    return [
      ['in flight', String(p.inFlight)],
      ['queued', String(p.queued)],
      ['shed', `${p.shed}${d && d.shed ? ` (+${d.shed})` : ''}`, d && d.shed ? 'warning' : undefined],
      ['latency p50/p99', `${f.ms(p.latencyP50)} / ${f.ms(p.latencyP99)}`],
    ];
  });
  panel('fig-image', frame.image, (q) => {
    charts.image.push(x, [q.active, q.queued]);
    return [
      ['active', String(q.active)],
      ['queued', `${q.queued} of ${q.queueSize}`],
    ];
  });
}

/** A part the app does not have (no cache, proxy or image) hides its panel. */
function panel(id, part, draw) {
  const section = byId(id).closest('section');
  section.hidden = part === null;
  if (part !== null) figures(id, draw(part));
}

async function start(token) {
  session?.abort();
  const controller = new AbortController();
  session = controller;
  el.login.hidden = true;
  el.panels.hidden = false;
  showMessage();
  const charts = (start.charts ??= createCharts(byId));
  const headers = { authorization: `Bearer ${token}` };
  try {
    const res = await check(await fetch(new URL('memory-history', api), { headers, cache: 'no-store', signal: controller.signal }));
    drawHistory(charts, await res.json());
  } catch (err) {
    if (controller.signal.aborted) return;
    if (err.status === 401 || err.status === 403) return askToken(err.message);
    showMessage(`history not loaded: ${err.message}`);
  }
  const diff = differ();
  await follow(new URL('dashboard/feed', api), token, {
    signal: controller.signal,
    onFrame: (frame) => {
      showMessage();
      drawFrame(charts, frame, diff(frame));
    },
    onState: (state, err) => {
      el.connection.textContent = state === 'live' ? 'live' : 'reconnecting…';
      el.connection.dataset.state = state;
      if (err) showMessage(err.message);
    },
    onFatal: (err) => askToken(err.message),
  });
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else askToken();

// The dashboard in a real Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
// browser is ever downloaded): the page asks for the token, shows the status, a chart moves within
// 2 s, the badge turns critical within 2 s of the monitor, and the strict CSP reports nothing.
// UPDATE_DASHBOARD_SCREENSHOT=1 rewrites docs/dashboard.png (from the real gateway under traffic).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_TOKEN, startGateway } from '../../helpers/gateway.js';
import { request } from '../../helpers/http.js';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { waitFor } from '../../helpers/wait.js';
import { startDashboardApp, TOKEN } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function chromiumOrSkip(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.HEADROOM_REQUIRE_CHROMIUM === '1' || process.env.CI === 'true') {
    throw new Error(`${CHROMIUM} is required (HEADROOM_REQUIRE_CHROMIUM=1 or CI) but missing (apt-get install -y chromium)`);
  }
  console.warn(`\n*** SKIP dashboard browser test: ${CHROMIUM} is missing (apt-get install -y chromium) ***\n`);
  return false;
}

/** A browser with a fresh profile, closed (and the profile removed) after `use`. */
async function withBrowser(
  use: (context: BrowserContext, profile: string) => Promise<void>,
  viewport = { width: 1400, height: 1000 },
): Promise<void> {
  const profile = mkdtempSync(join(tmpdir(), 'headroom-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport, args: ARGS });
  try {
    await use(context, profile);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Console errors and page errors (a CSP violation is a console error). */
function problemsOf(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => void (m.type() === 'error' && problems.push(m.text())));
  page.on('pageerror', (e) => problems.push(String(e)));
  return problems;
}

const points = async (page: Page, chart: string): Promise<number> => Number(await page.getAttribute(chart, 'data-points'));

async function logIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.waitForSelector('#login:not([hidden])', { timeout: 5_000 });
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
}

test(
  'real Chromium: token asked once, status shown, charts move, badge critical within 2 s, no CSP violation',
  { timeout: 90_000 },
  async (t) => {
    if (!chromiumOrSkip()) return t.skip('chromium missing');
    const d = await startDashboardApp();
    try {
      await withBrowser(async (context) => {
        const page = context.pages()[0] ?? (await context.newPage());
        const problems = problemsOf(page);
        const urls: string[] = [];
        const authorized: string[] = [];
        page.on('request', (r) => {
          urls.push(r.url());
          if (r.headers().authorization === `Bearer ${TOKEN}`) authorized.push(new URL(r.url()).pathname);
        });

        // A wrong token brings the prompt back with the server's message.
        await logIn(page, `${d.url}/dashboard`, 'a-wrong-token-of-enough-length');
        await page.waitForSelector('#login:not([hidden])', { timeout: 5_000 });
        assert.match((await page.textContent('#login-message')) ?? '', /wrong admin token/);

        await page.fill('#token', TOKEN);
        await page.click('#login button[type=submit]');
        await page.waitForSelector('#status[data-status=healthy]', { timeout: 5_000 });
        assert.equal(await page.isHidden('#login'), true, 'the token form is gone once the token is taken');

        // A chart updates within 2 s (frames every DASHBOARD_INTERVAL = 1 s).
        const before = await points(page, '#chart-heap');
        await waitFor(async () => (await points(page, '#chart-heap')) > before, 'the heap chart to take a new point', 2_000, 50);

        // The page keeps the token for the tab: a reload goes straight to the data.
        await page.reload();
        await page.waitForSelector('#status[data-status=healthy]', { timeout: 5_000 });
        assert.equal(await page.isHidden('#login'), true, 'no second token prompt in the same tab');

        // Critical: the monitor sees 95 % of the heap limit on its next sample (100 ms).
        d.mem.setHeapRatio(0.95);
        const started = performance.now();
        await page.waitForSelector('#status[data-status=critical]', { timeout: 2_000 });
        console.log(`dashboard badge turned critical ${(performance.now() - started).toFixed(0)} ms after the heap crossed the threshold`);
        assert.equal(d.monitor.status(), 'critical');
        assert.equal(await page.textContent('#status'), 'critical');

        assert.deepEqual(
          problems.filter((p) => !p.includes('401')),
          [],
          'no console error but the wrong token',
        );
        assert.ok(!urls.some((u) => u.includes(TOKEN)), `the token is never in a URL: ${urls.join(', ')}`);
        assert.ok(authorized.includes('/admin/memory-history') && authorized.includes('/admin/dashboard/feed'), authorized.join(', '));
        assert.ok(
          urls.every((u) => u.startsWith(d.url)),
          `everything from the same origin: ${urls.join(', ')}`,
        );
      });
    } finally {
      await d.close();
    }
  },
);

test('the app closes with a browser still watching, and leaves no handle', { timeout: 60_000 }, async (t) => {
  if (!chromiumOrSkip()) return t.skip('chromium missing');
  await withBrowser(async (context) => {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp();
      const page = context.pages()[0] ?? (await context.newPage());
      await logIn(page, `${d.url}/dashboard`, TOKEN);
      await page.waitForSelector('#connection[data-state=live]', { timeout: 5_000 });
      const started = performance.now();
      await d.close();
      assert.ok(performance.now() - started < 2_000, 'an open feed does not hold the close');
      await page.close();
    });
  });
});

test('real Chromium on the real gateway under traffic: every panel fills in; the docs screenshot', { timeout: 90_000 }, async (t) => {
  if (!chromiumOrSkip()) return t.skip('chromium missing');
  const gw = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
  let traffic = true;
  // Bounded background load on the demo origin: JSON through the proxy, slow answers, image transforms.
  const image = `/image?url=${encodeURIComponent(`${gw.gw.upstreamUrl}/images/demo.jpg`)}&w=240`;
  const paths = ['/api/items', '/api/items/3', '/api/slow?ms=40', image];
  const load = (async () => {
    for (let i = 0; traffic && i < 400; i++) await request(`${gw.url}${paths[i % paths.length]}`);
  })();
  try {
    await withBrowser(
      async (context, profile) => {
        const page = context.pages()[0] ?? (await context.newPage());
        const problems = problemsOf(page);
        await logIn(page, `${gw.url}/dashboard`, ADMIN_TOKEN);
        await page.waitForSelector('#status[data-status=healthy]', { timeout: 5_000 });
        for (const panel of ['#fig-cache', '#fig-proxy', '#fig-image']) {
          assert.equal(await page.isVisible(panel), true, `${panel} is shown: the gateway has that part`);
        }
        await waitFor(async () => (await points(page, '#chart-proxy')) >= 6, 'six proxy points', 15_000, 100);
        assert.match((await page.textContent('#fig-proxy')) ?? '', /latency p50\/p99 \d/);
        assert.match((await page.textContent('#fig-cache')) ?? '', /L2 disk up/);
        const shot = process.env.UPDATE_DASHBOARD_SCREENSHOT === '1' ? 'docs/dashboard.png' : join(profile, 'dashboard.png');
        await page.screenshot({ path: shot, fullPage: true });
        assert.deepEqual(problems, []);
      },
      { width: 1400, height: 900 },
    );
  } finally {
    traffic = false;
    await load;
    await gw.close();
  }
});

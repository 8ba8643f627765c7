// The dashboard in a real Chromium (Debian's /usr/bin/chromium driven by playwright-core; no
// browser is ever downloaded): the page asks for the token, shows the status, a chart moves within
// 2 s, the badge turns critical within 2 s of the monitor, and the strict CSP reports nothing.
// HEADROOM_UPDATE_SCREENSHOT=1 rewrites docs/dashboard.png.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { assertNoLeakedHandles } from '../../helpers/resources.js';
import { startDashboardApp, TOKEN } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';

function chromiumOrSkip(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.HEADROOM_REQUIRE_CHROMIUM === '1')
    throw new Error(`${CHROMIUM} is required (HEADROOM_REQUIRE_CHROMIUM=1) but missing (apt-get install -y chromium)`);
  console.warn(`\n*** SKIP dashboard browser test: ${CHROMIUM} is missing (apt-get install -y chromium) ***\n`);
  return false;
}

test(
  'real Chromium: token asked once, status shown, charts move, badge critical within 2 s, no CSP violation',
  { timeout: 90_000 },
  async (t) => {
    if (!chromiumOrSkip()) return t.skip('chromium missing');
    const profile = mkdtempSync(join(tmpdir(), 'headroom-chromium-'));
    const d = await startDashboardApp();
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));
      const urls: string[] = [];
      const authorized: string[] = [];
      page.on('request', (r) => {
        urls.push(r.url());
        if (r.headers().authorization === `Bearer ${TOKEN}`) authorized.push(new URL(r.url()).pathname);
      });

      await page.goto(`${d.url}/dashboard`);
      await page.waitForSelector('#login:not([hidden])', { timeout: 5_000 });
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#status[data-status=healthy]', { timeout: 5_000 });
      assert.equal(await page.isHidden('#login'), true, 'the token form is gone once the token is taken');

      // A chart updates within 2 s (frames every DASHBOARD_INTERVAL = 1 s).
      const points = Number(await page.getAttribute('#chart-heap', 'data-points'));
      await page.waitForFunction(`Number(document.querySelector('#chart-heap').dataset.points) > ${points}`, null, { timeout: 2_000 });

      // The page keeps the token for the tab: a reload goes straight to the data.
      await page.reload();
      await page.waitForSelector('#status[data-status=healthy]', { timeout: 5_000 });
      assert.equal(await page.isHidden('#login'), true, 'no second token prompt in the same tab');

      // Critical: the monitor sees 95 % of the heap limit on its next sample (100 ms).
      d.mem.setHeapRatio(0.95);
      const started = performance.now();
      await page.waitForSelector('#status[data-status=critical]', { timeout: 2_000 });
      const tookMs = performance.now() - started;
      console.log(`dashboard badge turned critical ${tookMs.toFixed(0)} ms after the heap crossed the threshold`);
      assert.equal(d.monitor.status(), 'critical');

      await page.waitForFunction(`Number(document.querySelector('#chart-heap').dataset.points) >= 3`, null, { timeout: 5_000 });
      const shot = process.env.HEADROOM_UPDATE_SCREENSHOT === '1' ? 'docs/dashboard.png' : join(profile, 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });

      assert.deepEqual(problems, [], 'no console error (a CSP violation is one)');
      assert.ok(!urls.some((u) => u.includes(TOKEN)), `the token is never in a URL: ${urls.join(', ')}`);
      assert.ok(authorized.includes('/admin/memory-history') && authorized.includes('/admin/dashboard/feed'), authorized.join(', '));
      assert.ok(
        urls.every((u) => u.startsWith(d.url)),
        `everything from the same origin: ${urls.join(', ')}`,
      );
    } finally {
      await context.close();
      await d.close();
      rmSync(profile, { recursive: true, force: true });
    }
  },
);

test('the app closes with a browser still watching, and leaves no handle', { timeout: 60_000 }, async (t) => {
  if (!chromiumOrSkip()) return t.skip('chromium missing');
  const profile = mkdtempSync(join(tmpdir(), 'headroom-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    await assertNoLeakedHandles(async () => {
      const d = await startDashboardApp();
      const page = context.pages()[0] ?? (await context.newPage());
      await page.goto(`${d.url}/dashboard`);
      await page.fill('#token', TOKEN);
      await page.click('#login button[type=submit]');
      await page.waitForSelector('#connection[data-state=live]', { timeout: 5_000 });
      const started = performance.now();
      await d.close();
      assert.ok(performance.now() - started < 2_000, 'an open feed does not hold the close');
      await page.close();
    });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

// The transfer budget: everything the page loads (found by following the page's src/href and the
// scripts' imports, not from a list), as gzip on the wire, is at most 60 KB.
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ASSET_NAMES } from '../../../src/observe/dashboard/assets.js';
import { startDashboardApp } from './helpers.js';

const BUDGET = 60_000; // 60 KB, decimal: the stricter reading

/** Raw bytes on the wire (still gzipped) and the decoded text. */
function fetchRaw(url: string): Promise<{ status: number; wire: number; text: string; encoding?: string }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': 'gzip, deflate, br' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const encoding = res.headers['content-encoding'];
        resolve({
          status: res.statusCode ?? 0,
          wire: raw.length,
          text: (encoding === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'),
          encoding,
        });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('page, scripts, styles and uPlot together are at most 60 KB gzip', async () => {
  const d = await startDashboardApp();
  try {
    const pageUrl = `${d.url}/dashboard`;
    const seen = new Map<string, number>();
    const queue = [pageUrl];
    while (queue.length > 0) {
      const url = queue.shift()!;
      if (seen.has(url)) continue;
      const r = await fetchRaw(url);
      assert.equal(r.status, 200, url);
      assert.equal(r.encoding, 'gzip', `${url} is served gzipped`);
      seen.set(url, r.wire);
      const refs = url.endsWith('.css')
        ? []
        : url.endsWith('.js')
          ? [...r.text.matchAll(/\bfrom\s+'(\.\/[^']+)'/g)].map((m) => m[1]!)
          : [...r.text.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith('data:'));
      for (const ref of refs) queue.push(new URL(ref, url).href);
    }
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    console.log(`dashboard transfer: ${total} bytes gzip over ${seen.size} files (budget ${BUDGET})`);
    for (const [url, n] of seen) console.log(`  ${String(n).padStart(6)} ${new URL(url).pathname}`);
    assert.ok(total <= BUDGET, `the page loads ${total} bytes gzip, over the ${BUDGET} budget`);
    // Every file the server ships is one the page loads (no dead weight), and the other way round.
    assert.deepEqual(
      [...seen.keys()].map((u) => new URL(u).pathname).sort(),
      ['/dashboard', ...ASSET_NAMES.map((n) => `/dashboard/${n}`)].sort(),
    );
  } finally {
    await d.close();
  }
});

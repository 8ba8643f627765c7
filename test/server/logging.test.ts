import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from '../helpers/http.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';
import { waitFor } from '../helpers/wait.js';

// The access log keeps parameter names and drops their values (ACCESS_LOG_QUERY=false, the default).
test('secrets in request URLs never reach the log; paths and parameter names do', async () => {
  await assertNoLeakedHandles(async () => {
    const t = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN });
    try {
      const signed = encodeURIComponent('https://img.example.com/a.jpg?X-Amz-Credential=AKIAXCRED&X-Amz-Signature=SIGNED456&s=IMGIX789');
      const cases: [target: string, status: number, secrets: string[], kept: string[]][] = [
        ['/admin/cache-stats?token=SECRET123', 401, ['SECRET123'], ['/admin/cache-stats?token=']],
        // Under /admin every value is hidden, whatever its name.
        ['/admin/memory-stats?t=ADMINVAL1&BAREVAL2', 401, ['ADMINVAL1', 'BAREVAL2'], ['/admin/memory-stats?t=']],
        [`/image?url=${signed}&w=100`, 403, ['AKIAXCRED', 'SIGNED456', 'IMGIX789'], ['/image?url=&w=']],
        ['/image/meta?url=https://user:USERINFOPW@img.example.com/a.jpg', 403, ['USERINFOPW'], ['/image/meta?url=']],
        // Proxied requests skip Fastify; their access line follows the same rule.
        ['/api/items?api_key=KEY789&access_token=ACC000', 200, ['KEY789', 'ACC000'], ['/api/items?api_key=&access_token=']],
        ['/nowhere?password=PW4242&Signature=SIG4242', 404, ['PW4242', 'SIG4242'], ['/nowhere?password=']],
      ];
      for (const [target, status, secrets, kept] of cases) {
        const before = t.logs.length;
        const res = await request(`${t.url}${target}`);
        assert.equal(res.status, status, `${target}: ${res.text}`);
        // The access line is written when the response closes, which may follow the client's read.
        const lines = await waitFor(
          () => {
            const l = t.logs.slice(before).join('\n');
            return kept.every((k) => l.includes(k)) ? l : undefined;
          },
          `${kept.join(', ')} in the log`,
        ).catch(() => t.logs.slice(before).join('\n'));
        for (const s of secrets) assert.ok(!lines.includes(s), `${s} was logged:\n${lines}`);
        for (const k of kept) assert.ok(lines.includes(k), `${k} missing from the log:\n${lines}`);
      }
      await t.close();
      const all = t.logs.join('\n');
      for (const s of cases.flatMap((c) => c[2])) assert.ok(!all.includes(s), `${s} was logged`);
    } finally {
      await t.close();
    }
  });
});

// Codes the gateway itself raises (configuration, routes, admin API, HTTP parsing), through real sockets.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { ADMIN_TOKEN, startGateway } from '../helpers/gateway.js';
import { request } from '../helpers/http.js';
import { collect, completeResponse, openSocket, rawRequest } from '../helpers/raw-http.js';
import { openFeed } from '../observe/dashboard/helpers.js';
import { auth, fromRaw, fromRejection, fromResponse, sharedGateway, type Cases } from './fixtures.js';

export const serverCases: Cases = {
  HEADROOM_CONFIG_INVALID: () => fromRejection((async () => loadConfig({ env: { PORT: 'eighty' } }))()),

  HEADROOM_BAD_REQUEST: async () => {
    const gw = await sharedGateway();
    return fromResponse(await request(`${gw.url}/admin/cache/invalidate`, { method: 'POST', headers: auth }));
  },

  HEADROOM_NOT_FOUND: async () => fromResponse(await request(`${(await sharedGateway()).url}/no-such-route`)),
  // A POST-only admin route asked with GET.
  HEADROOM_METHOD_NOT_ALLOWED: async () => fromResponse(await request(`${(await sharedGateway()).url}/admin/gc`, { headers: auth })),

  // An expectation HTTP/1.1 does not define.
  HEADROOM_EXPECTATION_FAILED: async () =>
    fromRaw(
      await rawRequest(
        (await sharedGateway()).url,
        'POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 200-ok\r\n\r\n',
        completeResponse,
      ),
    ),

  HEADROOM_REQUEST_TIMEOUT: async () => {
    // An upload that stalls for CLIENT_TIMEOUT (500 ms) while it holds an upstream slot.
    const s = await openSocket((await sharedGateway()).url);
    return fromRaw(await collect(s, 'POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nx', completeResponse));
  },

  HEADROOM_HEADERS_TOO_LARGE: async () =>
    fromRaw(
      await rawRequest(
        (await sharedGateway()).url,
        `GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`,
        completeResponse,
      ),
    ),

  HEADROOM_ADMIN_DISABLED: async () => {
    const gw = await startGateway(); // no HEADROOM_ADMIN_TOKEN
    try {
      return fromResponse(await request(`${gw.url}/admin/memory-stats`, { headers: auth }));
    } finally {
      await gw.close();
    }
  },

  HEADROOM_UNAUTHORIZED: async () =>
    fromResponse(
      await request(`${(await sharedGateway()).url}/admin/memory-stats`, {
        headers: { authorization: 'Bearer wrong-token-0123456789abcdef' },
      }),
    ),

  HEADROOM_RATE_LIMITED: async () => {
    const gw = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, ADMIN_RATE_LIMIT: '1' });
    try {
      await request(`${gw.url}/admin/memory-stats`, { headers: auth });
      return fromResponse(await request(`${gw.url}/admin/memory-stats`, { headers: auth }));
    } finally {
      await gw.close();
    }
  },

  HEADROOM_INTERNAL: async () => {
    // A failure no code stands for: the snapshot directory cannot be created (a file put in its way
    // after start-up, whose check it passed).
    const dir = mkdtempSync(join(tmpdir(), 'headroom-internal-'));
    const gw = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, HEAP_SNAPSHOT_DIR: join(dir, 'snapshots') });
    writeFileSync(join(dir, 'snapshots'), '');
    try {
      return fromResponse(await request(`${gw.url}/admin/heap-snapshot`, { method: 'POST', headers: auth }));
    } finally {
      await gw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },

  HEADROOM_DASHBOARD_FULL: async () => {
    // One viewer allowed: a second feed is refused while the first is open.
    const gw = await startGateway({ HEADROOM_ADMIN_TOKEN: ADMIN_TOKEN, DASHBOARD_MAX_VIEWERS: '1' });
    const first = await openFeed(`${gw.url}/admin/dashboard/feed`, auth);
    try {
      return fromResponse(await request(`${gw.url}/admin/dashboard/feed`, { headers: auth }));
    } finally {
      first.close();
      await gw.close();
    }
  },

  HEADROOM_SNAPSHOT_REFUSED: async () =>
    // HEAP_SNAPSHOT_DIR_MAX_BYTES is 1 MiB: a snapshot of this heap would not fit, so none is written.
    fromResponse(await request(`${(await sharedGateway()).url}/admin/heap-snapshot`, { method: 'POST', headers: auth })),
};

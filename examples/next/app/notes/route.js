// The app's own JSON route: an auth check (a bearer token, APP_TOKEN), then the JSON body, inside
// withHeadroom (shed with 503 + Retry-After while memory is critical; counted in flight).
import { withHeadroom } from 'headroom-memory/next';
import { headroomConfig } from '../../headroom.config.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const APP_TOKEN = process.env.APP_TOKEN || 'dev-token';

export const POST = withHeadroom(async (request) => {
  if (request.headers.get('authorization') !== `Bearer ${APP_TOKEN}`) {
    return Response.json({ error: 'missing or wrong bearer token' }, { status: 401 });
  }
  const body = await request.json().catch(() => undefined);
  const text = typeof body?.text === 'string' ? body.text : '';
  if (!text) return Response.json({ error: 'body must be {"text": "…"}' }, { status: 400 });
  return Response.json({ note: { text, length: text.length } }, { status: 201 });
}, headroomConfig);

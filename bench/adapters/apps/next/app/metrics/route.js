// GET /metrics from headroom in the headroom variant; the bare app has no such route (404).
import { createMetricsRoute } from 'headroom-memory/next';
import { headroomConfig, withHeadroomOn } from '../../headroom.config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const notFound = async () => new Response(null, { status: 404 });
export const { GET } = withHeadroomOn() ? createMetricsRoute(headroomConfig) : { GET: notFound };

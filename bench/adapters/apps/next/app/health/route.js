// GET /health from headroom in the headroom variant; the bare app has no such route (404).
import { createHealthRoute } from 'headroom-memory/next';
import { headroomConfig, withHeadroomOn } from '../../headroom.config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const notFound = async () => new Response(null, { status: 404 });
const route = withHeadroomOn() ? createHealthRoute('health', headroomConfig) : { GET: notFound, HEAD: notFound };
export const { GET, HEAD } = route;

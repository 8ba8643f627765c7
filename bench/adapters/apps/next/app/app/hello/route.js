// The app's one JSON route; wrapped by withHeadroom (shedding, in-flight count) in the headroom variant.
import { withHeadroom } from 'headroom-memory/next';
import { headroomConfig, withHeadroomOn } from '../../../headroom.config';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const hello = async () => Response.json({ hello: 'world' });

export const GET = withHeadroomOn() ? withHeadroom(hello, headroomConfig) : hello;

import { createHealthRoute } from 'headroom-memory/next';
import { headroomConfig } from '../../headroom.config.js';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';
export const { GET, HEAD } = createHealthRoute('health', headroomConfig);

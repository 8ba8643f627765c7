// The conformance suite (suite.ts) against the fastify fixture (test/fixtures/apps/fastify).
import { runConformance } from './suite.js';

runConformance('fastify');

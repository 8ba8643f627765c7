// The conformance suite (suite.ts) against the nest-fastify fixture (test/fixtures/apps/nest-fastify).
import { runConformance } from './suite.js';

runConformance('nest-fastify');

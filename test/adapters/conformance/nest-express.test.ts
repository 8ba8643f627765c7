// The conformance suite (suite.ts) against the nest-express fixture (test/fixtures/apps/nest-express).
import { runConformance } from './suite.js';

runConformance('nest-express');

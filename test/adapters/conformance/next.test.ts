// The conformance suite (suite.ts) against the next fixture (test/fixtures/apps/next).
import { runConformance } from './suite.js';

runConformance('next');

// The conformance suite (suite.ts) against the express fixture (test/fixtures/apps/express).
import { runConformance } from './suite.js';

runConformance('express');

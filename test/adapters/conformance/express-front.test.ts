// The conformance suite (suite.ts) against the Express fixture with headroom in front of the app
// (http.createServer(hr.handler(app)), test/fixtures/apps/express-front) instead of its middleware.
import { runConformance } from './suite.js';

runConformance('express-front');

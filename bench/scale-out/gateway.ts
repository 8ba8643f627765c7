// One gateway of bench/scale-out, in a process of its own (as in production: one event loop per
// instance). Configured by the environment the bench gives it; argv[2] is the fraction of incoming
// cache bus messages it loses on purpose. Prints {"url": …} once it listens; SIGTERM closes it.
import { loadConfig } from '../../src/config/index.js';
import { createGateway } from '../../src/server/gateway.js';

const drop = Number(process.argv[2] ?? '0');
if (!(drop >= 0 && drop <= 1)) throw new Error(`drop fraction must be between 0 and 1, got ${process.argv[2]}`);
const { config } = loadConfig({ env: process.env });
const gw = await createGateway(config, { busFaults: { dropIncoming: () => drop > 0 && Math.random() < drop } });
const url = await gw.listen();
process.stdout.write(`${JSON.stringify({ url })}\n`);
process.once('SIGTERM', () => {
  void gw.close().then(() => process.exit(0));
});

// Preload (`--import tsx --import test/helpers/module-log.ts`, with MODULE_LOG=file): appends the
// URL of every ES module the process loads to the file, so a test can tell whether a module was
// loaded at all (ES modules are not in require.cache). The hook runs in Node's loader thread.
import { register } from 'node:module';

const hook = `import { appendFileSync } from 'node:fs';
let file;
export function initialize(data) { file = data.file; }
export async function load(url, context, next) { appendFileSync(file, url + '\\n'); return next(url, context); }`;

const file = process.env.MODULE_LOG;
if (!file) throw new Error('module-log: set MODULE_LOG to the file the loaded modules are written to');
register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { file } });

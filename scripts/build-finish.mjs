// What a build does after tsc, on its output folder `dist` (the ESM build, with the CommonJS one
// in dist/cjs): shared by the package build (scripts/build.mjs) and the tests' build of the package
// (test/helpers/install.ts), so that the tests install what npm publishes.
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} root the repository  @param {string} dist the build's output folder */
export function finishBuild(root, dist) {
  // Marks the CommonJS tree as such for Node and for TypeScript.
  writeFileSync(join(dist, 'cjs/package.json'), '{ "type": "commonjs" }\n');
  // The dashboard page's own files (plain JS, CSS, HTML; no bundler) sit next to the module that serves them.
  for (const out of [dist, join(dist, 'cjs')])
    cpSync(join(root, 'src/observe/dashboard/static'), join(out, 'observe/dashboard/static'), { recursive: true });
  // next/image's loader file is one module for both package conditions, the CommonJS one, whose
  // module.exports is the loader itself (with .default and .createImageLoader): with
  // serverExternalPackages Next.js loads an ES module asynchronously on the server, which next/image
  // cannot call while rendering; a CommonJS one it requires synchronously. Its default is the loader
  // on every side (Node's ESM import, bundlers' interop, require).
  appendFileSync(join(dist, 'cjs/adapters/next/image-loader.js'), 'module.exports = Object.assign(exports.default, exports);\n');
}

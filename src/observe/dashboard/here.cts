// CommonJS in both builds (a .cts file compiles to .cjs), so __dirname and require.resolve name the
// page's files whether headroom was loaded with import or with require.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the form a .cts file imports with under verbatimModuleSyntax
import path = require('node:path');

export = {
  /** The page's own files (index.html, app.js, …), shipped next to this module. */
  staticDir: path.join(__dirname, 'static'),
  /** A file of the installed uplot package (its browser build and stylesheet); resolved when the page is first served. */
  uplotFile: (name: 'uPlot.iife.min.js' | 'uPlot.min.css'): string => require.resolve(`uplot/dist/${name}`),
};

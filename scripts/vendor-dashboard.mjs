// Copies the dashboard's front-end libraries from node_modules into
// src/modules/admin/dashboard/public/vendor/ (committed: the dashboard needs no build step and no
// CDN). Run after changing their versions in package.json: `npm run vendor:dashboard`.
//   preact + preact/hooks (MIT), htm (Apache-2.0): the UI; uPlot (MIT): the charts.
// preact/hooks imports the bare specifier "preact", which a browser cannot resolve without an
// import map (an inline script the page's CSP forbids): it is rewritten to the file beside it.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'src/modules/admin/dashboard/public/vendor');
const pkgDir = (name) => join(root, 'node_modules', name);
const version = (name) => JSON.parse(readFileSync(join(pkgDir(name), 'package.json'), 'utf8')).version;

mkdirSync(out, { recursive: true });
const banner = (name, license) => `/* ${name} ${version(name)} (${license}), vendored by scripts/vendor-dashboard.mjs */\n`;
writeFileSync(join(out, 'preact.mjs'), banner('preact', 'MIT') + readFileSync(join(pkgDir('preact'), 'dist/preact.mjs'), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, ''));
writeFileSync(
  join(out, 'preact-hooks.mjs'),
  banner('preact', 'MIT') +
    readFileSync(join(pkgDir('preact'), 'hooks/dist/hooks.mjs'), 'utf8').replace(/from\s*"preact"/g, 'from"./preact.mjs"').replace(/\n\/\/# sourceMappingURL=.*$/m, ''),
);
writeFileSync(join(out, 'htm.mjs'), banner('htm', 'Apache-2.0') + readFileSync(join(pkgDir('htm'), 'dist/htm.mjs'), 'utf8'));
writeFileSync(join(out, 'uPlot.iife.min.js'), banner('uplot', 'MIT') + readFileSync(join(pkgDir('uplot'), 'dist/uPlot.iife.min.js'), 'utf8'));
copyFileSync(join(pkgDir('uplot'), 'dist/uPlot.min.css'), join(out, 'uPlot.min.css'));
console.log(`vendored into ${out}`);

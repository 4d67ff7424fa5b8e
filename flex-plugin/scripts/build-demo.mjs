// Bundles the demo agent page (src/demo/main.tsx with the plugin's modules,
// React included) for `bridge demo`, into the Go package that embeds it.
// `node scripts/build-demo.mjs --check` fails when the committed bundle is stale.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = path.join(root, '..', 'test', 'agentdemo', 'static', 'agent.js');
const check = process.argv.includes('--check');

const result = await build({
  entryPoints: [path.join(root, 'src', 'demo', 'main.tsx')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2019'],
  define: { 'process.env.NODE_ENV': '"production"', 'process.env.FLEX_APP_BRIDGE_URL': 'undefined' },
  legalComments: 'none',
  write: !check,
  outfile: out,
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs)[0].bytes;
if (check) {
  const built = result.outputFiles[0].text;
  if (readFileSync(out, 'utf8') !== built) {
    console.error(`${path.relative(process.cwd(), out)} is stale: run npm run build:demo in flex-plugin and commit it`);
    process.exit(1);
  }
  console.log(`demo bundle up to date (${bytes} bytes)`);
} else {
  console.log(`wrote ${path.relative(process.cwd(), out)} (${bytes} bytes)`);
}

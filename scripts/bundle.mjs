// Bundles the `bottle` CLI into dist/cli-bundle/: one entry and a few chunks
// (each command and each heavy daemon stays behind its own dynamic import).
// Why: a `bottle run` pays for every module it loads before the guest starts,
// and resolving and compiling hundreds of small files (zod, execa, the MCP
// SDK) cost more than the work itself (measured: `bottle plan` 0.35 s from
// dist/, 0.25 s bundled). The library API (`import ... from 'claude-bottle'`)
// stays tsc's dist/index.js with its types.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const out = path.join(root, 'dist', 'cli-bundle');
rmSync(out, { recursive: true, force: true });
await build({
  entryPoints: [path.join(root, 'cli', 'bin.ts')],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  chunkNames: 'chunks/[name]-[hash]',
  // Dependencies written as CommonJS call require(): give every chunk one.
  banner: { js: "import { createRequire as __bottleCreateRequire } from 'node:module'; const require = __bottleCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});
writeFileSync(path.join(out, 'package.json'), '{ "type": "module" }\n');

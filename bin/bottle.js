#!/usr/bin/env node
// The published entry. It first checks the Node version with nothing but
// Node's own modules (the CLI and its dependencies fail in obscure ways on an
// older Node), then runs the bundled CLI (scripts/bundle.mjs): built
// JavaScript, since Node does not strip types under node_modules.
import { readFileSync } from 'node:fs';

// The one required version: `engines.node` of package.json (">=22.18").
const wanted = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node.replace(/^>=\s*/, '');
const [major, minor] = process.versions.node.split('.').map(Number);
const [needMajor, needMinor = 0] = wanted.split('.').map(Number);
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  process.stderr.write(
    `bottle needs Node >= ${wanted} (this is ${process.versions.node}): install Node 24 LTS ` +
      `(https://nodejs.org, or \`nvm install 24\`) and run bottle with it\n`,
  );
  process.exit(1);
}
await import('../dist/cli-bundle/bin.js');

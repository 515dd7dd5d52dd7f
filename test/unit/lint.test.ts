// The import boundaries are the linter's to keep (eslint.config.js): a file
// that crosses one fails `npm test`. Each case writes a small offending file
// where it would be in the tree, lints it, and removes it.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';

const ESLINT = path.join(ROOT, 'node_modules/eslint/bin/eslint.js');

async function lint(rel: string, text: string) {
  const file = path.join(ROOT, rel);
  writeFileSync(file, text);
  try {
    return await execa(process.execPath, [ESLINT, '--max-warnings', '0', rel], { cwd: ROOT, reject: false });
  } finally {
    rmSync(file, { force: true });
  }
}

const tag = `lint-fixture-${process.pid}`;

describe('the linter keeps the boundaries', () => {
  it.each([
    ['core importing a plugin', `core/${tag}.ts`, `import { egress } from '../plugins/egress/index.ts';\nexport const x = egress;\n`, /core\/ never imports plugins/],
    ["a plugin importing another plugin's internals", `plugins/claude/${tag}.ts`, `import { startProxy } from '../egress/proxy.ts';\nexport const x = startProxy;\n`, /another plugin's index\.ts only/],
    ['lib importing core', `lib/${tag}.ts`, `import { BottleError } from '../core/errors.ts';\nexport const x = BottleError;\n`, /lib\/ is below/],
    ["the CLI importing a plugin's internals", `cli/${tag}.ts`, `import { startProxy } from '../plugins/egress/proxy.ts';\nexport const x = startProxy;\n`, /the CLI imports plugins' index\.ts only/],
    ['a floating promise', `core/${tag}.ts`, `export function f(p: Promise<void>): void {\n  p.then(() => {});\n}\n`, /no-floating-promises/],
  ])('%s fails', async (_what, rel, text, message) => {
    const r = await lint(rel, text);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(message);
  }, 120_000);

  it("a plugin importing core, lib and another plugin's index.ts passes", async () => {
    const r = await lint(`plugins/claude/${tag}.ts`, `import type { BottlePlugin } from '../../core/hooks.ts';\nimport { canonicalHost } from '../../lib/hosts.ts';\nimport type { EgressApi } from '../egress/index.ts';\nexport type X = [BottlePlugin, EgressApi];\nexport const c = canonicalHost;\n`);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  }, 120_000);
});

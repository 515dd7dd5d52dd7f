// The types a config or plugin author's editor sees, from the built
// declarations, in a project that has zod but not @types/node: every
// `@ts-expect-error` in test/types/ must be an error and nothing else may be.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.ts';

const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');

describe('the public types', () => {
  it('type a config and a plugin without @types/node, and refuse typos, non-plugins and wrong option types', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-types-'));
    const pkg = path.join(dir, 'node_modules/claude-bottle');
    // Declarations only, built outside the repo so nothing finds its node_modules/@types.
    const built = await execa(process.execPath, [TSC, '-p', path.join(ROOT, 'tsconfig.build.json'), '--emitDeclarationOnly', '--outDir', path.join(pkg, 'dist')], { reject: false });
    expect(built.exitCode, built.stdout + built.stderr).toBe(0);
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'claude-bottle', type: 'module', exports: { '.': { types: './dist/index.d.ts' } } }));
    const deps = Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: object }).dependencies);
    for (const d of deps) {
      mkdirSync(path.dirname(path.join(dir, 'node_modules', d)), { recursive: true });
      symlinkSync(path.join(ROOT, 'node_modules', d), path.join(dir, 'node_modules', d));
    }
    cpSync(path.join(ROOT, 'test/types'), dir, { recursive: true });
    const r = await execa(process.execPath, [TSC, '-p', path.join(dir, 'tsconfig.json')], { reject: false });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  }, 120_000);
});

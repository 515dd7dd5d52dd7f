// fetchClaudeBinary without the network: npm is replaced by a fake that packs a
// tiny `package/claude` into a real tarball; tar is the real one.

import type * as Execa from 'execa';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BottleError } from '../../../core/errors.ts';

const npm = vi.hoisted(() => ({
  calls: [] as string[][],
  /** What the fake `npm` does; set per test. */
  impl: undefined as undefined | ((args: string[]) => Promise<{ stdout: string }>),
}));

vi.mock('execa', async (importOriginal) => {
  const real = await importOriginal<typeof Execa>();
  const execa = vi.fn((file: string, args: string[], opts?: object) => {
    if (file === 'npm') {
      npm.calls.push(args);
      if (!npm.impl) throw new Error('npm must not be called in this test');
      return npm.impl(args);
    }
    return real.execa(file, args, opts);
  });
  return { ...real, execa };
});

const {
  DEFAULT_CLAUDE_VERSION,
  bottleCacheRoot,
  cachedClaudeBinary,
  claudeCacheDir,
  fetchClaudeBinary,
  listCachedClaudeVersions,
  resolveClaudeVersion,
} = await import('../../../core/image/claude-binary.ts');
const { execa: realExeca } = await vi.importActual<typeof Execa>('execa');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'claude-binary-test-'));
  npm.calls = [];
  npm.impl = undefined;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake `npm pack`: writes a real .tgz holding package/claude (and a README) into --pack-destination. */
function fakeNpmPack(content: string, layout: 'ok' | 'no-binary' = 'ok') {
  return async (args: string[]): Promise<{ stdout: string }> => {
    const dest = args[args.indexOf('--pack-destination') + 1]!;
    const spec = args[1]!;
    const staging = await mkdtemp(join(tmpdir(), 'fake-npm-'));
    await mkdir(join(staging, 'package'));
    await writeFile(join(staging, 'package', 'README.md'), 'readme');
    if (layout === 'ok') await writeFile(join(staging, 'package', 'claude'), content, { mode: 0o644 });
    const filename = `${spec.replace(/^@/, '').replace('/', '-').replace(/@(?=[^@]*$)/, '-')}.tgz`;
    await realExeca('tar', ['-czf', join(dest, filename), '-C', staging, 'package']);
    await rm(staging, { recursive: true, force: true });
    return { stdout: `npm notice something\n${JSON.stringify([{ filename, name: spec }], null, 2)}` };
  };
}

describe('resolveClaudeVersion', () => {
  it('is the pinned default without BOTTLE_CLAUDE_VERSION', () => {
    expect(resolveClaudeVersion({})).toBe(DEFAULT_CLAUDE_VERSION);
    expect(resolveClaudeVersion({ BOTTLE_CLAUDE_VERSION: '  ' })).toBe(DEFAULT_CLAUDE_VERSION);
    expect(DEFAULT_CLAUDE_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('honours BOTTLE_CLAUDE_VERSION', () => {
    expect(resolveClaudeVersion({ BOTTLE_CLAUDE_VERSION: '2.0.1' })).toBe('2.0.1');
    vi.stubEnv('BOTTLE_CLAUDE_VERSION', '9.9.9');
    try {
      expect(resolveClaudeVersion()).toBe('9.9.9');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('cache location', () => {
  it('is BOTTLE_CACHE_DIR, else XDG_CACHE_HOME/claude-bottle, else ~/.cache/claude-bottle', () => {
    expect(bottleCacheRoot({ BOTTLE_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(bottleCacheRoot({ XDG_CACHE_HOME: '/x' })).toBe('/x/claude-bottle');
    expect(bottleCacheRoot({})).toMatch(/\/\.cache\/claude-bottle$/);
  });

  it('is per arch and per version under the cache root', () => {
    expect(claudeCacheDir({ version: '1.2.3', arch: 'arm64', cacheDir: '/c' })).toBe('/c/claude-code/arm64/1.2.3');
  });
});

describe('fetchClaudeBinary', () => {
  it('refuses an unsupported architecture with a BottleError, without calling npm', async () => {
    const err = await fetchClaudeBinary({ version: '1.2.3', arch: 'ia32', cacheDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BottleError);
    const be = err as BottleError;
    expect(be.code).toBe('IMAGE');
    expect(be.message).toContain("'ia32'");
    expect(be.hint).toMatch(/x64 and arm64/);
    expect(npm.calls).toEqual([]);
  });

  it('refuses a version that is not exact (it becomes a path and an npm spec)', async () => {
    for (const version of ['latest', '^2.0.0', '../../etc', '']) {
      const err = await fetchClaudeBinary({ version, arch: 'x64', cacheDir: dir }).catch((e: unknown) => e);
      expect(err, version).toBeInstanceOf(BottleError);
      expect((err as BottleError).hint).toContain('BOTTLE_CLAUDE_VERSION');
    }
    expect(npm.calls).toEqual([]);
  });

  it('uses a cached binary without calling npm', async () => {
    const versionDir = join(dir, 'claude-code', 'arm64', '1.2.3');
    await mkdir(versionDir, { recursive: true });
    await writeFile(join(versionDir, 'claude'), '#!/bin/sh\necho fake\n');
    await chmod(join(versionDir, 'claude'), 0o755);
    const progress: string[] = [];

    const bin = await fetchClaudeBinary({ version: '1.2.3', arch: 'arm64', cacheDir: dir, onProgress: (m) => progress.push(m) });

    expect(bin).toBe(join(versionDir, 'claude'));
    expect(npm.calls).toEqual([]);
    expect(progress.join('\n')).toMatch(/found in cache/);
    expect(await cachedClaudeBinary({ version: '1.2.3', arch: 'arm64', cacheDir: dir })).toBe(bin);
  });

  it('on a miss, packs the arch package with npm, extracts package/claude executable, and caches it', async () => {
    npm.impl = fakeNpmPack('the binary');

    const bin = await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir });

    expect(npm.calls).toHaveLength(1);
    expect(npm.calls[0]!.slice(0, 2)).toEqual(['pack', '@anthropic-ai/claude-code-linux-x64@1.2.3']);
    expect(npm.calls[0]!.join(' ')).not.toMatch(/registry/);
    expect(bin).toBe(join(dir, 'claude-code', 'x64', '1.2.3', 'claude'));
    expect(await readFile(bin, 'utf8')).toBe('the binary');
    // Only the binary stays: no tarball, no package dir, no temp dir beside it.
    expect(await readdir(join(dir, 'claude-code', 'x64', '1.2.3'))).toEqual(['claude']);
    expect(await readdir(join(dir, 'claude-code', 'x64'))).toEqual(['1.2.3']);
    expect(await listCachedClaudeVersions({ arch: 'x64', cacheDir: dir })).toEqual(['1.2.3']);

    // Second time: the cache, no npm.
    expect(await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir })).toBe(bin);
    expect(npm.calls).toHaveLength(1);
  });

  it('asks for the arm64 package on arm64', async () => {
    npm.impl = fakeNpmPack('arm');
    await fetchClaudeBinary({ version: '1.2.3', arch: 'arm64', cacheDir: dir });
    expect(npm.calls[0]![1]).toBe('@anthropic-ai/claude-code-linux-arm64@1.2.3');
  });

  it('replaces a half-written cache entry (no executable binary) by a fresh fetch', async () => {
    const versionDir = join(dir, 'claude-code', 'x64', '1.2.3');
    await mkdir(versionDir, { recursive: true });
    await writeFile(join(versionDir, 'claude'), 'truncated'); // not executable
    npm.impl = fakeNpmPack('whole');
    const bin = await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir });
    expect(npm.calls).toHaveLength(1);
    expect(await readFile(bin, 'utf8')).toBe('whole');
  });

  it('leaves no cache entry and no temp dir when npm fails, and says what to check', async () => {
    npm.impl = () => Promise.reject(Object.assign(new Error('Command failed'), { stderr: 'npm error 404 Not Found - GET https://registry/x' }));
    const err = await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BottleError);
    const be = err as BottleError;
    expect(be.code).toBe('IMAGE');
    expect(be.message).toContain('@anthropic-ai/claude-code-linux-x64@1.2.3');
    expect(be.message).toContain('404');
    expect(be.hint).toContain('BOTTLE_CLAUDE_VERSION');
    expect(await readdir(join(dir, 'claude-code', 'x64'))).toEqual([]);
    expect(await cachedClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir })).toBeUndefined();
  });

  it('leaves no cache entry when the package has no package/claude', async () => {
    npm.impl = fakeNpmPack('', 'no-binary');
    const err = await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BottleError);
    expect((err as BottleError).message).toMatch(/extract/);
    expect(await readdir(join(dir, 'claude-code', 'x64'))).toEqual([]);
  });

  it('stops before npm when the signal is already aborted', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await fetchClaudeBinary({ version: '1.2.3', arch: 'x64', cacheDir: dir, signal: ac.signal }).catch((e: unknown) => e);
    expect((err as BottleError).code).toBe('ABORTED');
    expect(npm.calls).toEqual([]);
  });
});

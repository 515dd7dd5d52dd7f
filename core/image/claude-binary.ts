// The Claude Code binary for the agent image, fetched on the host so that the
// image build itself needs no network.
//
// Claude Code ships per-platform npm packages (`@anthropic-ai/claude-code-linux-x64`,
// `...-linux-arm64`) whose tarball holds a single self-contained executable at
// `package/claude` (~360 MB unpacked). We `npm pack` it from whatever registry npm
// is configured with (npm verifies the tarball's integrity), extract it with `tar`,
// and keep it in a per-arch, per-version cache:
//
//   <cache root>/claude-code/<arch>/<version>/claude
//
// where <cache root> is opts.cacheDir, else $BOTTLE_CACHE_DIR, else
// $XDG_CACHE_HOME/claude-bottle, else ~/.cache/claude-bottle.
//
// The version dir is assembled in a temp dir beside it and renamed into place, so
// a crash never leaves a half-written cache entry behind.

import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { BottleError, describeError } from '../errors.ts';

/** The Claude Code version the agent image gets unless told otherwise. */
export const DEFAULT_CLAUDE_VERSION = '2.1.330';

/** npm package name of the Claude Code binary for each supported (Node-style) arch. */
const PACKAGE_BY_ARCH: Partial<Record<NodeJS.Architecture, string>> = {
  x64: '@anthropic-ai/claude-code-linux-x64',
  arm64: '@anthropic-ai/claude-code-linux-arm64',
};

/** Where the executable sits inside the package tarball. */
const BINARY_IN_TARBALL = 'package/claude';

/** An exact version (no ranges or tags): it is part of a cache path and an npm spec. */
const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** `BOTTLE_CLAUDE_VERSION` if set (and non-empty), else {@link DEFAULT_CLAUDE_VERSION}. */
export function resolveClaudeVersion(env: NodeJS.ProcessEnv = process.env): string {
  const v = env['BOTTLE_CLAUDE_VERSION']?.trim();
  return v ? v : DEFAULT_CLAUDE_VERSION;
}

/** The project's cache root: $BOTTLE_CACHE_DIR, else $XDG_CACHE_HOME/claude-bottle, else ~/.cache/claude-bottle. */
export function bottleCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  const own = env['BOTTLE_CACHE_DIR'];
  if (own) return own;
  const xdg = env['XDG_CACHE_HOME'];
  return join(xdg ? xdg : join(homedir(), '.cache'), 'claude-bottle');
}

/** The npm package holding the Linux binary for `arch`; a BottleError for any other arch. */
export function claudePackageFor(arch: NodeJS.Architecture): string {
  const pkg = PACKAGE_BY_ARCH[arch];
  if (!pkg) {
    throw new BottleError(`Claude Code has no Linux binary for architecture '${arch}'`, {
      code: 'IMAGE',
      hint: `The agent image can be built for ${Object.keys(PACKAGE_BY_ARCH).join(' and ')} only; use a Docker engine (or base image) of one of those architectures.`,
    });
  }
  return pkg;
}

function checkVersion(version: string): void {
  if (!VERSION_RE.test(version)) {
    throw new BottleError(`'${version}' is not an exact Claude Code version`, {
      code: 'IMAGE',
      hint: `Give an exact version such as ${DEFAULT_CLAUDE_VERSION} (BOTTLE_CLAUDE_VERSION); ranges and tags like 'latest' are not accepted.`,
    });
  }
}

/** The cache dir for one arch and version (whether or not it exists yet). */
export function claudeCacheDir(opts: { version: string; arch?: NodeJS.Architecture; cacheDir?: string }): string {
  const arch = opts.arch ?? process.arch;
  claudePackageFor(arch);
  checkVersion(opts.version);
  return join(opts.cacheDir ?? bottleCacheRoot(), 'claude-code', arch, opts.version);
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const st = await stat(path);
    if (!st.isFile() || st.size === 0) return false;
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The cached binary for this arch and version, or undefined when not cached. Never touches the network. */
export async function cachedClaudeBinary(opts: {
  version: string;
  arch?: NodeJS.Architecture;
  cacheDir?: string;
}): Promise<string | undefined> {
  const bin = join(claudeCacheDir(opts), 'claude');
  return (await isExecutableFile(bin)) ? bin : undefined;
}

function abortedError(signal: AbortSignal | undefined): BottleError {
  return new BottleError('Fetching Claude Code was interrupted', { code: 'ABORTED', cause: signal?.reason });
}

/**
 * The host path of the `claude` executable for `version` and `arch` (default: this
 * host's arch), fetched with `npm pack` into the cache on first use.
 */
export async function fetchClaudeBinary(opts: {
  version: string;
  arch?: NodeJS.Architecture;
  cacheDir?: string;
  onProgress?: (msg: string) => void;
  signal?: AbortSignal;
}): Promise<string> {
  const arch = opts.arch ?? process.arch;
  const pkg = claudePackageFor(arch);
  const finalDir = claudeCacheDir({ ...opts, arch });
  const cached = await cachedClaudeBinary({ ...opts, arch });
  if (cached) {
    opts.onProgress?.(`Claude Code ${opts.version} (${arch}) found in cache: ${cached}`);
    return cached;
  }
  if (opts.signal?.aborted) throw abortedError(opts.signal);

  const spec = `${pkg}@${opts.version}`;
  const archDir = join(finalDir, '..');
  await mkdir(archDir, { recursive: true });
  // A leftover of a crashed earlier fetch (e.g. a dir without the binary) is replaced.
  await rm(finalDir, { recursive: true, force: true });
  const tmp = await mkdtemp(join(archDir, `.${opts.version}.tmp-`));
  try {
    opts.onProgress?.(`Downloading ${spec} with npm pack (the binary is ~380 MB unpacked) ...`);
    let tarball: string;
    try {
      const res = await execa('npm', ['pack', spec, '--json', '--pack-destination', tmp], {
        cwd: tmp,
        ...(opts.signal ? { cancelSignal: opts.signal } : {}),
        // npm may print notices on stdout before the JSON; keep only what we parse.
        stdin: 'ignore',
      });
      tarball = join(tmp, tarballName(res.stdout));
    } catch (e) {
      if (opts.signal?.aborted) throw abortedError(opts.signal);
      throw new BottleError(`Could not download Claude Code (${spec}) with npm pack: ${lastLine(e)}`, {
        code: 'IMAGE',
        hint: `Check that npm can reach its registry (\`npm view ${pkg} version\`) and that version ${opts.version} exists; set BOTTLE_CLAUDE_VERSION to choose another.`,
        cause: e,
      });
    }

    opts.onProgress?.(`Extracting ${BINARY_IN_TARBALL} from ${tarball} ...`);
    try {
      await execa('tar', ['-xzf', tarball, '-C', tmp, BINARY_IN_TARBALL], { ...(opts.signal ? { cancelSignal: opts.signal } : {}), stdin: 'ignore' });
    } catch (e) {
      if (opts.signal?.aborted) throw abortedError(opts.signal);
      throw new BottleError(`Could not extract the Claude Code binary from ${spec}: ${lastLine(e)}`, {
        code: 'IMAGE',
        hint: `The package layout may have changed (expected ${BINARY_IN_TARBALL}); try another version with BOTTLE_CLAUDE_VERSION, or report it.`,
        cause: e,
      });
    }
    const extracted = join(tmp, BINARY_IN_TARBALL);
    await rename(extracted, join(tmp, 'claude'));
    await chmod(join(tmp, 'claude'), 0o755);
    await chmod(tmp, 0o755); // mkdtemp made it 0700
    await rm(tarball, { force: true });
    await rm(join(tmp, 'package'), { recursive: true, force: true });

    try {
      await rename(tmp, finalDir);
    } catch (e) {
      // Another fetch finished first: use its result.
      const code = (e as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isExecutableFile(join(finalDir, 'claude')))) {
        await rm(tmp, { recursive: true, force: true });
      } else {
        throw e;
      }
    }
    const bin = join(finalDir, 'claude');
    opts.onProgress?.(`Claude Code ${opts.version} (${arch}) cached at ${bin}`);
    return bin;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    if (e instanceof BottleError) throw e;
    throw new BottleError(`Could not cache the Claude Code binary in ${finalDir}: ${describeError(e)}`, {
      code: 'IMAGE',
      hint: 'Check that the cache dir is writable and has ~400 MB free, or point BOTTLE_CACHE_DIR elsewhere.',
      cause: e,
    });
  }
}

/** The tarball file name from `npm pack --json` output (an array with one entry). */
function tarballName(stdout: string): string {
  const start = stdout.indexOf('[');
  const parsed: unknown = JSON.parse(start >= 0 ? stdout.slice(start) : stdout);
  const first = Array.isArray(parsed) ? (parsed[0] as { filename?: unknown } | undefined) : undefined;
  const name = first?.filename;
  if (typeof name !== 'string' || name.includes('/') || name.includes('\\')) {
    throw new Error(`unexpected npm pack output: ${stdout.slice(0, 200)}`);
  }
  return name;
}

/** The most telling line of a failed subprocess: the last non-empty stderr line, else the message. */
function lastLine(e: unknown): string {
  const stderr = (e as { stderr?: unknown }).stderr;
  if (typeof stderr === 'string') {
    const lines = stderr
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !/Unknown (user|project|global) config/.test(l));
    const err = lines.filter((l) => /err/i.test(l));
    const pick = (err.length ? err : lines).at(-1);
    if (pick) return pick;
  }
  return (e as { shortMessage?: string }).shortMessage ?? describeError(e);
}

/** For tests and `bottle gc`: the versions cached for one arch. */
export async function listCachedClaudeVersions(opts: { arch?: NodeJS.Architecture; cacheDir?: string } = {}): Promise<string[]> {
  const dir = join(opts.cacheDir ?? bottleCacheRoot(), 'claude-code', opts.arch ?? process.arch);
  try {
    return (await readdir(dir)).filter((n) => VERSION_RE.test(n)).sort();
  } catch {
    return [];
  }
}

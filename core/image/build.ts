// Building the agent image: image/Dockerfile on top of a base image, with the
// Claude Code binary fetched on the host (see claude-binary.ts) as the only other
// file of the build context, so the build needs no network.

import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { DockerCli, dockerError } from '../backends/docker-cli.ts';
import { BottleError } from '../errors.ts';
import { bottleCacheRoot, fetchClaudeBinary, resolveClaudeVersion } from './claude-binary.ts';

export const DEFAULT_AGENT_IMAGE = 'claude-bottle-agent:latest';
export const DEFAULT_BASE_IMAGE = 'node:24-bookworm';

/** Labels the agent image carries (the first two are set by the Dockerfile, the version from the CLAUDE_VERSION build arg). */
export const AGENT_IMAGE_LABEL = 'claude-bottle.image';
export const CLAUDE_VERSION_LABEL = 'claude-bottle.claude-version';
export const BASE_IMAGE_LABEL = 'claude-bottle.base';

/** opts.base, else $BOTTLE_BASE_IMAGE, else {@link DEFAULT_BASE_IMAGE}. */
export function resolveBaseImage(base?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (base) return base;
  const fromEnv = env['BOTTLE_BASE_IMAGE']?.trim();
  return fromEnv ? fromEnv : DEFAULT_BASE_IMAGE;
}

const BASE_HINT =
  'Pass --base IMAGE (or set BOTTLE_BASE_IMAGE) to an image that is present locally and provides git, curl, perl, ' +
  'ca-certificates and runuser on glibc; without registry access, scripts/make-base-image.sh builds one ' +
  '(claude-bottle-base:bookworm) with debootstrap.';

/** Docker image architectures to Node-style ones (the npm package names use the latter). */
const NODE_ARCH: Record<string, NodeJS.Architecture> = { amd64: 'x64', x86_64: 'x64', arm64: 'arm64', aarch64: 'arm64' };

/** True when the image exists in the local engine. Throws a BottleError when the engine cannot be asked. */
export async function agentImageExists(tag: string): Promise<boolean> {
  return (await inspectImage(tag)) !== undefined;
}

/** The image's architecture, or undefined when the engine has no such image. */
async function inspectImage(ref: string, signal?: AbortSignal): Promise<{ arch: string } | undefined> {
  const res = await docker(['image', 'inspect', '--format', '{{.Architecture}}', ref], signal);
  if (res.exitCode === 0) return { arch: res.stdout.trim() };
  if (/no such (image|object)/i.test(res.stderr)) return undefined;
  throw dockerError(['image', 'inspect'], res);
}

/** Every docker call of the build goes through the backend's DockerCli (BOTTLE_DOCKER, clear errors). */
function docker(args: string[], signal?: AbortSignal) {
  return new DockerCli().run(args, { signal, allowFailure: true });
}

function aborted(signal: AbortSignal | undefined): BottleError {
  return new BottleError('Building the agent image was interrupted', { code: 'ABORTED', cause: signal?.reason });
}

/** image/Dockerfile of this package, found upward from this module (source tree or dist/). */
export function agentDockerfilePath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'image', 'Dockerfile');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new BottleError('image/Dockerfile of claude-bottle was not found', {
    code: 'IMAGE',
    hint: 'The installation looks incomplete: reinstall claude-bottle (the package ships image/Dockerfile).',
  });
}

/** `docker build` uses BuildKit only when the buildx plugin is there; else the legacy builder. */
async function builderEnv(): Promise<Record<string, string>> {
  if (process.env['DOCKER_BUILDKIT'] !== undefined) return {};
  return (await docker(['buildx', 'version'])).exitCode === 0 ? {} : { DOCKER_BUILDKIT: '0' };
}

/** Make sure the base is present locally (pulling it if it is not); returns its Node-style arch. */
async function ensureBase(base: string, progress: (msg: string) => void, signal?: AbortSignal): Promise<NodeJS.Architecture> {
  let info = await inspectImage(base, signal);
  if (!info) {
    progress(`Base image ${base} is not present locally; pulling it ...`);
    const out: string[] = [];
    const ok = await streamDocker(['pull', base], {}, (l) => {
      out.push(l);
      progress(l);
    }, signal);
    if (!ok) {
      const why = lastMeaningfulLine(out);
      throw new BottleError(
        `Base image ${base} is not present locally and could not be pulled${why ? `: ${why}` : ''}`,
        { code: 'IMAGE', hint: BASE_HINT },
      );
    }
    info = await inspectImage(base, signal);
    if (!info) throw new BottleError(`Base image ${base} is still missing after docker pull`, { code: 'IMAGE', hint: BASE_HINT });
  }
  const arch = NODE_ARCH[info.arch];
  if (!arch) {
    throw new BottleError(`Base image ${base} is for architecture '${info.arch}', which Claude Code does not support`, {
      code: 'IMAGE',
      hint: `Use a linux/amd64 or linux/arm64 base. ${BASE_HINT}`,
    });
  }
  return arch;
}

/** Runs docker, handing each output line (stdout and stderr) to onLine; resolves to whether it succeeded. */
async function streamDocker(
  args: string[],
  env: Record<string, string>,
  onLine: (line: string) => void,
  signal?: AbortSignal,
): Promise<boolean> {
  const sub = execa(new DockerCli().bin, args, {
    env,
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    ...(signal ? { cancelSignal: signal } : {}),
  });
  try {
    for await (const chunk of sub.iterable({ from: 'all' })) {
      // The legacy builder redraws "Sending build context" with carriage returns.
      // The legacy builder also colours RUN's stderr (ESC[91m ... ESC[0m).
      const text = String(chunk).replace(ANSI_RE, '');
      const line = text.split('\r').filter((s) => s.trim()).at(-1)?.trimEnd();
      if (line && !isBuilderNoise(line)) onLine(line);
    }
  } catch {
    // The subprocess result below tells what happened.
  }
  const r = await sub;
  if (r.isCanceled || signal?.aborted) throw aborted(signal);
  if (r.failed && r.exitCode === undefined) throw dockerError([args[0] ?? ''], { exitCode: 1, stdout: '', stderr: r.message ?? 'failed to run' });
  return r.exitCode === 0;
}

 
const ANSI_RE = /\u001b\[[0-9;?]*[A-Za-z]/g;

/** The legacy builder's deprecation notice, printed on every build without buildx. */
function isBuilderNoise(line: string): boolean {
  return (
    /^DEPRECATED: The legacy builder is deprecated/.test(line) ||
    /^\s*Install the buildx component to build images with BuildKit/.test(line) ||
    /^\s*https:\/\/docs\.docker\.com\/go\/buildx\/?\s*$/.test(line) ||
    /^\s*BuildKit is currently disabled; enable it by removing the DOCKER_BUILDKIT=0/.test(line) ||
    /^\s*environment-variable\.\s*$/.test(line)
  );
}

function lastMeaningfulLine(lines: string[]): string | undefined {
  const real = lines.map((l) => l.trim()).filter((l) => l && !isBuilderNoise(l));
  return real.filter((l) => /error|denied|not found|no such|unauthori[sz]ed/i.test(l)).at(-1) ?? real.at(-1);
}

/** A fresh dir for the build context, on the cache's filesystem when possible so the binary can be hard-linked. */
async function makeContextDir(): Promise<string> {
  try {
    const parent = join(bottleCacheRoot(), 'tmp');
    await mkdir(parent, { recursive: true });
    return await mkdtemp(join(parent, 'agent-build-'));
  } catch {
    return mkdtemp(join(tmpdir(), 'claude-bottle-agent-build-'));
  }
}

/**
 * Builds the agent image `tag` from image/Dockerfile on `base`
 * (opts.base ?? $BOTTLE_BASE_IMAGE ?? node:24-bookworm) with Claude Code
 * `claudeVersion` (default: $BOTTLE_CLAUDE_VERSION ?? the pinned version).
 */
export async function buildAgentImage(opts: {
  tag: string;
  base?: string;
  claudeVersion?: string;
  onProgress?: (msg: string) => void;
  signal?: AbortSignal;
}): Promise<void> {
  const progress = opts.onProgress ?? (() => undefined);
  const base = resolveBaseImage(opts.base);
  const version = opts.claudeVersion ?? resolveClaudeVersion();
  const dockerfile = agentDockerfilePath();

  const arch = await ensureBase(base, progress, opts.signal);
  const binary = await fetchClaudeBinary({
    version,
    arch,
    onProgress: progress,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });

  const ctx = await makeContextDir();
  try {
    await copyFile(dockerfile, join(ctx, 'Dockerfile'));
    try {
      await link(binary, join(ctx, 'claude'));
    } catch {
      progress('Copying the Claude Code binary into the build context (no hard link possible) ...');
      await copyFile(binary, join(ctx, 'claude'));
    }

    progress(`Building ${opts.tag} from ${base} with Claude Code ${version} ...`);
    const out: string[] = [];
    const ok = await streamDocker(
      [
        'build',
        '--force-rm',
        '--build-arg', `BASE=${base}`,
        '--build-arg', `CLAUDE_VERSION=${version}`,
        '--label', `${BASE_IMAGE_LABEL}=${base}`,
        '--tag', opts.tag,
        ctx,
      ],
      await builderEnv(),
      (line) => {
        out.push(line);
        if (out.length > 200) out.shift();
        // The legacy builder echoes each whole RUN script; a step's first words say enough.
        progress(/^Step \d+\/\d+ : /.test(line) && line.length > 160 ? `${line.slice(0, 157)}...` : line);
      },
      opts.signal,
    );
    if (!ok) {
      // The Dockerfile's own checks say what is wrong with the base: prefer those.
      // Legacy builder lines are the script's own output; BuildKit's plain progress prefixes "#7 0.123 ".
      const ours = out.flatMap((l) => /^(?:#\d+ [\d.]+ )?claude-bottle: (.*)$/.exec(l)?.slice(1, 2) ?? []);
      const why = ours.length ? ours.join('; ') : (lastMeaningfulLine(out) ?? 'docker build failed');
      throw new BottleError(`Building the agent image ${opts.tag} on ${base} failed: ${why}`, {
        code: 'IMAGE',
        hint: ours.length
          ? BASE_HINT
          : `Run the build by hand to see all of it: docker build --build-arg BASE=${base} -t ${opts.tag} <dir with image/Dockerfile and the claude binary>. ${BASE_HINT}`,
      });
    }
    progress(`Built ${opts.tag} (Claude Code ${version} on ${base})`);
  } finally {
    await rm(ctx, { recursive: true, force: true }).catch(() => undefined);
  }
}

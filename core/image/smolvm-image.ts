// What smolvm boots: a registry reference is pulled by smolvm itself, which a
// bottle (no network) cannot count on, so an image of the local Docker engine
// is handed over as a `docker save` tarball, cached by image id under the
// cache dir. `bottle image build` prepares it; the first smolvm run makes it
// when it is missing. A path (tarball, rootfs dir) or a `.smolmachine` pack
// the user names is used as it is.
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { DockerCli, dockerError } from '../backends/docker-cli.ts';
import { BottleError } from '../errors.ts';
import { bottleCacheRoot } from './claude-binary.ts';
import { DEFAULT_AGENT_IMAGE } from './build.ts';

/** What `machine create` gets: `-I <image>` or `--from <pack>`. */
export type SmolvmImageSource = { kind: 'image'; image: string } | { kind: 'pack'; path: string };

export const smolvmImageDir = (env: NodeJS.ProcessEnv = process.env) => path.join(bottleCacheRoot(env), 'smolvm-images');

/** Whether smolvm reads `ref` as a local path (its own rule: a path prefix or an archive suffix). */
export function looksLocal(ref: string): boolean {
  return ref.startsWith('/') || ref.startsWith('./') || ref.startsWith('../') || /\.(tar|tar\.gz|tgz|smolmachine)$/.test(ref);
}

const fileStem = (ref: string) => ref.replace(/[^\w.-]+/g, '_').slice(0, 100);

/** The cached tarball of a Docker image id (`sha256:...`) for `ref`. */
export function archivePath(ref: string, id: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(smolvmImageDir(env), `${fileStem(ref)}@${id.replace(/^sha256:/, '').slice(0, 16)}.tar`);
}

/** The local Docker engine's id of `ref`, undefined when it has no such image or there is no Docker. */
export async function dockerImageId(ref: string, signal?: AbortSignal): Promise<string | undefined> {
  let r;
  try {
    r = await new DockerCli().run(['image', 'inspect', '--format', '{{.Id}}', ref], { signal, allowFailure: true });
  } catch (e) {
    if (e instanceof BottleError && /was not found/.test(e.message)) return undefined; // no Docker at all
    throw e;
  }
  if (r.exitCode === 0) return r.stdout.trim();
  if (/no such (image|object)/i.test(r.stderr)) return undefined;
  throw dockerError(['image', 'inspect'], r);
}

/**
 * The `docker save` tarball of a local Docker image, made once per image id
 * (written aside and renamed, so a concurrent bottle never boots half a file);
 * older tarballs of the same reference are removed.
 */
export async function prepareSmolvmArchive(ref: string, opts: { signal?: AbortSignal; onProgress?: (m: string) => void } = {}): Promise<string> {
  const id = await dockerImageId(ref, opts.signal);
  if (!id) {
    throw new BottleError(`the image "${ref}" is not in the local Docker engine, so there is nothing to hand to smolvm`, {
      code: ref === DEFAULT_AGENT_IMAGE ? 'NO_IMAGE' : 'IMAGE',
      hint: 'build it with `bottle image build` (or set `image` to a `docker save` tarball, a rootfs dir, a .smolmachine pack or a registry reference)',
    });
  }
  const target = archivePath(ref, id);
  if (existsSync(target)) return target;
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  opts.onProgress?.(`saving ${ref} for smolvm (once per image): ${target}`);
  const tmp = `${target}.${process.pid}.${Date.now()}.part`;
  try {
    const r = await new DockerCli().run(['save', '--output', tmp, id], { signal: opts.signal, allowFailure: true });
    if (r.exitCode !== 0) throw dockerError(['save'], r);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
  const stem = `${fileStem(ref)}@`;
  for (const f of await readdir(path.dirname(target))) {
    if (f.startsWith(stem) && f.endsWith('.tar') && path.join(path.dirname(target), f) !== target) await rm(path.join(path.dirname(target), f), { force: true });
  }
  return target;
}

/** The cached tarball of `ref` when it is prepared for its current image id; undefined otherwise. */
export async function preparedSmolvmArchive(ref: string): Promise<string | undefined> {
  const id = await dockerImageId(ref);
  if (!id) return undefined;
  const p = archivePath(ref, id);
  return existsSync(p) ? p : undefined;
}

/**
 * What smolvm boots for the configured `image`: a `.smolmachine` pack, a
 * tarball or rootfs dir as named (relative to `cwd`), an image of the local
 * Docker engine as its cached tarball, else a registry reference for smolvm
 * to pull.
 */
export async function resolveSmolvmImage(ref: string, opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<SmolvmImageSource> {
  if (looksLocal(ref)) {
    const abs = path.resolve(opts.cwd ?? process.cwd(), ref);
    if (!existsSync(abs)) {
      throw new BottleError(`image "${ref}": ${abs} does not exist`, { code: 'IMAGE', hint: 'name an existing `docker save` tarball, rootfs dir or .smolmachine pack, or an image of the local Docker engine' });
    }
    if (abs.endsWith('.smolmachine')) return { kind: 'pack', path: abs };
    if (!statSync(abs).isDirectory() && !statSync(abs).isFile()) throw new BottleError(`image "${ref}": ${abs} is neither a file nor a directory`, { code: 'IMAGE' });
    return { kind: 'image', image: abs };
  }
  if (await dockerImageId(ref, opts.signal)) return { kind: 'image', image: await prepareSmolvmArchive(ref, opts.signal ? { signal: opts.signal } : {}) };
  if (ref === DEFAULT_AGENT_IMAGE) {
    throw new BottleError(`the image "${ref}" is not on this machine`, { code: 'NO_IMAGE', hint: 'build it with `bottle image build`' });
  }
  return { kind: 'image', image: ref };
}

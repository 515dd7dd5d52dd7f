// The smolvm backend: each bottle is a smolvm machine (a libkrun microVM with
// its own kernel), driven through smolvm's CLI. What smolvm does, as read in
// its 1.9 source (src/cli/machine.rs, crates/smolvm-agent):
//
// - `machine create -- CMD` makes CMD the machine's workload: a container
//   launched at every `machine start`. Every `machine exec` JOINS that
//   container while it runs (`crun exec`: same pid and mount namespaces, same
//   /run), and runs in a fresh container of the same rootfs once it is gone.
//   Every container shares the VM's network namespace (loopback included).
// - With no `--net` (and none of `--allow-cidr`, `--allow-host`, `-p`, `--dns`,
//   `--network`, which we never pass) the VM has no network device at all.
// - `--mount-socket HOST:GUEST` relays a host Unix socket over vsock and
//   bind-mounts it at GUEST in every container; the host end is dialled per
//   connection, so a door's daemon may start after the machine.
//
// So the guest is Docker's, nearly move for move: the workload is the same
// Perl forwarder (forwarder.ts) with the doors as mounted sockets, and every
// exec of ours waits for its ready mark (in the workload's /run, which only a
// joined exec sees) before it runs. A forwarder that could not start leaves no
// workload: the exec lands in a fresh container without the mark and ends
// with FORWARDER_FAILED. When the lifeline closes the forwarder exits, its
// container's pid namespace dies, and every process of ours in it with it.
// Files and post-commands go in as ONE tar on ONE `machine exec -i`; the
// agent runs under `runuser -u node --` (exec has no --user; the image's USER
// is root).
import { statSync } from 'node:fs';
import { GUEST_DOORS_DIR } from '../doors.ts';
import { BottleError } from '../errors.ts';
import { resolveSmolvmImage, type SmolvmImageSource } from '../image/smolvm-image.ts';
import type { ExecSpec, GuestOwner, Mount } from '../plan.ts';
import { LABEL, resourceName } from './docker.ts';
import { FORWARDER_FAILED, forwarderArgv, forwarderFailed, noPerl, READY_MARK } from './forwarder.ts';
import { checkVersion, isMachineNotFound, isNotRunning, SmolvmCli, smolvmError, type SmolvmResult, type SmolvmRunner } from './smolvm-cli.ts';
import type { Backend, BottleRecord, GuestExecOptions, GuestExecResult, GuestHandle, GuestSpec, StartedGuest } from './types.ts';

/** Where the workload's stderr (the forwarder's words) goes: on the rootfs, which a fresh container sees too; root's to write. */
export const FORWARDER_LOG = '/var/log/claude-bottle-forwarder.log';

/**
 * The workload: orphans are reaped (SIGCHLD ignored, inherited by the
 * forwarder, which is pid 1 of its namespace and forks nothing itself) and
 * its stderr is kept for whoever finds it dead; then the forwarder.
 */
export const WORKLOAD_SCRIPT = `trap '' CHLD; exec "$@" 2>${FORWARDER_LOG}`;

/**
 * Every exec goes through this, as on Docker: it waits (up to 5 s) for the
 * forwarder's ready mark, so nothing of ours runs before every door's port is
 * bound by root; exit FORWARDER_FAILED, with the forwarder's words, if it
 * never comes.
 */
export const SMOLVM_READY_GUARD = [
  'sh', '-c',
  `i=0; while [ ! -e ${READY_MARK} ]; do i=$((i+1)); if [ $i -gt 500 ]; then echo "claude-bottle: the guest's forwarder did not start" >&2; cat ${FORWARDER_LOG} >&2 2>/dev/null; exit ${FORWARDER_FAILED}; fi; sleep 0.01; done; exec "$@"`,
  'ready',
];

/** The argv of an exec as `user` (the image's USER is root; exec has no --user). */
export const asUser = (user: GuestOwner, argv: string[]) => (user === 'node' ? ['runuser', '-u', 'node', '--', ...argv] : argv);

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

/** One machine as `machine ls --json` shows it (the fields we read). */
interface MachineJson {
  name: string;
  state: string;
  labels?: Record<string, string> | null;
}

export interface SmolvmBackendOptions {
  cli?: SmolvmRunner;
  /** How the configured image becomes what `machine create` boots (tests replace it). */
  resolveImage?: (image: string, signal?: AbortSignal) => Promise<SmolvmImageSource>;
}

export class SmolvmBackend implements Backend {
  readonly name = 'smolvm' as const;
  readonly cli: SmolvmRunner;
  #resolveImage: (image: string, signal?: AbortSignal) => Promise<SmolvmImageSource>;
  #checked: Promise<string> | undefined;

  constructor(opts: SmolvmBackendOptions = {}) {
    this.cli = opts.cli ?? new SmolvmCli();
    this.#resolveImage = opts.resolveImage ?? ((image, signal) => resolveSmolvmImage(image, signal ? { signal } : {}));
  }

  /** smolvm is there and 1.9 or later (asked once per backend). */
  async check(signal?: AbortSignal): Promise<void> {
    this.#checked ??= checkVersion(this.cli, signal);
    this.#checked.catch(() => (this.#checked = undefined));
    await this.#checked;
  }

  /**
   * create (the doors as mounted sockets, the forwarder as the workload) and
   * start; then ONE `machine exec -i` takes the tar of planned files and runs
   * the post-commands, once the forwarder is ready (without files, an exec
   * that only waits for it). Resolves once the doors are offered.
   */
  async startGuest(spec: GuestSpec): Promise<StartedGuest> {
    const name = resourceName(spec.slug);
    // Bad input first, before anything exists.
    const volumes = spec.mounts.map((m) => volumeArg(m));
    await this.check(spec.signal);
    const image = await this.#resolveImage(spec.image, spec.signal);
    const at = (file: string) => `${spec.doors.hostDir}/${file}:${GUEST_DOORS_DIR}/${file}`;
    const create = [
      'machine', 'create',
      '-n', name,
      ...(image.kind === 'pack' ? ['--from', image.path] : ['-I', image.image]),
      ...labelArgs(spec.labels),
      ...envArgs(spec.env),
      '-w', spec.workdir,
      ...volumes.flatMap((v) => ['-v', v]),
      // The doors: no network flag at all, so the VM has no network device.
      '--mount-socket', at(spec.doors.lifeline),
      ...spec.doors.forwards.flatMap((d) => ['--mount-socket', at(d.socket)]),
      '--',
      'sh', '-c', WORKLOAD_SCRIPT, 'bottle-init',
      ...forwarderArgv({ doorsDir: GUEST_DOORS_DIR, lifeline: spec.doors.lifeline, forwards: spec.doors.forwards }),
    ];
    const created = await this.cli.run(create, { signal: spec.signal, allowFailure: true });
    if (created.exitCode !== 0) throw imageError(spec.image, created) ?? smolvmError(['machine', 'create'], created);
    const started = await this.cli.run(['machine', 'start', '-n', name], { signal: spec.signal, allowFailure: true });
    if (started.exitCode !== 0) throw imageError(spec.image, started) ?? smolvmError(['machine', 'start'], started);

    const guest = this.#handle(name);
    if (!spec.provision) {
      const r = await this.#exec(name, ['true'], { user: 'root', ...(spec.signal ? { signal: spec.signal } : {}) });
      if (r.exitCode !== 0) throw this.#startFailure(r);
      return { guest };
    }
    const r = await this.#exec(name, ['sh', '-c', spec.provision.script], { user: 'root', input: spec.provision.input, ...(spec.signal ? { signal: spec.signal } : {}) });
    if (r.exitCode === 0 || /__bottle_(fail|warn)__/.test(r.stderr)) return { guest, provisioning: { exitCode: r.exitCode, stdout: '', stderr: r.stderr } };
    throw this.#startFailure(r);
  }

  #startFailure(r: SmolvmResult): BottleError {
    if (r.exitCode === FORWARDER_FAILED && /forwarder did not start/.test(r.stderr)) {
      if (/perl.*not found|perl: No such file/i.test(r.stderr)) return noPerl();
      return forwarderFailed(r.stderr);
    }
    return smolvmError(['machine', 'exec'], r);
  }

  /** `machine exec` through the ready guard, as `user`. */
  async #exec(name: string, argv: string[], opts: GuestExecOptions & { tty?: boolean; inherit?: boolean }): Promise<SmolvmResult> {
    const args = [
      'machine', 'exec', '--name', name,
      ...(opts.input !== undefined || opts.inherit ? ['-i'] : []),
      ...(opts.tty ? ['-t'] : []),
      ...envArgs(opts.env ?? {}),
      ...(opts.workdir ? ['-w', opts.workdir] : []),
      '--',
      ...SMOLVM_READY_GUARD,
      ...asUser(opts.user ?? 'node', argv),
    ];
    const input = opts.input;
    if (input === undefined || typeof input === 'string' || input instanceof Uint8Array) {
      return this.cli.run(args, { allowFailure: true, ...(input !== undefined ? { input } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.inherit ? { inherit: true } : {}) });
    }
    // A stream that is cut short (its producer destroyed it: the host side
    // failed) ends the exec instead of leaving it waiting for more.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let failed: Error | undefined;
    let ended = false;
    input.once('end', () => (ended = true));
    input.once('error', (e) => {
      failed = e;
      stop.abort();
    });
    input.once('close', () => {
      if (!ended) stop.abort();
    });
    try {
      return await this.cli.run(args, { allowFailure: true, input, signal: stop.signal });
    } catch (e) {
      if (failed) throw new BottleError(`reading the files for the guest failed: ${failed.message}`, { code: 'BACKEND', cause: failed });
      throw e;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  #handle(name: string): GuestHandle {
    return {
      id: name,
      name,
      exec: async (argv: string[], opts: GuestExecOptions = {}): Promise<GuestExecResult> => {
        const r = await this.#exec(name, argv, opts);
        if (r.exitCode !== 0 && isNotRunning(r)) throw stopped(name);
        return r;
      },
    };
  }

  /** `machine delete -f` (it stops a running machine first); a machine already gone is fine. */
  async removeGuest(id: string): Promise<void> {
    const r = await this.cli.run(['machine', 'delete', '-n', id, '-f'], { allowFailure: true });
    if (r.exitCode !== 0 && !isMachineNotFound(r)) throw smolvmError(['machine', 'delete'], r);
  }

  async attach(guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal): Promise<number> {
    const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const r = await this.#exec(guest.name, spec.argv, { user: spec.user, env: spec.env, workdir: spec.workdir, inherit: true, tty, ...(signal ? { signal } : {}) });
    // A failure may be the machine's, not the agent's: only then is it worth a look.
    if (r.exitCode !== 0) {
      const m = (await this.#machines()).find((x) => x.name === guest.name);
      if (!m || m.state !== 'running') throw stopped(guest.name, m?.state);
    }
    return r.exitCode;
  }

  async #machines(): Promise<MachineJson[]> {
    const r = await this.cli.run(['machine', 'ls', '--json']);
    try {
      const parsed = JSON.parse(r.stdout || '[]') as unknown;
      if (!Array.isArray(parsed)) throw new Error('not a list');
      return parsed as MachineJson[];
    } catch (e) {
      throw new BottleError(`\`smolvm machine ls --json\` printed something that is not a list of machines: ${(e as Error).message}`, { code: 'BACKEND' });
    }
  }

  async list(): Promise<BottleRecord[]> {
    const out: BottleRecord[] = [];
    for (const m of await this.#machines()) {
      const l = m.labels ?? {};
      const slug = l[LABEL.slug];
      if (!slug) continue;
      out.push({ slug, agent: l[LABEL.agent] ?? '', owner: l[LABEL.owner] ?? '', created: l[LABEL.created] ?? '', containers: [m.name], networks: [], status: `machine ${m.state}` });
    }
    return out.sort((a, b) => a.created.localeCompare(b.created));
  }

  async removeBottle(slug: string): Promise<void> {
    const errors: unknown[] = [];
    for (const b of (await this.list()).filter((x) => x.slug === slug)) {
      for (const id of b.containers) await this.removeGuest(id).catch((e) => errors.push(e));
    }
    if (errors.length) throw new AggregateError(errors, `could not remove all of bottle ${slug}`);
  }
}

/**
 * `-v HOST:GUEST[:ro]` for a planned mount. smolvm shares directories only
 * (virtiofs) and has no volume of the guest's own, so a file or a volume is a
 * clear error before anything is made.
 */
export function volumeArg(m: Mount): string {
  if (m.kind === 'volume') {
    throw new BottleError(`backend smolvm: a volume of the guest's own at ${m.guestPath} is not possible (smolvm mounts host directories only); \`workspace: mount\` needs one`, {
      code: 'CONFIG',
      hint: 'use `workspace: copy` (the default) with backend: "smolvm"',
    });
  }
  let dir = false;
  try {
    dir = statSync(m.hostPath).isDirectory();
  } catch (e) {
    throw new BottleError(`backend smolvm: cannot mount ${m.hostPath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { code: 'CONFIG' });
  }
  if (!dir) {
    throw new BottleError(`backend smolvm: ${m.hostPath} is not a directory, and smolvm mounts directories only (it was to be at ${m.guestPath})`, {
      code: 'CONFIG',
      hint: 'use `workspace: copy` (the default) with backend: "smolvm", or mount a directory',
    });
  }
  if (m.hostPath.includes(':') || m.guestPath.includes(':')) {
    throw new BottleError(`backend smolvm: a mount path with ":" cannot be given to smolvm's -v HOST:GUEST (${m.hostPath})`, { code: 'CONFIG' });
  }
  return `${m.hostPath}:${m.guestPath}${m.readOnly ? ':ro' : ''}`;
}

function imageError(image: string, r: SmolvmResult): BottleError | undefined {
  if (!/pull|image not found|manifest unknown|not found in registry|archive/i.test(r.stderr)) return undefined;
  const said = r.stderr.trim().split('\n').filter((l) => l.trim()).slice(-2).join(' / ');
  return new BottleError(`smolvm could not get the image "${image}": ${said}`, {
    code: 'IMAGE',
    hint: 'build it with `bottle image build` (it saves the image for smolvm), or set `image` to a `docker save` tarball, a .smolmachine pack, or a registry reference smolvm can pull',
  });
}

function stopped(name: string, state?: string): BottleError {
  return new BottleError(`the guest stopped (machine ${name}${state ? ` is ${state}` : ' is gone'})`, {
    code: 'BACKEND',
    hint: '`smolvm machine ls` shows it; it is deleted at teardown (or by `bottle gc`)',
  });
}



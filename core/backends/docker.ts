// The Docker backend, through the `docker` CLI. Per bottle: one container
// with no network at all (--network none: only `lo`), the doors dir bind-mounted
// read-only, and the forwarder (forwarder.ts) as its main process; --init,
// no capabilities it does not need, all labelled.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { GUEST_DOORS_DIR } from '../doors.ts';
import { BottleError } from '../errors.ts';
import type { ExecSpec, Mount } from '../plan.ts';
import { DockerCli, dockerError, isNotFound } from './docker-cli.ts';
import { FORWARDER_FAILED, forwarderArgv, forwarderFailed, INIT_SCRIPT, noPerl, READY_LINE, READY_MARK } from './forwarder.ts';
import type { Backend, BottleRecord, GuestExecOptions, GuestExecResult, GuestHandle, GuestSpec, StartedGuest } from './types.ts';

/** Every resource a bottle makes carries these labels. */
export const LABEL = {
  slug: 'claude-bottle.slug',
  agent: 'claude-bottle.agent',
  owner: 'claude-bottle.owner',
  created: 'claude-bottle.created',
} as const;

export const resourceName = (slug: string) => `claude-bottle-${slug}`;

/**
 * What root needs in the guest while provisioning (tar, chown, runuser); the
 * rest is dropped, NET_ADMIN and NET_RAW included: there is no network to
 * administer. The agent runs as uid 1000 with no capabilities, and
 * no-new-privileges keeps it from gaining any.
 */
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL'];

/**
 * Every exec goes through this: it waits (up to 5 s) for the forwarder's ready
 * mark, so nothing of ours runs before every door's port is bound by root
 * (the agent cannot take one first); exit 86 if it never comes.
 */
const READY_GUARD = [
  'sh', '-c',
  `i=0; while [ ! -e ${READY_MARK} ]; do i=$((i+1)); if [ $i -gt 500 ]; then echo "claude-bottle: the guest's forwarder did not start" >&2; exit ${FORWARDER_FAILED}; fi; sleep 0.01; done; exec "$@"`,
  'ready',
];

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
const envArgs = (env: Record<string, string>) => Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);

export class DockerBackend implements Backend {
  readonly name = 'docker' as const;
  readonly cli: DockerCli;

  constructor(cli = new DockerCli()) {
    this.cli = cli;
  }

  async check(signal?: AbortSignal): Promise<void> {
    const r = await this.cli.run(['version', '--format', '{{.Server.Version}}'], { signal, allowFailure: true });
    if (r.exitCode !== 0) throw dockerError(['version'], r);
  }

  /**
   * One attached `docker run`: the provisioning tar goes to the init's stdin,
   * and its stderr is read until the forwarder says it is ready (or the guest
   * ends), so files, post-commands and the doors cost no exec of their own.
   * The client stays attached for the guest's life, in its own process group
   * and without proxying signals (a Ctrl-C on the terminal is ours to handle).
   */
  async startGuest(spec: GuestSpec): Promise<StartedGuest> {
    const name = resourceName(spec.slug);
    const args = [
      // Never pulled behind the user's back: a missing image is built (the default) or named.
      'run', '--interactive', '--init', '--sig-proxy=false', '--pull', 'never',
      '--name', name,
      '--hostname', 'bottle',
      // No network at all: the doors are the only way out.
      '--network', 'none',
      // The init provisions and the forwarder binds the doors' ports as root.
      // With no-new-privileges, root execs get the capabilities below only
      // when the container's user is root. Every exec names its user; the
      // agent's is 1000.
      '--user', '0:0',
      '--workdir', spec.workdir,
      '--cap-drop', 'ALL', ...CAPS.flatMap((c) => ['--cap-add', c]),
      '--security-opt', 'no-new-privileges',
      ...labelArgs(spec.labels),
      ...envArgs(spec.env),
      '--mount', `type=bind,src=${spec.doors.hostDir},dst=${GUEST_DOORS_DIR},readonly`,
      ...spec.mounts.flatMap((m) => ['--mount', mountArg(m)]),
      spec.image,
      'sh', '-c', INIT_SCRIPT, 'bottle-init', spec.provision?.script ?? '',
      ...forwarderArgv({ doorsDir: GUEST_DOORS_DIR, lifeline: spec.doors.lifeline, forwards: spec.doors.forwards }),
    ];
    this.cli.calls++;
    this.cli.log?.push(args);
    const { exitCode, stderr } = await this.#runUntilReady(args, spec.provision?.input, spec.signal);
    const guest = this.#handle(name, name);
    if (exitCode === undefined) return { guest, ...(spec.provision ? { provisioning: { exitCode: 0, stdout: '', stderr } } : {}) };
    // The guest ended before its doors opened.
    if (/No such image|Unable to find image|pull access denied/i.test(stderr)) {
      throw new BottleError(`the image "${spec.image}" is not on this machine`, {
        code: 'IMAGE',
        hint: 'build it with `bottle image build` (or set `image` in bottle.config.ts to one you have)',
      });
    }
    if (exitCode === 127 || /executable file not found/i.test(stderr)) throw noPerl(spec.image);
    if (exitCode === FORWARDER_FAILED) throw forwarderFailed(stderr);
    if (spec.provision && /__bottle_(fail|warn)__/.test(stderr)) return { guest, provisioning: { exitCode, stdout: '', stderr } };
    throw dockerError(args.slice(0, args.indexOf(spec.image) + 1), { exitCode, stdout: '', stderr });
  }

  /** Runs the attached client; resolves once the ready line came (exitCode undefined) or the client ended. */
  #runUntilReady(args: string[], input: Readable | undefined, signal: AbortSignal | undefined): Promise<{ exitCode: number | undefined; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.cli.bin, args, { stdio: [input ? 'pipe' : 'ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      let done = false;
      const finish = (v: { exitCode: number | undefined; stderr: string } | Error) => {
        if (done) return;
        done = true;
        signal?.removeEventListener('abort', onAbort);
        if (v instanceof Error) reject(v);
        else resolve(v);
      };
      const onAbort = () => {
        child.kill('SIGKILL');
        finish(new BottleError('interrupted', { code: 'ABORTED' }));
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      child.once('error', (e: NodeJS.ErrnoException) => {
        finish(new BottleError(e.code === 'ENOENT' ? `the \`${this.cli.bin}\` command was not found` : `could not run \`${this.cli.bin}\`: ${e.message}`, {
          code: 'BACKEND',
          hint: e.code === 'ENOENT' ? 'install Docker (the engine and its CLI), or set BOTTLE_DOCKER to its path' : 'check `bottle doctor`',
        }));
      });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        if (done) return; // after ready: drained, never kept
        stderr += d;
        const at = stderr.indexOf(`${READY_LINE}\n`);
        if (at !== -1) finish({ exitCode: undefined, stderr: stderr.slice(0, at) });
      });
      child.once('close', (code) => finish({ exitCode: code ?? 1, stderr }));
      if (input && child.stdin) {
        // A guest that ends early closes the pipe: what is left of the tar goes nowhere.
        child.stdin.on('error', () => {});
        input.on('error', (e) => {
          child.kill('SIGKILL');
          finish(new BottleError(`reading the files for the guest failed: ${e.message}`, { code: 'BACKEND', cause: e }));
        });
        input.pipe(child.stdin);
      }
    });
  }

  #handle(id: string, name: string): GuestHandle {
    return {
      id,
      name,
      exec: async (argv: string[], opts: GuestExecOptions = {}): Promise<GuestExecResult> => {
        const args = ['exec', ...(opts.input !== undefined ? ['-i'] : []), ...this.#execFlags(opts.user ?? 'node', opts.env ?? {}, opts.workdir), id, ...READY_GUARD, ...argv];
        const r = await this.cli.run(args, { input: opts.input as never, signal: opts.signal, allowFailure: true });
        if (r.exitCode !== 0 && /is not running/.test(r.stderr)) await this.#checkGuestAlive(id);
        return r;
      },
    };
  }

  #execFlags(user: 'node' | 'root', env: Record<string, string>, workdir?: string): string[] {
    return ['-u', user === 'root' ? '0' : '1000:1000', ...(workdir ? ['-w', workdir] : []), ...envArgs(env)];
  }

  async removeGuest(id: string): Promise<void> {
    const r = await this.cli.run(['rm', '--force', '--volumes', id], { allowFailure: true });
    if (r.exitCode !== 0 && !isNotFound(r)) throw dockerError(['rm', id], r);
  }

  async attach(guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal): Promise<number> {
    const tty = Boolean(process.stdin.isTTY && process.stdout.isTTY);
    const args = ['exec', '-i', ...(tty ? ['-t'] : []), ...this.#execFlags(spec.user, spec.env, spec.workdir), guest.id, ...READY_GUARD, ...spec.argv];
    this.cli.calls++;
    this.cli.log?.push(args);
    const r = await execa(this.cli.bin, args, { stdio: 'inherit', reject: false, ...(signal ? { cancelSignal: signal } : {}) });
    if (r.isCanceled) throw new BottleError('interrupted', { code: 'ABORTED' });
    if (r.exitCode === undefined) throw new BottleError(`could not run the agent: ${r.shortMessage}`, { code: 'BACKEND' });
    // A failure may be the guest's, not the agent's: only then is it worth a look.
    if (r.exitCode !== 0) await this.#checkGuestAlive(guest.id);
    return r.exitCode;
  }

  /** Throws when the guest itself has stopped, saying why (its forwarder's own words when it could not start). */
  async #checkGuestAlive(id: string): Promise<void> {
    const r = await this.cli.run(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', id], { allowFailure: true });
    const [running, code] = r.stdout.trim().split(' ');
    if (r.exitCode !== 0 || running === 'true') return;
    if (code === '127') throw noPerl();
    if (code === String(FORWARDER_FAILED)) {
      const logs = await this.cli.run(['logs', '--tail', '5', id], { allowFailure: true });
      throw forwarderFailed(logs.stderr);
    }
    throw new BottleError(`the guest stopped (exit ${code})`, { code: 'BACKEND', hint: '`docker logs` of the container may say why; it is removed at teardown' });
  }

  async list(): Promise<BottleRecord[]> {
    const fmt = (keys: string[]) => keys.map((k) => `{{.Label "${k}"}}`).join('\t');
    const [cs, ns] = await Promise.all([
      this.cli.run(['ps', '--all', '--filter', `label=${LABEL.slug}`, '--format', `{{.ID}}\t{{.Status}}\t${fmt([LABEL.slug, LABEL.agent, LABEL.owner, LABEL.created])}`]),
      this.cli.run(['network', 'ls', '--filter', `label=${LABEL.slug}`, '--format', `{{.Name}}\t${fmt([LABEL.slug, LABEL.agent, LABEL.owner, LABEL.created])}`]),
    ]);
    const bySlug = new Map<string, BottleRecord>();
    const get = (slug: string, agent: string, owner: string, created: string) => {
      let rec = bySlug.get(slug);
      if (!rec) bySlug.set(slug, (rec = { slug, agent, owner, created, containers: [], networks: [], status: 'no container' }));
      return rec;
    };
    for (const line of lines(cs.stdout)) {
      const [id, status, slug, agent, owner, created] = line.split('\t');
      const rec = get(slug!, agent ?? '', owner ?? '', created ?? '');
      rec.containers.push(id!);
      rec.status = status ?? '';
    }
    for (const line of lines(ns.stdout)) {
      const [name, slug, agent, owner, created] = line.split('\t');
      get(slug!, agent ?? '', owner ?? '', created ?? '').networks.push(name!);
    }
    return [...bySlug.values()].sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Networks are only left by older versions, which gave each bottle one. */
  async #removeNetwork(name: string): Promise<void> {
    const r = await this.cli.run(['network', 'rm', name], { allowFailure: true });
    if (r.exitCode !== 0 && !isNotFound(r)) throw dockerError(['network', 'rm'], r);
  }

  async removeBottle(slug: string): Promise<void> {
    const found = (await this.list()).find((b) => b.slug === slug);
    if (!found) return;
    const errors: unknown[] = [];
    for (const id of found.containers) await this.removeGuest(id).catch((e) => errors.push(e));
    for (const n of found.networks) await this.#removeNetwork(n).catch((e) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `could not remove all of bottle ${slug}`);
  }
}

/** `--mount` for a planned mount; a volume is anonymous (removed with the container: `rm --volumes`) and starts empty. */
export function mountArg(m: Mount): string {
  if (m.kind === 'volume') return `type=volume,dst=${m.guestPath},volume-nocopy`;
  return `type=bind,src=${m.hostPath},dst=${m.guestPath}${m.readOnly ? ',readonly' : ''}`;
}



function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim());
}

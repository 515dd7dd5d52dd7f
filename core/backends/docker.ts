// The Docker backend, through the `docker` CLI. Per bottle: one --internal
// network on a free subnet and one container (--init, user node, no
// capabilities it does not need, no IPv6, no default route), all labelled.
import { execa } from 'execa';
import { BottleError } from '../errors.ts';
import { GUEST_GATEWAY_HOST, type ExecSpec } from '../plan.ts';
import { DockerCli, dockerError, isNotFound } from './docker-cli.ts';
import { pickSubnet } from './subnet.ts';
import type { Backend, BottleRecord, GuestExecOptions, GuestExecResult, GuestHandle, GuestSpec, NetworkInfo } from './types.ts';

/** Every resource a bottle makes carries these labels. */
export const LABEL = {
  slug: 'claude-bottle.slug',
  agent: 'claude-bottle.agent',
  owner: 'claude-bottle.owner',
  created: 'claude-bottle.created',
} as const;

export const resourceName = (slug: string) => `claude-bottle-${slug}`;

/**
 * What root needs in the guest during provisioning; the rest (NET_RAW, ...)
 * is dropped. NET_ADMIN is here only so our own root exec can remove the
 * default route (runc cannot give an exec more than the container's set).
 * The agent runs as uid 1000 with no capabilities, and no-new-privileges
 * keeps it from gaining any.
 */
const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'SETUID', 'SETGID', 'KILL', 'NET_ADMIN'];

/** Written by the guest's main process once the default route is gone. */
const SEAL_MARK = '/run/claude-bottle-sealed';

/**
 * Every exec goes through this: it waits (up to 5 s) for the seal, so nothing
 * ever runs in a guest that still has a route out; exit 86 if it never comes.
 */
const SEAL_GUARD = [
  'sh', '-c',
  `i=0; while [ ! -e ${SEAL_MARK} ]; do i=$((i+1)); if [ $i -gt 500 ]; then echo "claude-bottle: the guest's network was not sealed (is iproute2 in the image?)" >&2; exit 86; fi; sleep 0.01; done; exec "$@"`,
  'sealed',
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

  async createNetwork(slug: string, labels: Record<string, string>, signal?: AbortSignal): Promise<NetworkInfo> {
    const name = resourceName(slug);
    const tried = new Set<string>();
    for (let attempt = 0; attempt < 8; attempt++) {
      const { cidr, gateway } = pickSubnet(tried);
      tried.add(cidr);
      const args = ['network', 'create', '--internal', '--driver', 'bridge', '--subnet', cidr, '--gateway', gateway, ...labelArgs(labels), name];
      const r = await this.cli.run(args, { signal, allowFailure: true });
      if (r.exitCode === 0) return { name, subnet: cidr, gateway };
      // Another network (maybe another bottle starting right now) has it: try the next.
      if (!/overlap/i.test(r.stderr)) throw dockerError(args, r);
    }
    throw new BottleError('could not find a free subnet for the bottle network after 8 tries', {
      code: 'BACKEND',
      hint: 'remove leftover bottles with `bottle gc`, or set BOTTLE_SUBNET_POOL to another /16 (e.g. "10.214")',
    });
  }

  async removeNetwork(name: string): Promise<void> {
    const r = await this.cli.run(['network', 'rm', name], { allowFailure: true });
    if (r.exitCode !== 0 && !isNotFound(r)) throw dockerError(['network', 'rm'], r);
  }

  async startGuest(spec: GuestSpec): Promise<GuestHandle> {
    const name = resourceName(spec.slug);
    const args = [
      'run', '--detach', '--init',
      '--name', name,
      '--hostname', 'bottle',
      '--network', spec.network.name,
      '--add-host', `${GUEST_GATEWAY_HOST}:${spec.network.gateway}`,
      // The idle main process is root: with no-new-privileges, execs as root
      // only get the capabilities above when the container's user is root.
      // Every exec names its user; the agent's is always 1000.
      '--workdir', spec.workdir,
      '--cap-drop', 'ALL', ...CAPS.flatMap((c) => ['--cap-add', c]),
      '--security-opt', 'no-new-privileges',
      '--sysctl', 'net.ipv6.conf.all.disable_ipv6=1',
      ...labelArgs(spec.labels),
      ...envArgs(spec.env),
      ...spec.mounts.flatMap((m) => ['--mount', `type=bind,src=${m.hostPath},dst=${m.guestPath}${m.readOnly ? ',readonly' : ''}`]),
      spec.image,
      // An --internal network still gives the guest a default route via the
      // gateway, and the host answers on all its addresses through it. The
      // main process (root, with NET_ADMIN) removes the route first thing;
      // only the on-link gateway stays reachable. The agent (uid 1000, no
      // capabilities) cannot put it back. Then the guest idles; the agent
      // runs through `docker exec`, which waits for the seal (SEAL_GUARD).
      'sh', '-c', `command -v ip >/dev/null || exit 86; ip route del default 2>/dev/null; if ip route show default | grep -q .; then exit 86; fi; : > ${SEAL_MARK}; exec sleep infinity`,
    ];
    const r = await this.cli.run(args, { signal: spec.signal, allowFailure: true });
    if (r.exitCode !== 0) {
      if (/No such image|Unable to find image|pull access denied/i.test(r.stderr)) {
        throw new BottleError(`the image "${spec.image}" is not on this machine`, {
          code: 'IMAGE',
          hint: 'build it with `bottle image build` (or set `image` in bottle.config.ts to one you have)',
        });
      }
      throw dockerError(args, r);
    }
    const id = r.stdout.trim();
    const guest = this.#handle(id, name);
    return guest;
  }

  #handle(id: string, name: string): GuestHandle {
    return {
      id,
      name,
      exec: async (argv: string[], opts: GuestExecOptions = {}): Promise<GuestExecResult> => {
        const args = ['exec', ...(opts.input !== undefined ? ['-i'] : []), ...this.#execFlags(opts.user ?? 'node', opts.env ?? {}, opts.workdir), id, ...SEAL_GUARD, ...argv];
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
    const args = ['exec', '-i', ...(tty ? ['-t'] : []), ...this.#execFlags(spec.user, spec.env, spec.workdir), guest.id, ...SEAL_GUARD, ...spec.argv];
    this.cli.calls++;
    this.cli.log?.push(args);
    const r = await execa(this.cli.bin, args, { stdio: 'inherit', reject: false, ...(signal ? { cancelSignal: signal } : {}) });
    if (r.isCanceled) throw new BottleError('interrupted', { code: 'ABORTED' });
    if (r.exitCode === undefined) throw new BottleError(`could not run the agent: ${r.shortMessage}`, { code: 'BACKEND' });
    // A failure may be the guest's, not the agent's: only then is it worth a look.
    if (r.exitCode !== 0) await this.#checkGuestAlive(guest.id);
    return r.exitCode;
  }

  /** Throws when the guest itself has stopped, saying why (exit 86: it could not seal its network). */
  async #checkGuestAlive(id: string): Promise<void> {
    const r = await this.cli.run(['inspect', '--format', '{{.State.Running}} {{.State.ExitCode}}', id], { allowFailure: true });
    const [running, code] = r.stdout.trim().split(' ');
    if (r.exitCode !== 0 || running === 'true') return;
    if (code === '86') {
      throw new BottleError('the guest could not seal its network (remove its default route), so nothing was run in it', {
        code: 'BACKEND',
        hint: 'the agent image needs `ip` (iproute2): rebuild it with `bottle image build`',
      });
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

  async removeBottle(slug: string): Promise<void> {
    const found = (await this.list()).find((b) => b.slug === slug);
    if (!found) return;
    const errors: unknown[] = [];
    for (const id of found.containers) await this.removeGuest(id).catch((e) => errors.push(e));
    for (const n of found.networks) await this.removeNetwork(n).catch((e) => errors.push(e));
    if (errors.length) throw new AggregateError(errors, `could not remove all of bottle ${slug}`);
  }
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l.trim());
}

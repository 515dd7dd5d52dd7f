// The smolvm backend's CLI calls for each step, against a recording runner
// (no smolvm, no Docker): create (doors as mounted sockets, the forwarder as
// the workload, no network flag), start, the ONE provisioning exec with the
// planned tar, the agent under runuser, delete whatever happened; and the
// seeds' provisioning contract, read from the one script that exec runs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SMOLVM_READY_GUARD, SmolvmBackend, volumeArg } from '../../../../core/backends/smolvm.ts';
import { checkVersion, parseVersion, versionAtLeast, type SmolvmResult, type SmolvmRunner, type SmolvmRunOptions } from '../../../../core/backends/smolvm-cli.ts';
import type { GuestSpec } from '../../../../core/backends/types.ts';
import { provisionScript } from '../../../../core/guest-files.ts';
import { isBottleError } from '../../../../core/errors.ts';

class Recorder implements SmolvmRunner {
  readonly bin = 'smolvm';
  calls: Array<{ args: string[]; opts: SmolvmRunOptions }> = [];
  /** First matching rule answers; default exit 0. */
  answers: Array<{ when: (args: string[]) => boolean; result: Partial<SmolvmResult> }> = [];
  async run(args: string[], opts: SmolvmRunOptions = {}): Promise<SmolvmResult> {
    this.calls.push({ args, opts });
    if (opts.input instanceof Readable) for await (const _ of opts.input) void _;
    const a = this.answers.find((x) => x.when(args));
    const r = { stdout: '', stderr: '', exitCode: 0, ...(args[0] === '--version' ? { stdout: 'smolvm 1.9.2' } : {}), ...a?.result };
    if (r.exitCode !== 0 && !opts.allowFailure) throw new Error(`smolvm ${args.join(' ')} failed`);
    return r;
  }
  sub(): string[] {
    return this.calls.map((c) => c.args.slice(0, 2).join(' '));
  }
}

const backend = (r: Recorder) => new SmolvmBackend({ cli: r, resolveImage: async () => ({ kind: 'image', image: '/cache/agent.tar' }) });

function spec(over: Partial<GuestSpec> = {}): GuestSpec {
  return {
    slug: 'demo-abc12',
    image: 'claude-bottle-agent:latest',
    doors: { hostDir: '/state/doors', lifeline: 'lifeline.sock', forwards: [{ port: 3128, socket: 'proxy.sock' }, { port: 9418, socket: 'git.sock' }] },
    env: { GREETING: 'hi' },
    mounts: [],
    workdir: '/home/node/workspace',
    labels: { 'claude-bottle.slug': 'demo-abc12', 'claude-bottle.agent': 'demo' },
    ...over,
  };
}

describe('SmolvmBackend: the CLI calls of each step', () => {
  it('create: named, the image, labels, env, workdir, every door and the lifeline as --mount-socket, the forwarder as the workload, and no network flag', async () => {
    const r = new Recorder();
    await backend(r).startGuest(spec());
    expect(r.sub()).toEqual(['--version', 'machine create', 'machine start', 'machine exec']);
    const create = r.calls[1]!.args;
    const before = create.slice(0, create.indexOf('--'));
    expect(before).toEqual([
      'machine', 'create', '-n', 'claude-bottle-demo-abc12', '-I', '/cache/agent.tar',
      '--label', 'claude-bottle.slug=demo-abc12', '--label', 'claude-bottle.agent=demo',
      '-e', 'GREETING=hi', '-w', '/home/node/workspace',
      '--mount-socket', '/state/doors/lifeline.sock:/run/claude-bottle/doors/lifeline.sock',
      '--mount-socket', '/state/doors/proxy.sock:/run/claude-bottle/doors/proxy.sock',
      '--mount-socket', '/state/doors/git.sock:/run/claude-bottle/doors/git.sock',
    ]);
    const workload = create.slice(create.indexOf('--') + 1);
    expect(workload.slice(0, 2)).toEqual(['sh', '-c']);
    expect(workload).toContain('perl');
    expect(workload.slice(-3)).toEqual(['/run/claude-bottle/doors/lifeline.sock', '3128=/run/claude-bottle/doors/proxy.sock', '9418=/run/claude-bottle/doors/git.sock']);
    expect(r.calls[2]!.args).toEqual(['machine', 'start', '-n', 'claude-bottle-demo-abc12']);
  });

  it('a .smolmachine pack goes in with --from instead of -I', async () => {
    const r = new Recorder();
    await new SmolvmBackend({ cli: r, resolveImage: async () => ({ kind: 'pack', path: '/p/agent.smolmachine' }) }).startGuest(spec());
    const create = r.calls[1]!.args;
    expect(create.slice(4, 6)).toEqual(['--from', '/p/agent.smolmachine']);
    expect(create).not.toContain('-I');
  });

  it('provisioning: ONE `machine exec --name -i` as root (the image USER), through the ready guard, fed the tar; its stderr comes back', async () => {
    const r = new Recorder();
    r.answers.push({ when: (a) => a[1] === 'exec', result: { exitCode: 1, stderr: '__bottle_fail__ 0 1\n' } });
    const script = 'set -u\ntar -x';
    const tar = Readable.from([Buffer.from('the tar')]);
    const started = await backend(r).startGuest(spec({ provision: { script, input: tar } }));
    const exec = r.calls.filter((c) => c.args[1] === 'exec');
    expect(exec).toHaveLength(1);
    expect(exec[0]!.args).toEqual(['machine', 'exec', '--name', 'claude-bottle-demo-abc12', '-i', '--', ...SMOLVM_READY_GUARD, 'sh', '-c', script]);
    expect(exec[0]!.opts.input).toBe(tar);
    expect(started.provisioning).toEqual({ exitCode: 1, stdout: '', stderr: '__bottle_fail__ 0 1\n' });
  });

  it('a forwarder that never came up is a clear error naming why, not a provisioning result', async () => {
    const r = new Recorder();
    r.answers.push({ when: (a) => a[1] === 'exec', result: { exitCode: 86, stderr: "claude-bottle: the guest's forwarder did not start\nclaude-bottle forwarder: cannot listen on 127.0.0.1:3128: Address in use\n" } });
    const e = await backend(r).startGuest(spec()).catch((x: unknown) => x);
    expect(isBottleError(e) && e.message).toBe("the guest's forwarder could not start: cannot listen on 127.0.0.1:3128: Address in use, so nothing was run in it");
  });

  it('the agent: `machine exec --name -i -e -w` through the guard under `runuser -u node --`, attached; exits with its code', async () => {
    const r = new Recorder();
    r.answers.push({ when: (a) => a[1] === 'exec' && a.includes('claude'), result: { exitCode: 3 } });
    r.answers.push({ when: (a) => a[1] === 'ls', result: { stdout: JSON.stringify([{ name: 'claude-bottle-demo-abc12', state: 'running', labels: {} }]) } });
    const b = backend(r);
    const { guest } = await b.startGuest(spec());
    const code = await b.attach(guest, { argv: ['claude', '--x'], env: { HTTPS_PROXY: 'http://127.0.0.1:3128' }, user: 'node', workdir: '/home/node/workspace' });
    expect(code).toBe(3);
    const agent = r.calls.find((c) => c.args.includes('claude'))!;
    expect(agent.args).toEqual(['machine', 'exec', '--name', 'claude-bottle-demo-abc12', '-i', '-e', 'HTTPS_PROXY=http://127.0.0.1:3128', '-w', '/home/node/workspace', '--', ...SMOLVM_READY_GUARD, 'runuser', '-u', 'node', '--', 'claude', '--x']);
    expect(agent.opts.inherit).toBe(true);
    // exec has no --user, and its name flag is --name only.
    expect(r.calls.every((c) => !c.args.includes('--user') && !(c.args[1] === 'exec' && c.args.includes('-n')))).toBe(true);
  });

  it('an agent failure on a machine that stopped is reported as the guest stopping', async () => {
    const r = new Recorder();
    r.answers.push({ when: (a) => a[1] === 'exec' && a.includes('true') && a.includes('runuser'), result: { exitCode: 1 } });
    r.answers.push({ when: (a) => a[1] === 'ls', result: { stdout: JSON.stringify([{ name: 'claude-bottle-demo-abc12', state: 'stopped', labels: {} }]) } });
    const b = backend(r);
    const { guest } = await b.startGuest(spec());
    const e = await b.attach(guest, { argv: ['true'], env: {}, user: 'node', workdir: '/w' }).catch((x: unknown) => x);
    expect(isBottleError(e) && e.message).toContain('the guest stopped (machine claude-bottle-demo-abc12 is stopped)');
  });

  it('guest.exec as node or root; a machine that is not running is an error', async () => {
    const r = new Recorder();
    const { guest } = await backend(r).startGuest(spec());
    await guest.exec(['git', 'config', '--global', 'user.name', 'Bot'], { env: { HOME: '/home/node' } });
    expect(r.calls.at(-1)!.args.slice(-9)).toEqual(['runuser', '-u', 'node', '--', 'git', 'config', '--global', 'user.name', 'Bot']);
    expect(r.calls.at(-1)!.args).toContain('HOME=/home/node');
    await guest.exec(['update-ca-certificates'], { user: 'root' });
    expect(r.calls.at(-1)!.args.slice(-2)).toEqual(['ready', 'update-ca-certificates']);
    r.answers.push({ when: (a) => a[1] === 'exec', result: { exitCode: 1, stderr: "Error: agent operation failed: connect: machine 'claude-bottle-demo-abc12' is not running. Use 'smolvm machine start --name claude-bottle-demo-abc12' first." } });
    await expect(guest.exec(['true'])).rejects.toThrow('the guest stopped');
  });

  it('teardown: `machine delete -n NAME -f`; a machine already gone is fine, another failure is not', async () => {
    const r = new Recorder();
    const b = backend(r);
    await b.removeGuest('claude-bottle-demo-abc12');
    expect(r.calls.at(-1)!.args).toEqual(['machine', 'delete', '-n', 'claude-bottle-demo-abc12', '-f']);
    r.answers.push({ when: (a) => a[1] === 'delete', result: { exitCode: 1, stderr: 'Error: vm not found: claude-bottle-demo-abc12' } });
    await b.removeGuest('claude-bottle-demo-abc12');
    r.answers.unshift({ when: (a) => a[1] === 'delete', result: { exitCode: 1, stderr: 'Error: agent operation failed: delete machine: busy' } });
    await expect(b.removeGuest('claude-bottle-demo-abc12')).rejects.toThrow('smolvm machine delete failed');
  });

  it('list and removeBottle: machines found by their labels in `machine ls --json`', async () => {
    const r = new Recorder();
    r.answers.push({
      when: (a) => a[1] === 'ls',
      result: { stdout: JSON.stringify([
        { name: 'other', state: 'running', labels: {} },
        { name: 'claude-bottle-demo-abc12', state: 'running', labels: { 'claude-bottle.slug': 'demo-abc12', 'claude-bottle.agent': 'demo', 'claude-bottle.owner': '1:2', 'claude-bottle.created': '2025-01-01' } },
      ]) },
    });
    const b = backend(r);
    expect(await b.list()).toEqual([{ slug: 'demo-abc12', agent: 'demo', owner: '1:2', created: '2025-01-01', containers: ['claude-bottle-demo-abc12'], networks: [], status: 'machine running' }]);
    await b.removeBottle('demo-abc12');
    expect(r.calls.at(-1)!.args).toEqual(['machine', 'delete', '-n', 'claude-bottle-demo-abc12', '-f']);
    expect(r.calls.filter((c) => c.args.includes('other'))).toEqual([]);
  });

  it('bad mounts are refused before anything is made: a file, a volume', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'smolvm-unit-'));
    const file = path.join(dir, 'bottle.config.ts');
    writeFileSync(file, '');
    expect(volumeArg({ hostPath: dir, guestPath: '/w', readOnly: true })).toBe(`${dir}:/w:ro`);
    for (const m of [{ hostPath: file, guestPath: '/w/bottle.config.ts', readOnly: true }, { kind: 'volume' as const, guestPath: '/w/.git' }]) {
      const r = new Recorder();
      const e = await backend(r).startGuest(spec({ mounts: [m] })).catch((x: unknown) => x);
      expect(isBottleError(e) && e.code).toBe('CONFIG');
      expect(String((e as Error).message)).toContain('backend smolvm');
      expect(r.calls).toEqual([]);
    }
  });
});

describe('smolvm version', () => {
  it('is read from `--version` and must be 1.9 or later, naming what was found', async () => {
    expect(parseVersion('smolvm 1.9.2')).toBe('1.9.2');
    expect(versionAtLeast('1.9.0')).toBe(true);
    expect(versionAtLeast('1.10.1')).toBe(true);
    expect(versionAtLeast('1.8.9')).toBe(false);
    const old = new Recorder();
    old.answers.push({ when: (a) => a[0] === '--version', result: { stdout: 'smolvm 1.8.4' } });
    await expect(checkVersion(old)).rejects.toThrow('smolvm 1.8.4 (smolvm) is too old: bottles need smolvm 1.9.0 or later');
    const odd = new Recorder();
    odd.answers.push({ when: (a) => a[0] === '--version', result: { stdout: 'something else' } });
    await expect(checkVersion(odd)).rejects.toThrow('did not say a version');
    // Nothing is created on a smolvm that is too old.
    const older = new Recorder();
    older.answers.push({ when: (a) => a[0] === '--version', result: { stdout: 'smolvm 1.8.4' } });
    const e = await backend(older).startGuest(spec()).catch((x: unknown) => x);
    expect(isBottleError(e) && e.message).toContain('smolvm 1.8.4');
    expect(older.sub()).toEqual(['--version']);
  });
});

describe('the provisioning script smolvm runs keeps the seeds\' contract', () => {
  it('prompt (node, 600, always), skills replaced per skill, git insteadOf and user as node, the MCP registration optional', () => {
    const s = provisionScript(
      [
        { guestPath: '/home/node/.claude-bottle-prompt.txt', content: '', owner: 'node', mode: 0o600, plugin: 'prompt' },
        { guestPath: '/home/node/.claude/skills/init-prd', hostPath: '/host/skills/init-prd', owner: 'node', replace: true, plugin: 'skills' },
      ],
      [
        { argv: ['git', 'config', '--global', 'url.git://127.0.0.1:9418/app.git.insteadOf', 'ssh://git@host/app.git'], user: 'node', env: { HOME: '/home/node' }, plugin: 'git-gate' },
        { argv: ['git', 'config', '--global', 'user.name', 'Bot'], user: 'node', env: { HOME: '/home/node' }, plugin: 'git-user' },
        { argv: ['claude', 'mcp', 'add', '--scope', 'user', '--transport', 'http', 'supervise', 'http://127.0.0.1:8767/mcp'], user: 'node', env: { HOME: '/home/node' }, optional: true, plugin: 'supervise' },
      ],
    );
    expect(s).toContain('rm -rf -- /home/node/.claude/skills/init-prd');
    expect(s).toContain('runuser -u node -- env HOME=/home/node sh -c');
    expect(s).toContain('url.git://127.0.0.1:9418/app.git.insteadOf ssh://git@host/app.git');
    expect(s).toMatch(/claude mcp add --scope user --transport http supervise http:\/\/127\.0\.0\.1:8767\/mcp \|\| echo "__bottle_warn__ 2/);
  });
});

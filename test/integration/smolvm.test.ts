// `backend: 'smolvm'`: the integration tier's representative cases on a smolvm
// machine. Without a hypervisor here they run against the fake `smolvm`
// (test/helpers/fake-smolvm.mjs: the real CLI's flags and answers, a Docker
// container with --network none per machine); with BOTTLE_SMOLVM naming a real
// smolvm they run against it. The rest of the tier runs on smolvm with
// BOTTLE_TEST_BACKEND=smolvm.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execaSync } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, alive, auditEvents, bottle, leftovers, project, stateDirs, TEST_IMAGE, type Project } from '../helpers/cli.ts';
import { fakeSmolvmCalls } from '../helpers/fake-smolvm.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const SMOLVM = 'smolvm' as const;
const fake = !process.env.BOTTLE_SMOLVM;
const gone = (agent: string) => leftovers(agent, SMOLVM);
const none = { containers: [], networks: [] };

async function until<T>(what: string, fn: () => T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The smolvm calls the fake got for one machine. */
const callsFor = (agent: string) => fakeSmolvmCalls().filter((c) => c.some((a) => a.includes(`claude-bottle-${agent}-`)));

const config = (agent: string, bottleCfg: Record<string, unknown> = {}, agentCfg: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  backend: 'smolvm',
  image: TEST_IMAGE,
  agents: { [agent]: { bottle: 'dev', ...agentCfg } },
  bottles: { dev: { workspace: 'none', ...bottleCfg } },
  ...extra,
});

describe.skipIf(!dockerAvailable)('bottles on smolvm', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('runs the command as node in the workspace with its exit code and env, on a machine with no network, deleted afterwards', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svrun');
    p.config(config(agent, { env: { GREETING: 'hello machine' } }));
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'id -un; pwd; echo "$GREETING"; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; echo to-stderr >&2; exit 7']);
    expect(r.stderr).toContain('to-stderr');
    expect(r.exitCode).toBe(7);
    expect(r.stdout.split('\n')).toEqual(['node', '/home/node/workspace', 'hello machine', 'lo']);
    expect(gone(agent)).toEqual(none);
    expect(stateDirs(p)).toEqual([]);
    expect(auditEvents(p).map((e) => e.type)).toEqual(['bottle.start', 'agent.exit', 'bottle.end']);
    if (fake) {
      const calls = callsFor(agent);
      const create = calls.find((c) => c[1] === 'create')!;
      // Doors as mounted sockets, never a network flag.
      expect(create.filter((a) => a === '--mount-socket')).toHaveLength(1);
      expect(create.some((a) => /^(--net|--net-backend|--allow-cidr|--allow-host|--outbound-localhost-only|--dns|--network|-p|--port)$/.test(a))).toBe(false);
      expect(calls.map((c) => c.slice(0, 2).join(' '))).toEqual(['machine create', 'machine start', 'machine exec', 'machine exec', 'machine delete']);
      expect(calls.at(-1)).toEqual(['machine', 'delete', '-n', create[create.indexOf('-n') + 1], '-f']);
    }
  });

  it('provisions prompt, skills, git user and the copied workspace, as on Docker', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svprov');
    const skills = path.join(p.dir, '..', 'skills');
    mkdirSync(path.join(skills, 'alpha', 'scripts'), { recursive: true });
    writeFileSync(path.join(skills, 'alpha', 'SKILL.md'), '---\nname: alpha\ndescription: a test skill\n---\nbody\n');
    writeFileSync(path.join(skills, 'alpha', 'scripts', 'run.sh'), '#!/bin/sh\n', { mode: 0o750 });
    const git = (...a: string[]) => execaSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: p.dir });
    writeFileSync(path.join(p.dir, 'tool.sh'), '#!/bin/sh\n');
    git('init', '-q');
    git('add', 'tool.sh');
    git('commit', '-qm', 'first');
    writeFileSync(path.join(p.dir, 'new.txt'), 'untracked');
    p.config(config(agent, { workspace: 'copy', git: { user: { name: 'Bottle Bot', email: 'bot@example.com' } } }, { prompt: 'You are a careful agent.', skills: ['alpha'] }, { skillsDir: skills }));
    const script = [
      'stat -c "%U:%G %a" /home/node/.claude-bottle-prompt.txt',
      'cat /home/node/.claude-bottle-prompt.txt; echo',
      'stat -c "%U:%G" /home/node/.claude/skills/alpha',
      'stat -c "%U %a" /home/node/.claude/skills/alpha/scripts/run.sh',
      'git config --global user.name; git config --global user.email',
      'stat -c %U .git/config; git status --porcelain',
    ].join('; ');
    const r = await bottle(p, ['run', '--', 'sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'node:node 600',
      'You are a careful agent.',
      'node:node',
      'node 750',
      'Bottle Bot',
      'bot@example.com',
      'node',
      '?? bottle.config.json',
      '?? new.txt',
    ]);
    if (fake) expect(callsFor(agent).filter((c) => c[1] === 'exec' && c.includes('-i'))).toHaveLength(2); // the files, the agent
  });

  describe('doors', () => {
    let upstream: http.Server;
    let port = 0;
    const seen: Array<{ url: string | undefined; key: string | undefined }> = [];
    let sshd: Sshd;
    beforeAll(async () => {
      upstream = http.createServer((req, res) => {
        seen.push({ url: req.url, key: req.headers['x-api-key'] as string | undefined });
        res.end(`upstream-ok ${req.url}`);
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      port = (upstream.address() as AddressInfo).port;
      sshd = await startSshd();
    });
    afterAll(async () => {
      await new Promise((r) => upstream.close(r));
      await sshd?.stop();
    });

    it('egress through the proxy door (the route gets the real key, the guest the placeholder), git through the gate, supervise on its door; nothing else reachable', async () => {
      p = project('bottle-smolvm-', SMOLVM);
      const agent = agentName('svdoor');
      const app = sshd.bareRepo('app', { commits: 2 });
      const key = `sk-real-${Math.random().toString(36).slice(2)}`;
      p.config(config(agent, {
        egress: { routes: [{ host: 'api.example.test', inject: { header: 'x-api-key', env: 'TEST_API_KEY' }, upstream: `http://127.0.0.1:${port}` }] },
        git: { user: { name: 'Bot', email: 'bot@example.com' }, remotes: { app: { upstream: sshd.url(app), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts } } },
        supervise: true,
      }));
      const script = [
        'cd /home/node/workspace',
        'echo "route $(curl -s -m 20 http://api.example.test/hello)"',
        'echo "denied $(curl -s -m 20 -o /dev/null -w %{http_code} http://not-allowed.test/)"',
        `echo "direct $(curl -s -m 5 --noproxy '*' http://127.0.0.1:${port}/ >/dev/null 2>&1 && echo reached || echo refused)"`,
        'echo "key $TEST_API_KEY" | cut -c1-16',
        `git clone -q ${sshd.url(app)} app >/dev/null 2>&1 && echo "clone $(git -C app rev-list --count HEAD)" || echo "clone failed"`,
        'cd app && git checkout -q -b claude/x && echo x > x && git add x && git commit -qm x',
        'git push -q origin claude/x >/dev/null 2>&1 && echo "push-claude ok" || echo "push-claude refused"',
        'git push -q origin HEAD:main >/dev/null 2>&1 && echo "push-main ok" || echo "push-main refused"',
        `echo "supervise $(curl -s -m 10 -o /dev/null -w %{http_code} -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' http://127.0.0.1:8767/mcp)"`,
      ].join('\n');
      const r = await bottle(p, ['run', '--', 'sh', '-c', script], { TEST_API_KEY: key });
      expect(r.exitCode).toBe(0);
      const out = new Map(r.stdout.split('\n').map((l) => [l.split(' ')[0]!, l.slice(l.indexOf(' ') + 1)]));
      expect(out.get('route')).toBe('upstream-ok /hello');
      expect(seen.at(-1)).toEqual({ url: '/hello', key });
      expect(out.get('denied')).toBe('403');
      expect(out.get('direct')).toBe('refused');
      expect(out.get('key')).not.toContain(key.slice(0, 10));
      expect(out.get('clone')).toBe('2');
      expect(out.get('push-claude')).toBe('ok');
      expect(out.get('push-main')).toBe('refused');
      expect(out.get('supervise')).toBe('200');
      expect(execaSync('git', ['--git-dir', app, 'rev-parse', '--verify', '-q', 'refs/heads/claude/x'], { reject: false }).exitCode).toBe(0);
      expect(gone(agent)).toEqual(none);
    });
  });

  it('a failing plugin: exit 1, the plugin named, the machine deleted', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svfail');
    const base = JSON.stringify(config(agent)).slice(0, -1);
    writeFileSync(path.join(p.dir, 'bottle.config.mjs'), `export default ${base}, plugins: [{ name: 'probe', apply(hooks) { hooks.provision.tapPromise('probe', async () => { throw new Error('the disk is full'); }); } }] };\n`);
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('plugin "probe" failed in provision: the disk is full');
    expect(gone(agent)).toEqual(none);
    expect(stateDirs(p)).toEqual([]);
  });

  it('kill -9 of bottle: the agent stops with the lifeline, and `bottle gc` deletes the machine', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svkill');
    p.config(config(agent));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    await until('the agent to run', () => gone(agent).containers.length > 0 && stateDirs(p).length === 1);
    await sleep(1500);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await until('bottle to die', () => !alive(child.pid!));
    // The forwarder lost its lifeline; its container ended, and the agent's exec in it.
    if (fake) {
      const running = (n: string) => execaSync('docker', ['inspect', '--format', '{{.State.Running}}', n], { reject: false }).stdout.trim() === 'true';
      await until('the workload to stop', () => gone(agent).containers.filter((n) => n.startsWith('fake-smolvm-')).every((n) => !running(n)), 10_000);
      expect(Date.now() - killedAt).toBeLessThan(5000);
    }
    await child;
    const gc = await bottle(p, ['gc']);
    expect(gc.exitCode).toBe(0);
    expect(gc.stdout).toMatch(new RegExp(`removed ${agent}-\\w+ \\(1 machine, state dir\\)`));
    expect(gone(agent)).toEqual(none);
    expect(stateDirs(p)).toEqual([]);
  });

  it('ps lists a running bottle on smolvm and down removes it; the run then ends', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svdown');
    p.config(config(agent));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    await until('the agent to run', () => stateDirs(p).length === 1 && gone(agent).containers.length > 0);
    await sleep(1500);
    const ps = await bottle(p, ['ps', '--json']);
    expect(ps.exitCode).toBe(0);
    const mine = (JSON.parse(ps.stdout) as Array<{ slug: string; agent: string; backend: string; status: string; ownerAlive: boolean }>).filter((b) => b.agent === agent);
    expect(mine).toEqual([expect.objectContaining({ backend: 'smolvm', status: 'machine running', ownerAlive: true })]);
    const down = await bottle(p, ['down', mine[0]!.slug]);
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toContain(`removed ${mine[0]!.slug}`);
    const r = await child;
    expect(r.exitCode).not.toBe(0);
    expect(gone(agent)).toEqual(none);
    expect(stateDirs(p)).toEqual([]);
  });

  it('a docker save tarball named as the image boots as it is', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    const agent = agentName('svtar');
    const tar = path.join(p.dir, '..', 'agent.tar');
    execaSync('docker', ['save', '--output', tar, TEST_IMAGE]);
    p.config(config(agent, {}, {}, { image: tar }));
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'id -un']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('node');
    if (fake) expect(callsFor(agent).find((c) => c[1] === 'create')).toContain(tar);
  });

  it('doctor checks smolvm (presence, version), the hypervisor and the image saved for it, saying what to do', async () => {
    p = project('bottle-smolvm-', SMOLVM);
    p.config(config(agentName('svdoc')));
    const r = await bottle(p, ['doctor']);
    const kvm = existsSync('/dev/kvm');
    expect(r.stdout).toMatch(fake ? /✓ smolvm: 1\.9\.2 / : /✓ smolvm: \d+\.\d+\.\d+ /);
    expect(r.stdout).toContain('✓ smolvm image: ');
    if (!kvm) {
      expect(r.stdout).toContain('✗ hypervisor: no /dev/kvm\n    fix: smolvm needs KVM');
      expect(r.exitCode).toBe(1);
    }
    if (fake) {
      const old = await bottle(p, ['doctor'], { FAKE_SMOLVM_VERSION: '1.8.0' });
      expect(old.exitCode).toBe(1);
      expect(old.stdout).toContain('✗ smolvm: smolvm 1.8.0');
      expect(old.stdout).toContain('fix: install smolvm 1.9 or later');
    }
  });

  describe('bad input: a clear error, a non-zero exit, nothing left', () => {
    it('workspace: mount (smolvm mounts directories only): exit 2 naming it', async () => {
      p = project('bottle-smolvm-', SMOLVM);
      const agent = agentName('svmount');
      p.config(config(agent, { workspace: 'mount' }));
      const r = await bottle(p, ['run', '--', 'true']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('backend smolvm');
      expect(r.stderr).toContain('workspace: copy');
      expect(gone(agent)).toEqual(none);
      expect(stateDirs(p)).toEqual([]);
    });

    it.skipIf(!fake)('a smolvm older than 1.9: exit 1 naming the version found', async () => {
      p = project('bottle-smolvm-', SMOLVM);
      const agent = agentName('svold');
      p.config(config(agent));
      const r = await bottle(p, ['run', '--', 'true'], { FAKE_SMOLVM_VERSION: '1.8.4' });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('smolvm 1.8.4');
      expect(r.stderr).toContain('1.9.0 or later');
      expect(gone(agent)).toEqual(none);
      expect(stateDirs(p)).toEqual([]);
    });

    it('no smolvm at all: exit 1 saying so and what to do', async () => {
      p = project('bottle-smolvm-', SMOLVM);
      const agent = agentName('svnone');
      p.config(config(agent));
      const r = await bottle(p, ['run', '--', 'true'], { BOTTLE_SMOLVM: '/nonexistent/smolvm' });
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('`/nonexistent/smolvm` command was not found');
      expect(r.stderr).toContain('BOTTLE_SMOLVM');
      expect(stateDirs(p)).toEqual([]);
    });

    it('an image neither local nor pullable: exit 1 naming it', async () => {
      p = project('bottle-smolvm-', SMOLVM);
      const agent = agentName('svnoimg');
      p.config(config(agent, {}, {}, { image: 'claude-bottle-no-such-image:never' }));
      const r = await bottle(p, ['run', '--', 'true']);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain('claude-bottle-no-such-image:never');
      expect(r.stderr).toContain('bottle image build');
      expect(gone(agent)).toEqual(none);
      expect(stateDirs(p)).toEqual([]);
    });
  });
});

// `bottle selftest` against real bottles: a correct one (egress with a route,
// the git gate on a real sshd upstream, supervise) passes with every attempt
// refused and audited; a weakened one (an in-house plugin that hands the guest
// the real credentials and a host socket) fails, naming what got through.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, bottle, leftovers, project, stateDirs, TEST_IMAGE, type Project } from '../helpers/cli.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const TOKEN = 'selftest-route-token-0123456789abcdef';

describe.skipIf(!dockerAvailable)('bottle selftest', () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  it('passes on a correct bottle: every attempt refused, each one audited', async () => {
    const p = project('bottle-selftest-');
    try {
      const agent = agentName('selftest');
      const app = sshd.bareRepo('app', { commits: 2 });
      p.config({
        image: TEST_IMAGE,
        agents: { [agent]: { bottle: 'dev' } },
        bottles: {
          dev: {
            workspace: 'copy',
            egress: {
              allow: ['allowed.selftest.test'],
              routes: [{ host: 'api.selftest.test', inject: { header: 'authorization', env: 'SELFTEST_TOKEN', format: 'Bearer {token}' }, upstream: 'http://127.0.0.1:9' }],
            },
            git: { remotes: { app: { upstream: sshd.url(app), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts } } },
            supervise: true,
          },
        },
      });
      writeFileSync(path.join(p.dir, 'notes.txt'), 'nothing secret here\n');
      const r = await bottle(p, ['selftest', '--json'], { SELFTEST_TOKEN: TOKEN });
      expect(r.stdout, r.stderr).toMatch(/^\{/);
      const report = JSON.parse(r.stdout) as { ok: boolean; slug: string; attempts: Array<{ id: string; group: string; verdict: string; detail: string }> };
      const notRefused = report.attempts.filter((a) => a.verdict !== 'refused' && a.verdict !== 'skipped');
      expect(notRefused).toEqual([]);
      expect(r.exitCode).toBe(0);
      expect(report.ok).toBe(true);
      expect(r.stderr).toMatch(/bottle selftest: \d+ attempts: \d+ refused; every attempt was refused/);
      const byId = new Map(report.attempts.map((a) => [a.id, a]));
      // Every kind of attempt was made, not skipped.
      for (const id of ['guest:interfaces', 'guest:unix-sockets', 'dns:resolve', 'proxy:unlisted', 'proxy:loopback-decimal', 'proxy:loopback-hex', 'proxy:loopback-octal',
        'proxy:loopback-IPv4-mapped-IPv6', 'proxy:loopback-trailing-dot', 'proxy:front-host', 'proxy:front-sni', 'credentials:$SELFTEST_TOKEN', 'credentials:$ANTHROPIC_API_KEY',
        'git:app:protected', 'git:app:tag', 'git:app:outside-heads', 'git:app:not-allowed', 'supervise:mcp', 'supervise:http']) {
        expect(byId.get(id)?.verdict, id).toBe('refused');
      }
      expect(report.attempts.some((a) => a.id.startsWith('credentials:key '))).toBe(true);
      expect(report.attempts.filter((a) => a.group === 'network' && a.id.startsWith('tcp:')).length).toBeGreaterThanOrEqual(3);
      expect(byId.get('proxy:front-host')!.detail).toMatch(/^421: claude-bottle: /);
      expect(byId.get('git:app:protected')!.detail).toMatch(/^git-gate: refused: refs\/heads\/main/);
      // The upstream got nothing.
      expect(sshd.git(app, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
      // Audited, one record per attempt; the token is in no record.
      const audit = auditEvents(p);
      const recorded = audit.filter((e) => e.type === 'selftest.attempt');
      expect(recorded.map((e) => e.kind).sort()).toEqual(report.attempts.map((a) => a.id).sort());
      expect(JSON.stringify(audit)).not.toContain(TOKEN);
      expect(leftovers(agent).containers).toEqual([]);
      expect(stateDirs(p)).toEqual([]);
    } finally {
      p.cleanup();
    }
  }, 240_000);

  it('fails on a weakened bottle, naming each attempt that got through', async () => {
    const p: Project = project('bottle-selftest-weak-');
    const sockDir = mkdtempSync(path.join(tmpdir(), 'bottle-selftest-sock-'));
    chmodSync(sockDir, 0o755);
    const sockPath = path.join(sockDir, 'host-service.sock');
    const service = net.createServer((s) => {
      s.on('error', () => {});
      s.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => service.listen(sockPath, resolve));
    chmodSync(sockPath, 0o777);
    try {
      const agent = agentName('selftest-weak');
      // An in-house plugin that does what a careless one might: the real key in the
      // env, the route's token base64-encoded in a file, a host service's socket mounted.
      writeFileSync(path.join(p.dir, 'bottle.config.mjs'), `
export default {
  image: ${JSON.stringify(TEST_IMAGE)},
  agents: { ${JSON.stringify(agent)}: { bottle: 'dev' } },
  bottles: { dev: { workspace: 'none', egress: { allow: [], routes: [{ host: 'api.selftest.test', inject: { header: 'authorization', env: 'SELFTEST_TOKEN' }, upstream: 'http://127.0.0.1:9' }] } } },
  plugins: [{
    name: 'leaky',
    apply(hooks) {
      hooks.plan.tapPromise('leaky', async (draft) => {
        draft.env.HELPFUL_KEY = process.env.ANTHROPIC_API_KEY;
        draft.files.push({ guestPath: '/home/node/.config/leaky/token', content: Buffer.from(process.env.SELFTEST_TOKEN).toString('base64'), owner: 'node', mode: 0o600, plugin: 'leaky' });
        draft.mounts.push({ hostPath: ${JSON.stringify(sockDir)}, guestPath: '/mnt/host-service', readOnly: true });
      });
    },
  }],
};
`);
      const r = await bottle(p, ['selftest'], { SELFTEST_TOKEN: TOKEN });
      expect(r.exitCode).toBe(1);
      const lines = r.stdout.split('\n');
      expect(lines.find((l) => l.includes('credential $ANTHROPIC_API_KEY'))).toMatch(/^GOT THROUGH .*found: \$ANTHROPIC_API_KEY in env/);
      expect(lines.find((l) => l.includes('credential $SELFTEST_TOKEN'))).toMatch(/^GOT THROUGH .*found: \$SELFTEST_TOKEN in \/home\/node\/\.config\/leaky\/token \(base64\)/);
      expect(lines.find((l) => l.includes('Unix sockets'))).toMatch(/^GOT THROUGH .*\/mnt\/host-service\/host-service\.sock/);
      // The rest still holds, and says so.
      expect(lines.find((l) => l.includes('an unlisted host over plain HTTP'))).toMatch(/^refused /);
      expect(lines.find((l) => l.includes('git gate'))).toMatch(/^skipped .*no git gate/);
      expect(r.stdout).toMatch(/bottle selftest: \d+ attempts: \d+ refused, 3 GOT THROUGH.*; not refused: .*credential \$ANTHROPIC_API_KEY/);
      // The real values were never printed.
      expect(r.stdout + r.stderr).not.toContain(TOKEN);
      expect(r.stdout + r.stderr).not.toContain(p.env.ANTHROPIC_API_KEY);
      const audit = auditEvents(p);
      expect(audit.filter((e) => e.type === 'selftest.attempt' && e.verdict === 'got-through').map((e) => e.kind).sort())
        .toEqual(['credentials:$ANTHROPIC_API_KEY', 'credentials:$SELFTEST_TOKEN', 'guest:unix-sockets']);
      expect(leftovers(agent).containers).toEqual([]);
    } finally {
      service.close();
      rmSync(sockDir, { recursive: true, force: true });
      p.cleanup();
    }
  }, 240_000);

  it('refuses bad input with a clear error and exit 2', async () => {
    const p = project('bottle-selftest-usage-');
    try {
      p.config({ image: TEST_IMAGE, agents: { one: { bottle: 'dev' } }, bottles: { dev: { workspace: 'none' } } });
      const r = await bottle(p, ['selftest', '--agent', 'nobody']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain('no agent named "nobody"');
      const bad = await bottle(p, ['selftest', '--frobnicate']);
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain("unknown option '--frobnicate'");
      const help = await bottle(p, ['selftest', '--help']);
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toContain('GOT THROUGH');
      expect(help.stdout).toContain('--json');
    } finally {
      p.cleanup();
    }
  }, 60_000);
});

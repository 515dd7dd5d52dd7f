// The git gate from inside a real bottle, against a real sshd upstream: the
// agent clones and pushes by the upstream's own URL, the gate enforces the
// policy and DLP before anything reaches the upstream, relays the upstream's
// refusals, and the key never enters the guest.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, alive, bottle, leftovers, project, stateDirs, TEST_IMAGE, type Project, auditEvents } from '../helpers/cli.ts';
import { startSshd, type Sshd } from '../helpers/sshd.ts';

const HOST_MARKER = `/tmp/bottle-gate-host-marker-${process.pid}`;

describe.skipIf(!dockerAvailable)('git gate from inside a bottle', () => {
  let sshd: Sshd;
  let p: Project;
  let agent: string;
  let app = '';
  let locked = '';
  let out = new Map<string, string>();
  let stdout = '';
  let audit: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    sshd = await startSshd();
    app = sshd.bareRepo('app', { commits: 3 });
    locked = sshd.bareRepo('locked', { commits: 1, rejectPushes: 'no pushes today, says upstream' });
    p = project('bottle-gate-');
    agent = agentName('gate');
    const keyLines = readFileSync(sshd.identityFile, 'utf8').trim().split('\n');
    const keyBody = keyLines[2]!; // a line of the key's base64 body
    p.config({
      image: TEST_IMAGE,
      agents: { [agent]: { bottle: 'dev' } },
      bottles: {
        dev: {
          workspace: 'none',
          // Halves, so only the whole line would match a grep in the guest.
          env: { KEYA: keyBody.slice(0, 20), KEYB: keyBody.slice(20, 40) },
          git: {
            user: { name: 'Bottle Bot', email: 'bot@example.com' },
            remotes: {
              app: { upstream: sshd.url(app), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
              locked: { upstream: sshd.url(locked), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts },
            },
            policy: { protected: ['main'], push: ['claude/*', 'main'] },
          },
        },
      },
    });
    const aws = ['AKIA', 'Z2QTESTEXAMPLEK7'].join('');
    // A token inside a gzip file and a UTF-16 file: the gate reads through both (built here, sent as base64 to write in the guest).
    const ghTok = ['gh', 'p_', 'Gz1pUtf16T0kenN0tRea1', 'Xy9Wv8Ut7Sr6Qp5'].join('');
    const gzFile = gzipSync(`machine github.com\npassword ${ghTok}\n`).toString('base64');
    const utf16File = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`notes\r\ntoken: ${ghTok}\r\n`, 'utf16le')]).toString('base64');
    // A refusal: the remote's first message line, as the agent sees it.
    const r = (label: string, cmd: string) => `if ${cmd} >/tmp/out.txt 2>&1; then echo "${label} ok"; else echo "${label} refused: $(grep '^remote: ' /tmp/out.txt | head -1 | cut -c9-) | $(tr '\\n' ' ' </tmp/out.txt | cut -c1-300)"; fi`;
    const script = [
      'set -u',
      'cd /home/node/workspace',
      `git clone -q ${sshd.url(app)} app >/dev/null 2>&1 && echo "clone ok $(git -C app rev-list --count HEAD)" || echo "clone failed"`,
      'cd app',
      'git checkout -q -b claude/feature && echo feature > f.txt && git add f.txt && git commit -qm feature',
      r('push-claude', 'git push origin claude/feature'),
      'echo "head $(git rev-parse HEAD)"',
      'git checkout -q main && echo more > m.txt && git add m.txt && git commit -qm more',
      r('push-main-ff', 'git push origin main'),
      r('push-main-force', 'git push -f origin HEAD~2:main'),
      r('delete-main', 'git push origin :main'),
      r('push-other', 'git push origin HEAD:refs/heads/other'),
      r('push-tag', 'git tag v1 && git push origin v1'),
      // A secret two commits below the tip.
      `git checkout -q -b claude/secret && echo "aws_access_key_id = ${aws}" > creds.txt && git add creds.txt && git commit -qm creds && echo a > a.txt && git add a.txt && git commit -qm a && echo b > b.txt && git add b.txt && git commit -qm b`,
      r('push-secret', 'git push origin claude/secret'),
      `git checkout -q claude/feature && git checkout -q -b claude/gz && echo '${gzFile}' | base64 -d > netrc.gz && git add netrc.gz && git commit -qm gz`,
      r('push-gz', 'git push origin claude/gz'),
      `git checkout -q claude/feature && git checkout -q -b claude/utf16 && echo '${utf16File}' | base64 -d > notes.txt && git add notes.txt && git commit -qm utf16`,
      r('push-utf16', 'git push origin claude/utf16'),
      // Config the agent writes runs only in the guest, never on the host.
      'git checkout -q claude/feature',
      `git config core.fsmonitor 'touch ${HOST_MARKER}; false' && git config core.sshCommand 'touch ${HOST_MARKER}' && git config filter.x.clean 'touch ${HOST_MARKER}'`,
      `echo '* filter=x' > .gitattributes && git add .gitattributes && git -c core.fsmonitor= commit -qm attrs`,
      r('push-attrs', 'git -c core.fsmonitor= push origin HEAD:claude/attrs'),
      'cd .. && git clone -q ' + sshd.url(locked) + ' locked >/dev/null 2>&1 && cd locked && git checkout -q -b claude/x && echo x > x && git add x && git commit -qm x',
      r('push-locked', 'git push origin claude/x'),
      `t="$KEYA$KEYB"; if grep -rqs -- "$t" /home/node /proc/*/environ /etc /tmp /run; then echo "key found"; else echo "key absent"; fi`,
    ].join('\n');
    const run = await bottle(p, ['run', '--', 'bash', '-c', script]);
    stdout = run.stdout;
    expect(run.exitCode, run.stderr).toBe(0);
    out = new Map(stdout.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    audit = auditEvents(p);
  }, 300_000);

  afterAll(async () => {
    await sshd?.stop();
    p?.cleanup();
  });

  it('clones by the upstream URL through the gate', () => {
    expect(out.get('clone')).toBe('ok 3');
  });

  it('pushes a claude/ branch on to the upstream', () => {
    expect(out.get('push-claude')).toBe('ok');
    expect(sshd.git(app, 'rev-parse', 'refs/heads/claude/feature')).toBe(out.get('head'));
  });

  it('allows a fast-forward to a protected branch in `push`, refuses a force-push or a delete', () => {
    expect(out.get('push-main-ff')).toBe('ok');
    expect(out.get('push-main-force')).toMatch(/^refused: git-gate: refused: /);
    expect(out.get('delete-main')).toMatch(/^refused: git-gate: refused: /);
    expect(sshd.git(app, 'log', '-1', '--format=%s', 'main')).toBe('more');
  });

  it('refuses refs outside `push` and tags', () => {
    expect(out.get('push-other')).toMatch(/^refused: git-gate: refused: /);
    expect(out.get('push-tag')).toMatch(/^refused: git-gate: refused: /);
    expect(sshd.git(app, 'for-each-ref', '--format=%(refname)')).not.toMatch(/refs\/heads\/other|refs\/tags\/v1/);
  });

  it('refuses a secret two commits below the tip, leaving the upstream unchanged', () => {
    expect(out.get('push-secret')).toMatch(/^refused: git-gate: refused: commit [0-9a-f]+ carries a secret \(aws-access-key-id\)/);
    expect(sshd.git(app, 'for-each-ref', '--format=%(refname)')).not.toContain('claude/secret');
    expect(JSON.stringify(audit)).not.toContain('AKIA');
  });

  it('refuses a pushed .gz file and a UTF-16 file holding a token: the gate decodes as the proxy does', () => {
    expect(out.get('push-gz')).toMatch(/^refused: git-gate: refused: commit [0-9a-f]+ carries a secret \(github-token\)/);
    expect(out.get('push-utf16')).toMatch(/^refused: git-gate: refused: commit [0-9a-f]+ carries a secret \(github-token\)/);
    const refs = sshd.git(app, 'for-each-ref', '--format=%(refname)');
    expect(refs).not.toContain('claude/gz');
    expect(refs).not.toContain('claude/utf16');
  });

  it('runs nothing the agent configured on the host', () => {
    expect(out.get('push-attrs')).toBe('ok');
    expect(existsSync(HOST_MARKER)).toBe(false);
  });

  it("relays the upstream's own refusal", () => {
    expect(out.get('push-locked')).toMatch(/no pushes today, says upstream/);
  });

  it('keeps the key out of the guest and audits every refusal', () => {
    expect(out.get('key')).toBe('absent');
    expect(audit.filter((e) => e.type === 'git.refuse').length).toBeGreaterThanOrEqual(5);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  });
});

describe.skipIf(!dockerAvailable)('git gate: no host process outlives its bottle', () => {
  let sshd: Sshd;
  let app = '';
  beforeAll(async () => {
    sshd = await startSshd();
    app = sshd.bareRepo('app', { commits: 1 });
  }, 60_000);
  afterAll(async () => {
    await sshd?.stop();
  });

  /** Starts a bottle whose agent clones through the gate (which starts an ssh master) and then waits; resolves with the master's pid. */
  async function bottleWithMaster(p: Project, agent: string): Promise<{ child: ReturnType<typeof bottle>; master: number }> {
    p.config({
      image: TEST_IMAGE,
      agents: { [agent]: { bottle: 'dev' } },
      bottles: { dev: { workspace: 'none', git: { remotes: { app: { upstream: sshd.url(app), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts } } } } },
    });
    const child = bottle(p, ['run', '--', 'bash', '-c', `git clone -q ${sshd.url(app)} /tmp/app && echo cloned; sleep 300`]);
    let master: number | undefined;
    for (let i = 0; i < 600 && master === undefined; i++) {
      await sleep(100);
      for (const slug of stateDirs(p)) {
        const procs = path.join(p.stateRoot, 'bottles', slug, 'procs');
        if (existsSync(procs)) master = Number(readdirSync(procs)[0]?.replace(/\.json$/, '')) || undefined;
      }
    }
    if (master === undefined) throw new Error('no ssh master was recorded');
    expect(alive(master)).toBe(true);
    return { child, master };
  }

  it('after kill -9 of `bottle`, the ssh master lives on until `bottle gc` ends it', async () => {
    const p = project('bottle-gatekill-');
    const agent = agentName('gatekill');
    try {
      const { child, master } = await bottleWithMaster(p, agent);
      child.kill('SIGKILL');
      await sleep(1000);
      expect(alive(master)).toBe(true);
      expect((await bottle(p, ['gc'])).exitCode).toBe(0);
      for (let i = 0; i < 50 && alive(master); i++) await sleep(100);
      expect(alive(master)).toBe(false);
      expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
      await child;
    } finally {
      p.cleanup();
    }
  });

  it('`bottle down` of a running bottle ends its ssh master', async () => {
    const p = project('bottle-gatedown-');
    const agent = agentName('gatedown');
    try {
      const { child, master } = await bottleWithMaster(p, agent);
      const slug = stateDirs(p)[0]!;
      const down = await bottle(p, ['down', slug]);
      expect(down.exitCode, down.stderr).toBe(0);
      await child;
      for (let i = 0; i < 50 && alive(master); i++) await sleep(100);
      expect(alive(master)).toBe(false);
      expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    } finally {
      p.cleanup();
    }
  });
});


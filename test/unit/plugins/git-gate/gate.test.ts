// The git gate end to end on this host: a real sshd as the upstream, the gate
// on 127.0.0.1, and a real git client talking smart HTTP to it (the guest's
// side, without Docker). Clone, fetch and push go through; every policy
// refusal is explained to the client and audited, and the upstream is left
// untouched by what the gate refuses; nothing the client sends, nor the
// environment of the process that runs the gate, makes host-side git run
// anything.
//
// The fake AWS key is assembled at run time, so this file holds nothing
// credential-shaped itself.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createScanner } from '../../../../lib/dlp/index.ts';
import { type Gate, type GateAudit, startGate } from '../../../../plugins/git-gate/gate.ts';
import { pkt } from '../../../../plugins/git-gate/pktline.ts';
import { type Relay, startRelay } from '../../../helpers/relay.ts';
import { cleanGitEnv, SSHD_BIN, type Sshd, startSshd } from '../../../helpers/sshd.ts';

// The upstream is a real sshd. Without one (Debian: openssh-server) the suite
// is skipped and says so, except under CI, where that is a failure.
const HAVE_SSHD = existsSync(SSHD_BIN);
if (!HAVE_SSHD) {
  if (process.env.CI) throw new Error(`${SSHD_BIN} is missing: the git gate tests need openssh-server`);
  console.warn(`git gate tests skipped: ${SSHD_BIN} is missing (apt-get install -y openssh-server)`);
}

const MAX_PACK = 256 * 1024;
const UPPER32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const fakeAwsKey = () => ['AK', 'IA'].join('') + Array.from({ length: 16 }, () => UPPER32[Math.floor(Math.random() * 32)]).join('');

interface Run {
  code: number | null;
  out: string;
}

let sshd: Sshd;
let gate: Gate;
let relay: Relay;
/** What the guest's git uses: the gate's door, here through a relay standing in for the forwarder. */
const gateUrl = (name: string) => `http://127.0.0.1:${relay.port}/${name}.git`;
let tmp: string;
let stateDir: string;
let app: string;
let locked: string;
let empty: string;
const audits: GateAudit[] = [];
let clientEnv: NodeJS.ProcessEnv;

/** Runs a command without blocking the event loop (the gate lives in this process). */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = clientEnv, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { cwd, env });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    c.once('error', reject);
    c.once('close', (code) => resolve({ code, out }));
    c.stdin.on('error', () => {});
    c.stdin.end(input ?? '');
  });
}
const git = (cwd: string, ...args: string[]) => run('git', args, cwd);
async function ok(cwd: string, ...args: string[]): Promise<string> {
  const r = await git(cwd, ...args);
  if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.out}`);
  return r.out.trim();
}

let seq = 0;
/** A fresh clone of `remote` through the gate. */
async function clone(remote: string, branch?: string): Promise<string> {
  const dir = join(tmp, `clone-${remote}-${++seq}`);
  await ok(tmp, 'clone', '-q', ...(branch ? ['-b', branch] : []), gateUrl(remote), dir);
  return dir;
}
async function commit(dir: string, file: string, content: string, message = `add ${file}`): Promise<string> {
  mkdirSync(join(dir, file, '..'), { recursive: true });
  writeFileSync(join(dir, file), content);
  await ok(dir, 'add', '-A');
  await ok(dir, 'commit', '-q', '-m', message);
  return ok(dir, 'rev-parse', 'HEAD');
}
const upstreamRef = (repo: string, ref: string) => {
  try {
    return sshd.git(repo, 'rev-parse', '--verify', '-q', ref);
  } catch {
    return undefined;
  }
};
const since = (n: number) => audits.slice(n);

beforeAll(async () => {
  if (!HAVE_SSHD) return;
  tmp = mkdtempSync(join(tmpdir(), 'bottle-gate-test-'));
  stateDir = join(tmp, 'state');
  mkdirSync(stateDir, { mode: 0o700 });
  const home = join(tmp, 'home');
  mkdirSync(home);
  clientEnv = cleanGitEnv(home);
  sshd = await startSshd();
  app = sshd.bareRepo('app', { commits: 3, branches: ['claude/keep', 'claude/stale'] });
  locked = sshd.bareRepo('locked', { commits: 1, rejectPushes: 'upstream says: no pushes today' });
  empty = sshd.bareRepo('empty', { commits: 0 });
  const wrongKeys = join(tmp, 'wrong_known_hosts');
  const other = join(tmp, 'other_host_key');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other], tmp);
  writeFileSync(wrongKeys, `[127.0.0.1]:${sshd.port} ${readFileSync(other + '.pub', 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const remote = (name: string, repo: string, knownHosts = sshd.knownHosts) => ({ name, upstream: sshd.url(repo), identityFile: sshd.identityFile, knownHosts });
  gate = await startGate({
    socketPath: join(tmp, 'git.sock'),
    stateDir,
    remotes: [remote('app', app), remote('locked', locked), remote('spoofed', app, wrongKeys), remote('empty', empty)],
    policy: { protected: ['main', 'claude/keep'], push: ['claude/*'], maxPackBytes: MAX_PACK },
    scanner: createScanner(),
    onAudit: (e) => audits.push(e),
  });
  relay = await startRelay(gate.socketPath);
}, 60_000);

afterAll(async () => {
  await relay?.close();
  await gate?.close();
  await sshd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_SSHD)('git gate: fetch', { timeout: 30_000 }, () => {
  it('a clone through the gate gets the upstream history and default branch', async () => {
    const dir = await clone('app');
    expect(await ok(dir, 'rev-parse', 'HEAD')).toBe(sshd.git(app, 'rev-parse', 'main'));
    expect(await ok(dir, 'symbolic-ref', '--short', 'HEAD')).toBe('main');
    expect(await ok(dir, 'log', '--format=%s')).toBe(sshd.git(app, 'log', '--format=%s', 'main'));
    expect((await ok(dir, 'branch', '-r')).split('\n').map((s) => s.trim())).toEqual(expect.arrayContaining(['origin/claude/keep', 'origin/claude/stale']));
    expect(audits.some((a) => a.type === 'git.fetch' && a.remote === 'app')).toBe(true);
  });

  it('a new upstream commit appears on the next fetch', async () => {
    const dir = await clone('app');
    const fresh = sshd.commitTo(app, 'main', 'later.txt', 'pushed upstream by someone else\n');
    await ok(dir, 'fetch', '-q');
    expect(await ok(dir, 'rev-parse', 'origin/main')).toBe(fresh);
    const ls = await ok(tmp, 'ls-remote', gateUrl('app'), 'refs/heads/main');
    expect(ls.split('\t')[0]).toBe(fresh);
  });

  it('an upstream that cannot be reached (wrong host key) is a clear error, audited', async () => {
    const n = audits.length;
    const r = await git(tmp, 'clone', gateUrl('spoofed'), join(tmp, 'spoofed'));
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('fatal: remote error: git-gate: cannot fetch spoofed from its upstream');
    expect(r.out).toContain('Host key verification failed');
    expect(r.out).not.toContain('wrong_known_hosts');
    expect(since(n)).toContainEqual(expect.objectContaining({ type: 'git.error', remote: 'spoofed' }));
  });
});

describe.skipIf(!HAVE_SSHD)('git gate: push', { timeout: 30_000 }, () => {
  it('a push to claude/x reaches the upstream, audited', async () => {
    const dir = await clone('app');
    const c = await commit(dir, 'feature.txt', 'hello\n');
    const n = audits.length;
    const r = await git(dir, 'push', 'origin', 'HEAD:claude/x');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('remote: git-gate: pushed to');
    expect(upstreamRef(app, 'refs/heads/claude/x')).toBe(c);
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.push', remote: 'app', ref: 'refs/heads/claude/x', commit: c })]);
    // The next push is an update of the same branch; the branch can be deleted.
    const c2 = await commit(dir, 'feature.txt', 'hello again\n');
    expect((await git(dir, 'push', 'origin', 'HEAD:claude/x')).code).toBe(0);
    expect(upstreamRef(app, 'refs/heads/claude/x')).toBe(c2);
    expect((await git(dir, 'push', 'origin', ':claude/x')).code).toBe(0);
    expect(upstreamRef(app, 'refs/heads/claude/x')).toBeUndefined();
  });

  it('a push to main (not a push pattern) is refused, explained and audited', async () => {
    const dir = await clone('app');
    const before = upstreamRef(app, 'refs/heads/main');
    await commit(dir, 'nope.txt', 'nope\n');
    const n = audits.length;
    const r = await git(dir, 'push', 'origin', 'HEAD:main');
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/remote: git-gate: refused: refs\/heads\/main: the agent may push only to branches matching claude\/\*/);
    expect(r.out).toMatch(/\[remote rejected\] HEAD -> main \(git-gate: /);
    expect(upstreamRef(app, 'refs/heads/main')).toBe(before);
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.refuse', remote: 'app', ref: 'refs/heads/main' })]);
  });

  it('a one-time exception lets the next push of that branch through, once', async () => {
    const dir = await clone('app');
    await commit(dir, 'release.txt', 'approved by a human\n');
    expect((await git(dir, 'push', 'origin', 'HEAD:refs/heads/release')).code).not.toBe(0);
    expect(gate.allowOnce('release')).toBe('refs/heads/release');
    const pushed = await git(dir, 'push', 'origin', 'HEAD:refs/heads/release');
    expect(pushed.code).toBe(0);
    expect(upstreamRef(app, 'refs/heads/release')).toBeTruthy();
    await commit(dir, 'again.txt', 'not approved\n');
    const again = await git(dir, 'push', 'origin', 'HEAD:refs/heads/release');
    expect(again.code).not.toBe(0);
    expect(again.out).toMatch(/git-gate: refused: refs\/heads\/release/);
  });

  it('a protected branch takes fast-forwards, but no force-push and no deletion', async () => {
    const dir = await clone('app', 'claude/keep');
    const ff = await commit(dir, 'keep.txt', 'kept\n');
    expect((await git(dir, 'push', 'origin', 'claude/keep')).code).toBe(0);
    expect(upstreamRef(app, 'refs/heads/claude/keep')).toBe(ff);

    await ok(dir, 'reset', '-q', '--hard', 'HEAD~2');
    await commit(dir, 'rewrite.txt', 'history rewritten\n');
    let n = audits.length;
    const forced = await git(dir, 'push', '-f', 'origin', 'claude/keep');
    expect(forced.code).not.toBe(0);
    expect(forced.out).toContain('remote: git-gate: refused: refs/heads/claude/keep: protected branch, only fast-forwards are accepted');
    expect(upstreamRef(app, 'refs/heads/claude/keep')).toBe(ff);
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.refuse', ref: 'refs/heads/claude/keep', reason: expect.stringContaining('fast-forward') })]);

    n = audits.length;
    const deleted = await git(dir, 'push', 'origin', ':claude/keep');
    expect(deleted.code).not.toBe(0);
    expect(deleted.out).toContain('protected branch, it cannot be deleted');
    expect(upstreamRef(app, 'refs/heads/claude/keep')).toBe(ff);
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.refuse', ref: 'refs/heads/claude/keep', reason: expect.stringContaining('deleted') })]);
  });

  it('tags are refused, lightweight or annotated', async () => {
    const dir = await clone('app');
    await ok(dir, 'tag', 'v1');
    await ok(dir, 'tag', '-a', '-m', 'release', 'v2');
    const n = audits.length;
    for (const t of ['v1', 'v2']) {
      const r = await git(dir, 'push', 'origin', t);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(`git-gate: refused: refs/tags/${t}: tags cannot be pushed`);
      expect(upstreamRef(app, `refs/tags/${t}`)).toBeUndefined();
    }
    // A branch push that carries a tag along is refused as a whole.
    await commit(dir, 'with-tag.txt', 'x\n');
    await ok(dir, 'tag', 'v3');
    const both = await git(dir, 'push', 'origin', 'HEAD:claude/with-tag', 'v3');
    expect(both.code).not.toBe(0);
    expect(upstreamRef(app, 'refs/heads/claude/with-tag')).toBeUndefined();
    expect(since(n).filter((a) => a.type === 'git.refuse').map((a) => a.ref)).toEqual(['refs/tags/v1', 'refs/tags/v2', 'refs/tags/v3']);
  });

  it('a secret two commits below the tip is refused; the upstream is unchanged', async () => {
    const dir = await clone('app');
    const key = fakeAwsKey();
    const bad = await commit(dir, 'config/deploy.env', `AWS_ACCESS_KEY_ID=${key}\nREGION=eu-west-1\n`);
    await commit(dir, 'config/deploy.env', 'REGION=eu-west-1\n', 'remove the key again');
    await commit(dir, 'README.md', 'docs\n');
    const n = audits.length;
    const r = await git(dir, 'push', 'origin', 'HEAD:claude/dlp');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`commit ${bad.slice(0, 12)} carries a secret (aws-access-key-id) in config/deploy.env`);
    expect(r.out).not.toContain(key);
    expect(upstreamRef(app, 'refs/heads/claude/dlp')).toBeUndefined();
    const refusals = since(n);
    expect(refusals).toEqual([expect.objectContaining({ type: 'git.refuse', ref: 'refs/heads/claude/dlp', rule: 'aws-access-key-id', commit: bad })]);
    expect(JSON.stringify(refusals)).not.toContain(key);
  });

  it('a secret in a commit message or a file name is refused too', async () => {
    const dir = await clone('app');
    const key = fakeAwsKey();
    const msg = await commit(dir, 'a.txt', 'a\n', `deploy with ${key}`);
    let r = await git(dir, 'push', 'origin', 'HEAD:claude/dlp-msg');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain(`commit ${msg.slice(0, 12)} carries a secret (aws-access-key-id) in its message`);
    expect(upstreamRef(app, 'refs/heads/claude/dlp-msg')).toBeUndefined();

    const dir2 = await clone('app');
    // An empty file: its blob is not new, only the tree naming it is.
    await commit(dir2, `${fakeAwsKey()}.txt`, '', 'an empty file');
    r = await git(dir2, 'push', 'origin', 'HEAD:claude/dlp-name');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('(aws-access-key-id) in a file name');
  });

  it("the upstream's own refusal reaches the client, audited", async () => {
    const dir = await clone('locked');
    await commit(dir, 'x.txt', 'x\n');
    const n = audits.length;
    const r = await git(dir, 'push', 'origin', 'HEAD:claude/x');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('refused this push');
    expect(r.out).toContain('upstream says: no pushes today');
    expect(upstreamRef(locked, 'refs/heads/claude/x')).toBeUndefined();
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.refuse', remote: 'locked', reason: expect.stringContaining('no pushes today') })]);
    // The gate's mirror did not take the refused push either.
    expect((await git(tmp, 'ls-remote', gateUrl('locked'), 'refs/heads/claude/x')).out.trim()).toBe('');
  });

  it('a push based on a stale view never overwrites the upstream, and says to fetch', async () => {
    const dir = await clone('app', 'claude/stale');
    const theirs = sshd.commitTo(app, 'claude/stale', 'theirs.txt', 'their work\n');
    await commit(dir, 'mine.txt', 'my work\n');
    const r = await git(dir, 'push', 'origin', 'claude/stale');
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('the upstream has moved since your last fetch');
    expect(upstreamRef(app, 'refs/heads/claude/stale')).toBe(theirs);
    await ok(dir, 'pull', '-q', '--rebase');
    expect((await git(dir, 'push', 'origin', 'claude/stale')).code).toBe(0);
    expect(sshd.git(app, 'log', '--format=%s', '-2', 'claude/stale').split('\n')).toEqual(['add mine.txt', expect.stringContaining('theirs.txt')]);
  });

  it('an empty upstream can be cloned and pushed to', async () => {
    const dir = join(tmp, 'empty-clone');
    const r = await git(tmp, 'clone', gateUrl('empty'), dir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('empty repository');
    const c = await commit(dir, 'first.txt', 'first\n');
    expect((await git(dir, 'push', 'origin', 'HEAD:claude/first')).code).toBe(0);
    expect(upstreamRef(empty, 'refs/heads/claude/first')).toBe(c);
  });

  it('objects that fail fsck are refused by receive-pack, audited', async () => {
    const dir = await clone('app');
    const tree = await ok(dir, 'rev-parse', 'HEAD^{tree}');
    const parent = await ok(dir, 'rev-parse', 'HEAD');
    const bad = await run('git', ['hash-object', '-t', 'commit', '-w', '--literally', '--stdin'], dir, clientEnv, `tree ${tree}\nparent ${parent}\nauthor Bad <bad 1700000000 +0000\ncommitter A <a@b.c> 1700000000 +0000\n\nbroken\n`);
    const n = audits.length;
    const r = await git(dir, 'push', 'origin', `${bad.out.trim()}:refs/heads/claude/fsck`);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('badEmail');
    expect(r.out).toContain('fsck error');
    expect(upstreamRef(app, 'refs/heads/claude/fsck')).toBeUndefined();
    expect(since(n)).toEqual([expect.objectContaining({ type: 'git.refuse', ref: 'refs/heads/claude/fsck', reason: expect.stringContaining('receive-pack') })]);
  });

  it('pushes larger than maxPackBytes are refused, whether declared or streamed', async () => {
    const dir = await clone('app');
    const n = audits.length;
    // ~400 KB: sent with a Content-Length; ~3 MB: more than git's postBuffer, sent chunked.
    for (const [i, size] of [400_000, 3_000_000].entries()) {
      writeFileSync(join(dir, `big${i}.bin`), Buffer.from(Array.from({ length: size }, () => Math.floor(Math.random() * 256))));
      await ok(dir, 'add', '-A');
      await ok(dir, 'commit', '-q', '-m', `big ${i}`);
      const r = await git(dir, 'push', 'origin', `HEAD:claude/big${i}`);
      expect(r.code).not.toBe(0);
      expect(r.out).toContain(`more than the limit of ${MAX_PACK} bytes`);
      expect(upstreamRef(app, `refs/heads/claude/big${i}`)).toBeUndefined();
    }
    expect(since(n).map((a) => [a.type, a.ref])).toEqual([
      ['git.refuse', 'refs/heads/claude/big0'],
      ['git.refuse', 'refs/heads/claude/big1'],
    ]);
  });
});

describe.skipIf(!HAVE_SSHD)('git gate: concurrency', { timeout: 30_000 }, () => {
  it('parallel fetches and a push all succeed, and each fetch sees the upstream', async () => {
    const dir = await clone('app');
    const fresh = sshd.commitTo(app, 'main', 'parallel.txt', 'x\n');
    await commit(dir, 'parallel.txt', 'mine\n');
    const [push, ...lists] = await Promise.all([
      git(dir, 'push', 'origin', 'HEAD:claude/parallel'),
      ...Array.from({ length: 4 }, () => git(tmp, 'ls-remote', gateUrl('app'), 'refs/heads/main')),
    ]);
    expect(push!.code, push!.out).toBe(0);
    for (const l of lists) expect(l.out.split('\t')[0]).toBe(fresh);
  });
});

describe.skipIf(!HAVE_SSHD)('git gate: hardening', { timeout: 30_000 }, () => {
  it('nothing the client pushes or configures, nor the environment of the gate process, runs anything on the host', async () => {
    const evil = join(tmp, 'evil');
    const markers = join(evil, 'markers');
    mkdirSync(markers, { recursive: true });
    const touch = (name: string) => {
      const p = join(evil, `${name}.sh`);
      writeFileSync(p, `#!/bin/sh\ntouch '${markers}/${name}'\ncat >/dev/null 2>&1\nexit 0\n`);
      chmodSync(p, 0o755);
      return p;
    };
    const hooks = join(evil, 'hooks');
    mkdirSync(hooks);
    for (const h of ['pre-receive', 'update', 'post-receive', 'post-update', 'reference-transaction', 'push-to-checkout', 'proc-receive']) {
      writeFileSync(join(hooks, h), `#!/bin/sh\ntouch '${markers}/hook-${h}'\n`);
      chmodSync(join(hooks, h), 0o755);
    }
    // A poisoned global config and environment in the process that runs the gate.
    const globalConfig = join(evil, 'gitconfig');
    writeFileSync(
      globalConfig,
      [
        '[core]',
        `\thooksPath = ${hooks}`,
        `\tfsmonitor = ${touch('fsmonitor')}`,
        '[filter "evil"]',
        `\tclean = ${touch('clean')}`,
        `\tsmudge = ${touch('smudge')}`,
        '[diff "evil"]',
        `\ttextconv = ${touch('textconv')}`,
        `\tcommand = ${touch('diffcmd')}`,
        '[diff]',
        `\texternal = ${touch('external')}`,
        '[uploadpack]',
        `\tpackObjectsHook = ${touch('packobjects')}`,
        '',
      ].join('\n'),
    );
    const poison: Record<string, string> = {
      GIT_CONFIG_GLOBAL: globalConfig,
      GIT_CONFIG_SYSTEM: globalConfig,
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'core.hooksPath',
      GIT_CONFIG_VALUE_0: hooks,
      GIT_EXTERNAL_DIFF: touch('env-external'),
      GIT_DIR: join(evil, 'nowhere'),
    };
    const saved = Object.fromEntries(Object.keys(poison).map((k) => [k, process.env[k]]));
    Object.assign(process.env, poison);
    try {
      const dir = await clone('app');
      // The client's own config names the hooks and fsmonitor too: it never leaves the client.
      await ok(dir, 'config', 'core.hooksPath', hooks.replace('hooks', 'client-hooks'));
      await ok(dir, 'config', 'core.fsmonitor', touch('client-fsmonitor-unused'));
      await ok(dir, 'config', '--unset', 'core.fsmonitor');
      writeFileSync(join(dir, '.gitattributes'), '* filter=evil diff=evil\n');
      mkdirSync(join(dir, 'hooks'));
      writeFileSync(join(dir, 'hooks', 'pre-receive'), `#!/bin/sh\ntouch '${markers}/pushed-hook'\n`);
      chmodSync(join(dir, 'hooks', 'pre-receive'), 0o755);
      writeFileSync(join(dir, 'config'), `[core]\n\thooksPath = hooks\n\tfsmonitor = ${touch('pushed-config')}\n`);
      const c = await commit(dir, 'src/main.c', 'int main() { return 0; }\n');
      const r = await git(dir, 'push', 'origin', 'HEAD:claude/hardening');
      expect(r.code, r.out).toBe(0);
      expect(upstreamRef(app, 'refs/heads/claude/hardening')).toBe(c);
      // Fetch it back (upload-pack, pack-objects) and push an update.
      const again = await clone('app', 'claude/hardening');
      await commit(again, 'src/main.c', 'int main() { return 1; }\n');
      expect((await git(again, 'push', 'origin', 'claude/hardening')).code).toBe(0);
      // Push options are not advertised: the client cannot send any.
      const opt = await git(again, 'push', '-o', 'core.hooksPath=/tmp', 'origin', 'HEAD:claude/opt');
      expect(opt.code).not.toBe(0);
      expect(opt.out).toMatch(/does not support push options/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(readdirSync(markers)).toEqual([]);
    // The mirror's config is the gate's own.
    const config = readFileSync(join(stateDir, 'git-gate', 'repos', 'app.git', 'config'), 'utf8');
    expect(config).not.toMatch(/hooksPath|fsmonitor|filter|external/);
    expect(existsSync(join(stateDir, 'git-gate', 'repos', 'app.git', 'hooks'))).toBe(false);
  });

  it('listens on its door only, and never replaces what is not a socket', async () => {
    // Nothing at all on TCP: the gate's one listener is the socket.
    expect(statSync(gate.socketPath).isSocket()).toBe(true);
    expect(statSync(gate.socketPath).mode & 0o777).toBe(0o600);
    const file = join(tmp, 'not-a-socket');
    writeFileSync(file, 'x');
    await expect(startGate({ socketPath: file, stateDir: join(tmp, 'wild'), remotes: [], policy: { protected: [], push: [], maxPackBytes: 1 }, onAudit: () => {} })).rejects.toThrow(/not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});

describe.skipIf(!HAVE_SSHD)('git gate: HTTP', { timeout: 30_000 }, () => {
  const base = () => `http://127.0.0.1:${relay.port}`;
  it('serves only the smart protocol of known remotes', async () => {
    expect((await fetch(`${base()}/nope.git/info/refs?service=git-upload-pack`)).status).toBe(404);
    expect((await fetch(`${base()}/app.git/info/refs`)).status).toBe(403);
    expect((await fetch(`${base()}/app.git/HEAD`)).status).toBe(404);
    expect((await fetch(`${base()}/app.git/config`)).status).toBe(404);
    expect((await fetch(`${base()}/app.git/git-upload-pack`)).status).toBe(405);
    expect((await fetch(`${base()}/app.git/info/refs?service=git-upload-pack`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base()}/app.git/git-upload-pack`, { method: 'POST', body: '0000', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
  });

  it('reads gzip request bodies', async () => {
    const body = Buffer.concat([pkt('command=ls-refs\n'), Buffer.from('0001'), pkt('ref-prefix refs/heads/\n'), Buffer.from('0000')]);
    const ask = async (gzip: boolean) => {
      const res = await fetch(`${base()}/app.git/git-upload-pack`, {
        method: 'POST',
        body: gzip ? gzipSync(body) : body,
        headers: { 'content-type': 'application/x-git-upload-pack-request', 'git-protocol': 'version=2', ...(gzip ? { 'content-encoding': 'gzip' } : {}) },
      });
      expect(res.status).toBe(200);
      return res.text();
    };
    const plain = await ask(false);
    expect(plain).toContain('refs/heads/main');
    expect(await ask(true)).toBe(plain);
  });
});

// A real OpenSSH server on 127.0.0.1 for tests that need an ssh upstream (the
// git gate): a throwaway host key, one client key in authorized_keys for the
// current user, a known_hosts line for `[127.0.0.1]:<port>`, and helpers that
// make bare repositories with some history on the "remote".
//
//   const sshd = await startSshd();
//   const repo = sshd.bareRepo('app', { commits: 3, rejectPushes: 'no pushes today' });
//   sshd.url(repo)   // ssh://root@127.0.0.1:<port>/tmp/.../app.git
//   await sshd.stop();
//
// Needs /usr/sbin/sshd (Debian's openssh-server) and ssh-keygen. As root it
// logs in as root (PermitRootLogin prohibit-password); as anyone else it runs
// unprivileged and logs in as that user.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export const SSHD_BIN = process.env.BOTTLE_TEST_SSHD ?? '/usr/sbin/sshd';

export interface BareRepoOptions {
  /** Commits on `main` (default 2). */
  commits?: number;
  /** Other branches, each one commit on top of main. */
  branches?: string[];
  /** A pre-receive hook on the remote that refuses every push with this message. */
  rejectPushes?: string;
}

export interface Sshd {
  port: number;
  /** The user ssh logs in as. */
  user: string;
  /** `ssh://<user>@127.0.0.1:<port><absPath>` */
  url(absPath: string): string;
  /** The client's private key (its public half is in authorized_keys). */
  identityFile: string;
  /** A known_hosts file with this server's host key for `[127.0.0.1]:<port>`. */
  knownHosts: string;
  /** A scratch directory that goes away with stop(). */
  dir: string;
  /** Makes a bare repository `<dir>/repos/<name>.git` with history on main; returns its absolute path. */
  bareRepo(name: string, opts?: BareRepoOptions): string;
  /** Adds one commit to `branch` of a bare repo (as another developer would); returns the new commit id. */
  commitTo(repo: string, branch: string, file: string, content: string): string;
  /** `git` against a repo on the "remote" (no ssh); returns stdout, trimmed. */
  git(repo: string, ...args: string[]): string;
  /** The environment that makes host-side `git` talk to this server directly over ssh, with the test key. */
  directEnv(): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** A git environment that ignores the machine's own configuration. */
export function cleanGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_TERMINAL_PROMPT: '0',
  };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export async function startSshd(): Promise<Sshd> {
  if (!existsSync(SSHD_BIN)) throw new Error(`${SSHD_BIN} is missing: apt-get install -y openssh-server`);
  const dir = mkdtempSync(join(tmpdir(), 'bottle-sshd-'));
  chmodSync(dir, 0o700);
  const user = userInfo().username;
  const root = process.getuid?.() === 0;
  // sshd insists on its privilege separation directory when it runs as root.
  if (root) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const hostKey = join(dir, 'host_ed25519');
  const identityFile = join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bottle-test-host', '-f', hostKey]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bottle-test-client', '-f', identityFile]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(identityFile + '.pub'), { mode: 0o600 });
  const home = join(dir, 'home');
  mkdirSync(home);

  let child: ChildProcess | undefined;
  let port = 0;
  let lastErr = '';
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        `AllowUsers ${user}`,
        'MaxStartups 100:30:200',
        'MaxSessions 100',
        'LogLevel INFO',
        '',
      ].join('\n'),
    );
    const c = spawn(SSHD_BIN, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ok = await new Promise<boolean>((resolve) => {
      let err = '';
      const done = (v: boolean) => {
        c.stderr!.off('data', onData);
        clearTimeout(timer);
        resolve(v);
      };
      const onData = (b: Buffer) => {
        err += b.toString();
        if (err.includes('Server listening on')) done(true);
      };
      c.stderr!.on('data', onData);
      c.once('exit', () => {
        lastErr = err;
        done(false);
      });
      const timer = setTimeout(() => {
        lastErr = err;
        done(false);
      }, 10_000);
    });
    if (ok) {
      child = c;
      // Keep draining sshd's log so it never blocks on a full pipe.
      c.stderr!.resume();
    } else c.kill('SIGKILL');
  }
  if (!child) throw new Error(`sshd did not start: ${lastErr.trim()}`);

  const pub = readFileSync(hostKey + '.pub', 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${pub}\n`);

  const env = cleanGitEnv(home);
  const git = (repo: string, ...args: string[]) => execFileSync('git', ['-C', repo, ...args], { env, encoding: 'utf8' }).trim();
  let seq = 0;

  const commitTo = (repo: string, branch: string, file: string, content: string): string => {
    // Plumbing only: no work tree needed on the "remote".
    const blob = execFileSync('git', ['-C', repo, 'hash-object', '-w', '--stdin'], { env, input: content, encoding: 'utf8' }).trim();
    let parent = '';
    try {
      parent = git(repo, 'rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`);
    } catch {
      parent = '';
    }
    const base = parent ? git(repo, 'ls-tree', parent) + '\n' : '';
    const entries = base
      .split('\n')
      .filter((l) => l && !l.endsWith(`\t${file}`))
      .concat(`100644 blob ${blob}\t${file}`)
      .join('\n');
    const tree = execFileSync('git', ['-C', repo, 'mktree'], { env, input: entries + '\n', encoding: 'utf8' }).trim();
    const msg = `remote commit ${++seq}: ${file}`;
    const commit = git(repo, 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', msg);
    git(repo, 'update-ref', `refs/heads/${branch}`, commit, ...(parent ? [parent] : []));
    return commit;
  };

  return {
    port,
    user,
    dir,
    identityFile,
    knownHosts,
    url: (absPath) => `ssh://${user}@127.0.0.1:${port}${absPath}`,
    bareRepo(name, opts = {}) {
      const repo = join(dir, 'repos', `${name}.git`);
      mkdirSync(repo, { recursive: true });
      execFileSync('git', ['init', '-q', '--bare', '--template=', '-b', 'main', repo], { env });
      for (let i = 1; i <= (opts.commits ?? 2); i++) commitTo(repo, 'main', `file${i}.txt`, `line ${i}\n`);
      for (const b of opts.branches ?? []) {
        git(repo, 'update-ref', `refs/heads/${b}`, 'refs/heads/main');
        commitTo(repo, b, `${b.replace(/\//g, '_')}.txt`, `${b}\n`);
      }
      if (opts.rejectPushes !== undefined) {
        mkdirSync(join(repo, 'hooks'), { recursive: true });
        writeFileSync(join(repo, 'hooks', 'pre-receive'), `#!/bin/sh\necho ${q(opts.rejectPushes)} >&2\nexit 1\n`, { mode: 0o755 });
      }
      return repo;
    },
    commitTo,
    git,
    directEnv: () => ({
      ...env,
      GIT_SSH_COMMAND: `ssh -F /dev/null -i ${q(identityFile)} -o IdentitiesOnly=yes -o IdentityAgent=none -o UserKnownHostsFile=${q(knownHosts)} -o StrictHostKeyChecking=yes -o BatchMode=yes`,
    }),
    async stop() {
      const c = child!;
      if (c.exitCode === null && c.signalCode === null) {
        await new Promise<void>((resolve) => {
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The one way the gate runs git: a fresh environment and the same hardening
// flags on every call, so that nothing the guest pushed, nothing in the user's
// git config and nothing in the bottle process's own environment changes what
// host-side git does.
//
// Why each piece:
// - The environment is built from scratch (PATH only is inherited): no GIT_DIR,
//   GIT_CONFIG_COUNT/KEY/VALUE, GIT_EXEC_PATH, SSH_AUTH_SOCK, GIT_ASKPASS...
//   from the process that started the gate. System and global config are off
//   (GIT_CONFIG_NOSYSTEM, GIT_CONFIG_GLOBAL=/dev/null, HOME and
//   XDG_CONFIG_HOME in the gate's own dir): the user's `filter.lfs`,
//   `core.hooksPath` or `include.path` never apply. The repositories' own
//   config files are written by the gate alone (the git protocol carries no
//   config; push options are not advertised).
// - `-c` flags (the highest-priority config, inherited by every git child,
//   hooks included): no hooks but the gate's own pre-receive, no fsmonitor, no
//   attributes file, attributes never read from a tree (`attr.tree`, git >=
//   2.42, set to the empty tree), no submodule recursion, no transport but
//   ssh and only where the upstream is contacted, objects checked on receive.
// - Diffs (only `log --find-object` when reporting a refusal) run with
//   --no-ext-diff --no-textconv; nothing ever checks out, so clean/smudge
//   filters have no occasion to run, and none is configured anyway.
// - Replace refs are ignored (GIT_NO_REPLACE_OBJECTS): the DLP scan sees the
//   objects as they are.
import { type ChildProcess, spawn } from 'node:child_process';

/** The empty tree's id (SHA-1); in a SHA-256 repository it resolves to nothing, which git 2.42+ also treats as the empty tree. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

export interface GitEnvOptions {
  /** HOME (and XDG_CONFIG_HOME below it) for every call: a directory of the gate's own. */
  home: string;
  /** The `core.hooksPath` of this call: the gate's hooks dir for receive-pack, `/dev/null` otherwise. */
  hooksPath?: string;
  /** Set only for the calls that contact the upstream: the ssh command, shell-quoted. */
  sshCommand?: string;
  /** Largest pack receive-pack accepts (`receive.maxInputSize`). */
  maxInputSize?: number;
  /** Extra variables (quarantine, the push token). */
  extra?: Record<string, string>;
}

/** `-c` flags put on every git call. */
export function hardeningArgs(o: GitEnvOptions): string[] {
  const c: [string, string][] = [
    ['core.hooksPath', o.hooksPath ?? '/dev/null'],
    ['core.fsmonitor', 'false'],
    ['core.attributesFile', '/dev/null'],
    ['attr.tree', EMPTY_TREE],
    ['core.askPass', ''],
    ['core.bare', 'true'],
    ['core.sshCommand', o.sshCommand ?? 'false'],
    ['protocol.allow', 'never'],
    ['protocol.ssh.allow', o.sshCommand ? 'always' : 'never'],
    ['submodule.recurse', 'false'],
    ['fetch.recurseSubmodules', 'false'],
    ['push.recurseSubmodules', 'no'],
    ['receive.fsckObjects', 'true'],
    ['receive.advertisePushOptions', 'false'],
    ['receive.denyNonFastForwards', 'false'],
    ['receive.denyDeletes', 'false'],
    ['receive.denyCurrentBranch', 'refuse'],
    ['uploadpack.allowAnySHA1InWant', 'false'],
    ['credential.helper', ''],
    ['init.defaultBranch', 'main'],
  ];
  if (o.maxInputSize) c.push(['receive.maxInputSize', String(o.maxInputSize)]);
  return c.flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

/** The whole environment of a git call. */
export function gitEnv(o: GitEnvOptions): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: o.home,
    XDG_CONFIG_HOME: `${o.home}/.config`,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_PAGER: 'cat',
  };
  if (o.sshCommand) env.GIT_SSH_COMMAND = o.sshCommand;
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return { ...env, ...o.extra };
}

export interface GitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface RunOptions extends GitEnvOptions {
  /** The git binary (default `git` on PATH). */
  bin?: string;
  input?: string | Buffer;
  /** Kill the call (and anything it started: it runs in its own process group) after this long. */
  timeoutMs?: number;
  /** Registers the child so that the gate can kill it on close. */
  track?: (child: ChildProcess) => void;
}

/** Spawns `git <hardening> <args>` in its own process group; the caller owns the streams. */
export function spawnGit(args: string[], o: RunOptions): ChildProcess {
  const child = spawn(o.bin ?? 'git', [...hardeningArgs(o), ...args], {
    env: gitEnv(o),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  o.track?.(child);
  return child;
}

/** Kills a child started by spawnGit and everything it started (ssh, pack-objects...). */
export function killTree(child: ChildProcess): void {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Runs git to completion and collects its output. Never rejects for a non-zero exit; rejects only if git cannot start. */
export function runGit(args: string[], o: RunOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(args, o);
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => {
      // Enough to explain a failure; a chatty git cannot grow it without bound.
      if (err.length < 64 * 1024) err += b.toString('utf8');
    });
    const timer = o.timeoutMs ? setTimeout(() => killTree(child), o.timeoutMs) : undefined;
    child.stdin!.on('error', () => {});
    child.once('error', (e) => {
      if (timer) clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    child.stdin!.end(o.input ?? '');
  });
}

/** The last few non-empty lines of git's stderr, for an error message. */
export function tail(stderr: string, lines = 6): string {
  return stderr
    .split(/\r?\n|\r/)
    .map((l) => l.trimEnd())
    .filter(Boolean)
    .slice(-lines)
    .join('\n');
}

// How the gate reaches an upstream: OpenSSH with the remote's key alone and
// host keys checked against one known_hosts file, through one multiplexed
// connection per remote kept open by a master the gate starts.
//
// Why a master: an ssh handshake is most of the cost of a fetch or push
// (measured here: ~230 ms of a ~370 ms `git ls-remote`), and the gate talks to
// the upstream on every fetch and every push. The master is started with
// `-f -N` once authenticated; it exits by itself after `persistSeconds` with
// no client (so a crashed bottle leaves it for minutes, not forever), and
// `close()` asks it to exit. Clients run with ControlMaster=no: when the
// master is gone or not up yet, ssh falls back to a connection of its own, so
// the master is only ever a speed-up. Its socket lives in a 0700 directory.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';

export interface SshTarget {
  user?: string;
  host: string;
  port?: number;
}

/** The ssh destination of an upstream URL: `ssh://[user@]host[:port]/path` or `[user@]host:path`. */
export function sshTarget(upstream: string): SshTarget {
  let m = /^ssh:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\//.exec(upstream);
  if (!m) m = /^(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+):(?!\/\/)()/.exec(upstream);
  if (!m) throw new Error(`not an ssh URL: ${upstream}`);
  const host = m[2]!.replace(/^\[(.*)\]$/, '$1');
  if (!host || host.startsWith('-')) throw new Error(`bad host in ${upstream}`);
  if (m[1]?.startsWith('-')) throw new Error(`bad user in ${upstream}`);
  const t: SshTarget = { host };
  if (m[1]) t.user = m[1];
  if (m[3]) t.port = Number(m[3]);
  return t;
}

export interface SshIdentity {
  /** Absolute path of the private key. */
  identityFile: string;
  /** Absolute path of the known_hosts file the upstream's host key is checked against. */
  knownHosts: string;
  /** Absolute path of the master's control socket. */
  controlPath: string;
}

/** A path for an ssh option: quoted (ssh splits option values on spaces) and with `%` escaped (ssh expands %-tokens). */
function sshPath(p: string): string {
  if (!p.startsWith('/')) throw new Error(`ssh paths must be absolute: ${p}`);
  if (/["\n\r\0]/.test(p)) throw new Error(`unsupported character in path: ${JSON.stringify(p)}`);
  return `"${p.replace(/%/g, '%%')}"`;
}

/** ssh options: this key alone, no agent, strict host keys from one file, no prompts, no forwarding. */
export function sshOptions(id: SshIdentity): string[] {
  const o = [
    `IdentityFile=${sshPath(id.identityFile)}`,
    'IdentitiesOnly=yes',
    'IdentityAgent=none',
    'AddKeysToAgent=no',
    `UserKnownHostsFile=${sshPath(id.knownHosts)}`,
    'GlobalKnownHostsFile=/dev/null',
    'StrictHostKeyChecking=yes',
    'UpdateHostKeys=no',
    'BatchMode=yes',
    'PasswordAuthentication=no',
    'KbdInteractiveAuthentication=no',
    'ForwardAgent=no',
    'ForwardX11=no',
    'ClearAllForwardings=yes',
    'PermitLocalCommand=no',
    'ConnectTimeout=20',
    'ServerAliveInterval=15',
    'ServerAliveCountMax=3',
    'LogLevel=ERROR',
    `ControlPath=${sshPath(id.controlPath)}`,
  ];
  return ['-F', '/dev/null', ...o.flatMap((x) => ['-o', x])];
}

const shq = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** GIT_SSH_COMMAND for git's calls to the upstream: a client of the master when there is one. */
export function sshCommand(id: SshIdentity, bin = 'ssh'): string {
  return [bin, ...sshOptions(id), '-o', 'ControlMaster=no'].map(shq).join(' ');
}

export interface SshMaster {
  /** Starts the master if none is running; resolves once it is up, or failed (never rejects). */
  ensure(): Promise<void>;
  /** Asks the master to exit and forgets it. */
  close(): Promise<void>;
}

export interface SshMasterOptions extends SshIdentity {
  target: SshTarget;
  /** Idle seconds after which the master exits by itself (default 300). */
  persistSeconds?: number;
  bin?: string;
  /** After a failed start, the next attempt waits this long (default 10 s), so that a refused key is not retried per request. */
  retryMs?: number;
  /** Told the pid of a master once it runs: it is daemonised and outlives a killed `bottle`, so the kernel records it. */
  onStarted?: (pid: number) => void;
}

/** The pid of the master behind a control socket (`ssh -O check` says "Master running (pid=N)"), or undefined. */
function masterPid(bin: string, controlPath: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const c = spawn(bin, ['-F', '/dev/null', '-o', `ControlPath=${sshPath(controlPath)}`, '-O', 'check', 'gate-master'], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
    c.once('error', () => resolve(undefined));
    c.once('close', () => {
      clearTimeout(t);
      const m = /pid=(\d+)/.exec(err);
      resolve(m ? Number(m[1]) : undefined);
    });
  });
}

function runSsh(bin: string, args: string[], timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    // stdin/stdout/stderr detached: `-f` leaves a background process that must
    // not hold a pipe of ours open.
    const c = spawn(bin, args, { stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } });
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.once('error', () => {
      clearTimeout(t);
      resolve(null);
    });
    c.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

export function sshMaster(o: SshMasterOptions): SshMaster {
  const bin = o.bin ?? 'ssh';
  const dest = [...(o.target.port ? ['-p', String(o.target.port)] : []), ...(o.target.user ? ['-l', o.target.user] : []), '--', o.target.host];
  let starting: Promise<void> | undefined;
  let failedAt = 0;
  let closed = false;
  const retryMs = o.retryMs ?? 10_000;

  return {
    ensure() {
      if (closed || existsSync(o.controlPath)) return Promise.resolve();
      if (starting) return starting;
      if (Date.now() - failedAt < retryMs) return Promise.resolve();
      starting = runSsh(
        bin,
        [...sshOptions(o), '-o', 'ControlMaster=yes', '-o', `ControlPersist=${o.persistSeconds ?? 300}`, '-N', '-f', ...dest],
        30_000,
      ).then(async (code) => {
        if (code !== 0) failedAt = Date.now();
        else if (o.onStarted) {
          const pid = await masterPid(bin, o.controlPath);
          if (pid) o.onStarted(pid);
        }
        starting = undefined;
      });
      return starting;
    },
    async close() {
      closed = true;
      if (starting) await starting;
      if (existsSync(o.controlPath)) {
        await runSsh(bin, ['-F', '/dev/null', '-o', `ControlPath=${sshPath(o.controlPath)}`, '-O', 'exit', 'gate-master'], 5_000);
        rmSync(o.controlPath, { force: true });
      }
    },
  };
}

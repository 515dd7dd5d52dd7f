// One remote's bare repository in the bottle's state dir, kept as a mirror of
// the upstream's branches and tags. A sync fetches from the upstream (only
// that URL, over ssh with the remote's key); syncs are serialised per
// repository and coalesced: a request arriving while one runs waits for the
// next one, which serves every request that arrived in the meantime. Pushes
// take the same lock, so refs never move under a push being checked.
import { existsSync, mkdirSync } from 'node:fs';
import { type RunOptions, runGit, tail } from './git.ts';
import type { SshMaster } from './ssh.ts';

export interface MirrorOptions {
  name: string;
  upstream: string;
  /** The bare repository's path. */
  repo: string;
  /** Options of every local git call (git.ts hardens them). */
  local: RunOptions;
  /** GIT_SSH_COMMAND for the calls that reach the upstream. */
  sshCommand: string;
  master: SshMaster;
  fetchTimeoutMs: number;
}

export interface Mirror {
  readonly repo: string;
  /** Brings the mirror up to date; rejects with a message for the agent. */
  sync(): Promise<void>;
  /** Syncs unless a sync has already succeeded once. */
  ensureSynced(): Promise<void>;
  /** Runs `fn` with the repository to itself (no sync, no other push). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** What went wrong, from git's stderr, without git's generic advice. */
export function explain(stderr: string): string {
  const generic = /Could not read from remote repository|Please make sure you have the correct access rights|^and the repository exists|the remote end hung up unexpectedly/;
  return tail(
    stderr
      .split('\n')
      .filter((l) => !generic.test(l.replace(/^fatal: /, '')))
      .join('\n'),
    2,
  );
}

export class UpstreamError extends Error {
  override name = 'UpstreamError';
}

export async function openMirror(o: MirrorOptions): Promise<Mirror> {
  const remote: RunOptions = { ...o.local, sshCommand: o.sshCommand, timeoutMs: o.fetchTimeoutMs };
  const run = (args: string[], opts: RunOptions) => runGit([`--git-dir=${o.repo}`, ...args], opts);

  if (!existsSync(o.repo)) {
    mkdirSync(o.repo, { recursive: true, mode: 0o700 });
    const r = await runGit(['init', '-q', '--bare', '--template=', o.repo], o.local);
    if (r.code !== 0) throw new Error(`git init ${o.repo}: ${tail(r.stderr)}`);
  }

  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = lock.then(fn, fn);
    lock = next.catch(() => {});
    return next;
  };

  let synced = false;
  let headKnown = false;

  const doSync = async () => {
    await o.master.ensure();
    await exclusive(async () => {
      const fetch = run(
        ['fetch', '--quiet', '--prune', '--no-tags', '--no-write-fetch-head', '--', o.upstream, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'],
        remote,
      );
      // The upstream's default branch, once: what a clone checks out.
      const head = headKnown ? undefined : run(['ls-remote', '--symref', '--', o.upstream, 'HEAD'], remote);
      const [f, h] = await Promise.all([fetch, head]);
      if (f.code !== 0) throw new UpstreamError(`git-gate: cannot fetch ${o.name} from its upstream ${o.upstream}: ${explain(f.stderr) || `git exited ${f.code ?? f.signal}`}`);
      if (h && h.code === 0) {
        const m = /^ref: (refs\/heads\/\S+)\tHEAD$/m.exec(h.stdout.toString());
        if (m) await run(['symbolic-ref', 'HEAD', m[1]!], o.local);
        headKnown = true;
      }
      synced = true;
    });
  };

  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const sync = (): Promise<void> => {
    if (!running) {
      running = doSync().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running
      .catch(() => {})
      .then(() => {
        queued = undefined;
        return sync();
      });
    return queued;
  };

  return {
    repo: o.repo,
    sync,
    ensureSynced: () => (synced ? Promise.resolve() : sync()),
    exclusive,
  };
}

// The git gate's contract with its plugin: what it serves, what it reports.
import type { DlpScanner } from '../../lib/dlp/types.ts';
import type { GatePolicy } from './policy.ts';
import type { ScanLimits } from './scan.ts';

export type { GatePolicy } from './policy.ts';
export type { ScanLimits } from './scan.ts';

export interface GateRemote {
  /** The name in the guest's URL: `http://127.0.0.1:9418/<name>.git`. Letters, digits, `.`, `_`, `-`. */
  name: string;
  /** The real remote, an ssh URL (`ssh://git@host/acme/app.git` or `git@host:acme/app.git`). */
  upstream: string;
  /** Absolute path of the private key used for this upstream, and only for it. Must not need a passphrase. */
  identityFile: string;
  /** Absolute path of the known_hosts file the upstream's host key must be in (the plugin defaults it to ~/.ssh/known_hosts). */
  knownHosts: string;
}

export interface GateAudit {
  /**
   * `git.fetch`: the guest fetched (the mirror was synced first);
   * `git.push`: a ref went upstream; `git.refuse`: the gate or the upstream
   * refused a push; `git.error`: the upstream could not be reached or a git
   * call failed.
   */
  type: 'git.fetch' | 'git.push' | 'git.refuse' | 'git.error';
  remote: string;
  ref?: string;
  reason?: string;
  /** The upstream URL, on pushes, upstream refusals and errors. */
  upstream?: string;
  /** DLP refusals: the rule that matched (never the secret). */
  rule?: string;
  /** The commit a refusal is about (DLP), or the new tip of a pushed ref. */
  commit?: string;
  /** `git.push`: the ref went through under a human's one-time exception (Gate.allowOnce). */
  exception?: boolean;
}

export interface GateOptions {
  /** The door's Unix socket: the gate never listens on TCP. */
  socketPath: string;
  /** The bottle's private state dir (0700); everything goes under `<stateDir>/git-gate/`. */
  stateDir: string;
  remotes: GateRemote[];
  policy: GatePolicy;
  /** Scans every pushed commit (headers, message, added/changed blobs, file names); undefined: no DLP. */
  scanner?: DlpScanner;
  /** Bounds of the DLP scan of one push (defaults: 32 MiB per object, 512 MiB in all); beyond them a push is refused. */
  scanLimits?: Partial<ScanLimits>;
  /** Every decision; must not throw (if it does, the error is swallowed). */
  onAudit(e: GateAudit): void;
  /** Sync every mirror in the background at start, so that the first clone is quick (default true). */
  warm?: boolean;
  /** How long after start the warm-up begins (default 2 s: after the bottle's own start). */
  warmDelayMs?: number;
  /** A fetch from an upstream is killed after this long (default 10 min). */
  fetchTimeoutMs?: number;
  /** A push to an upstream is killed after this long (default 10 min). */
  pushTimeoutMs?: number;
  /** Binaries, for hosts where they are not on PATH. */
  bin?: { git?: string; ssh?: string; curl?: string };
  /** Told of each host process the gate leaves running on its own (an ssh master), so that it can be ended even if `bottle` is killed. */
  onHostProcess?: (pid: number, label: string) => void;
}

export interface Gate {
  socketPath: string;
  /** A human's one-time exception: the next push of this branch (name or refs/heads/...) skips the ref rules, not DLP. Returns the full ref. */
  allowOnce(ref: string): string;
  /** Stops serving, kills running git calls, closes the ssh masters; idempotent. */
  close(): Promise<void>;
}

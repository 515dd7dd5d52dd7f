// The supervise server's public shapes: what it is started with, what it
// hands back, and the audit records it emits. Shared by its parts.
import type { Queue, QueueLimits, RequestKind } from './queue.ts';

export interface SuperviseAudit {
  /**
   * `supervise.request`: a request was queued; `supervise.answer`: the human
   * approved or denied it; `supervise.timeout`: no answer in time;
   * `supervise.cancel`: the agent's call ended before an answer (withdrawn);
   * `supervise.limited`: refused by the rate limit; `supervise.error`: an
   * approval could not be applied.
   */
  type: 'supervise.request' | 'supervise.answer' | 'supervise.timeout' | 'supervise.cancel' | 'supervise.limited' | 'supervise.error';
  kind: RequestKind;
  /** Sanitised: the host, the ref or the question. */
  subject: string;
  id?: string;
  /** Sanitised: the agent's reason (request, limited) or the human's (answer); the error (error). */
  reason?: string;
  approved?: boolean;
  timeoutMs?: number;
}

export interface SuperviseOptions {
  /** The door's Unix socket: the server never listens on TCP. */
  socketPath: string;
  /** The bottle's private state dir (0700); the queue goes under `<stateDir>/supervise/`. */
  stateDir: string;
  /** The bottle's slug, recorded in each request. */
  slug: string;
  /** The bottle's effective policy for `bottle_status`: allowed hosts, routes without secrets, git policy. Must hold no secret. */
  status(): object | Promise<object>;
  /** An approved egress request: add the (canonical) host or `*.` pattern to the running proxy. Throwing tells the agent it failed. */
  onEgressApproved(host: string): void | Promise<void>;
  /** An approved push request: let the next push of `ref` (`refs/heads/...`) through the gate once. */
  onPushApproved(ref: string): void | Promise<void>;
  /** Every request and decision; must not throw (if it does, the error is swallowed). */
  onAudit(e: SuperviseAudit): void;
  /** How long a request waits for the human (default 10 min). */
  timeoutMs?: number;
  /** Per-bottle rate limits (default 5 waiting at once, 30 per hour). */
  limits?: Partial<QueueLimits>;
  /** Host names clients may use besides `127.0.0.1` and `localhost`. */
  hostNames?: string[];
  /** How often a waiting request re-reads the queue besides fs.watch (default 1000 ms). */
  pollMs?: number;
  /** Interval of progress notifications while a call waits, for clients that send a progress token (default 20 s). */
  progressMs?: number;
}

export interface SuperviseServer {
  socketPath: string;
  queue: Queue;
  /** Stops serving; calls still waiting are withdrawn. Idempotent. */
  close(): Promise<void>;
}

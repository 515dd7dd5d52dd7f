// The supervise MCP server: the agent's way to ask the human for more than
// its bottle's policy gives it. One per bottle, in the `bottle` process, on
// its door (a Unix socket; 127.0.0.1:8767 in the guest), speaking MCP over
// Streamable HTTP (the official SDK's transport, with sessions).
//
// This file wires the parts together: the tools (tools.ts) and what a model
// writes into them (inputs.ts), the calls waiting for the human (calls.ts),
// the queue on disk (queue.ts), the HTTP front and its sessions (http.ts,
// sessions.ts). A request is written to the bottle's queue and the call
// waits, up to its timeout, for the human's answer through `bottle approve` /
// `bottle deny` on the host; nothing here can answer. Approvals act before
// the call returns: an egress host is added to the running proxy
// (`onEgressApproved`), a push exception is handed to the git gate
// (`onPushApproved`).
//
// Decisions:
// - Session mode (Mcp-Session-Id), not stateless: a client's
//   `notifications/cancelled` (the SDK's client sends one when a call is
//   aborted) arrives on its own POST and must reach the server instance
//   running the call. A cancelled call withdraws its request: it leaves the
//   human's list and can no longer be approved.
// - Each call's answer comes on an SSE stream that the SDK keeps busy with a
//   comment every 15 s, so a client's body timeout does not cut a call that
//   waits for minutes. While a call waits, progress notifications go out
//   every 20 s when the client asked for them (a progress token), naming the
//   request ID.
// - close() withdraws the calls still waiting and lets their "cancelled"
//   answers go out before the streams close.
import { listenOnDoor, safeSink } from '../../core/doors.ts';
import { createCalls } from './calls.ts';
import { DEFAULT_TIMEOUT_MS } from './config.ts';
import { allowedHostNames, createFront } from './http.ts';
import { createQueue, queueDir } from './queue.ts';
import { createSessions } from './sessions.ts';
import { toolServerFactory } from './tools.ts';
import type { SuperviseAudit, SuperviseOptions, SuperviseServer } from './types.ts';

/** The door's port in the guest (the egress proxy has 3128, the git gate 9418). */
export { SUPERVISE_PORT } from './config.ts';
/** How long a request waits for the human by default. */
export { DEFAULT_TIMEOUT_MS };
export { egressTarget, pushRef } from './inputs.ts';
export type { SuperviseAudit, SuperviseOptions, SuperviseServer } from './types.ts';

export async function startSupervise(opts: SuperviseOptions): Promise<SuperviseServer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const progressMs = Math.max(10, opts.progressMs ?? 20_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('supervise: timeoutMs must be a positive number');
  const queue = createQueue({ dir: queueDir(opts.stateDir), slug: opts.slug, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.pollMs ? { pollMs: opts.pollMs } : {}) });
  const audit = safeSink<SuperviseAudit>((e) => opts.onAudit(e));
  const calls = createCalls({ queue, timeoutMs, progressMs, audit });
  const buildMcp = toolServerFactory({
    timeoutMs,
    queue,
    submit: calls.submit,
    audit,
    status: () => opts.status(),
    onEgressApproved: (host) => opts.onEgressApproved(host),
    onPushApproved: (ref) => opts.onPushApproved(ref),
  });
  const sessions = createSessions(buildMcp);
  let closing: Promise<void> | undefined;
  const front = createFront({ hostNames: allowedHostNames(opts.hostNames), sessions, isClosing: () => closing !== undefined });

  await listenOnDoor(front.server, opts.socketPath);

  return {
    socketPath: opts.socketPath,
    queue,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => front.server.close(() => resolve()));
        // Waiting calls are withdrawn and answered "cancelled" before their streams close.
        queue.close();
        await settled(calls.inFlight, 1000);
        await settled(front.posts, 1000);
        sessions.dropAll();
        front.server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}

/** Resolves once `set` is empty or after `ms`. */
async function settled(set: Set<Promise<unknown>>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (set.size && Date.now() < until) {
    await Promise.race([Promise.allSettled([...set]), new Promise((r) => setTimeout(r, 20))]);
  }
}

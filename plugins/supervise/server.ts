// The supervise MCP server: the agent's way to ask the human for more than
// its bottle's policy gives it. One per bottle, in the `bottle` process,
// on its door (a Unix socket; 127.0.0.1:8767 in the guest), speaking MCP over Streamable HTTP (the
// official SDK's transport, with sessions).
//
// Tools: `bottle_status` (the effective policy), `request_egress`,
// `request_push` and `ask`. A request is written to the bottle's queue
// (queue.ts) and the call waits, up to its timeout, for the human's answer
// through `bottle approve` / `bottle deny` on the host; nothing here can
// answer. Approvals act before the call returns: an egress host is added to
// the running proxy (`onEgressApproved`), a push exception is handed to the
// git gate (`onPushApproved`).
//
// Decisions:
// - Session mode (Mcp-Session-Id), not stateless: a client's
//   `notifications/cancelled` (the SDK's client sends one when a call is
//   aborted) arrives on its own POST and must reach the server instance
//   running the call. A cancelled call withdraws its request: it
//   leaves the human's list and can no longer be approved. Sessions are
//   bounded (32, least recently used dropped; a client re-initialises on 404)
//   and hold nothing but the connection: the queue is on disk.
// - Each call's answer comes on an SSE stream that the SDK keeps busy with a
//   comment every 15 s, so a client's body timeout does not cut a call that
//   waits for minutes. While a call waits, progress notifications go out
//   every 20 s when the client asked for them (a progress token), naming the
//   request ID.
// - Requests with an `Origin` header (browsers) or a Host header naming
//   anything but the guest's loopback are refused (403): even if the socket
//   were ever offered on TCP, a web page could not drive the endpoint
//   through DNS rebinding.
// - close() withdraws the calls still waiting and lets their "cancelled"
//   answers go out before the streams close.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { DOOR_GUEST_HOST, listenOnDoor, safeSink } from '../../core/doors.ts';
import { isForbiddenAddress, isIpLiteral, validatePattern } from '../egress/hosts.ts';
import { createQueue, type Outcome, type Queue, type QueueLimits, queueDir, type RequestKind, SuperviseError, type SuperviseRequest } from './queue.ts';
import { sanitize } from './sanitize.ts';

/** The door's port in the guest (the egress proxy has 3128, the git gate 9418). */
export { SUPERVISE_PORT } from './config.ts';
/** How long a request waits for the human by default. */
import { DEFAULT_TIMEOUT_MS } from './config.ts';
export { DEFAULT_TIMEOUT_MS };
const MAX_BODY = 256 * 1024;
/** Live MCP sessions per bottle; beyond it the least recently used is dropped. */
const MAX_SESSIONS = 32;

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

// --- input handling ------------------------------------------------------------

/** A host or `*.` pattern from what a model may write (`https://x.org/path`, `x.org:443`), canonical; or an Error. */
export function egressTarget(input: string): string {
  let s = input.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    try {
      s = new URL(s).hostname;
    } catch {
      throw new Error(`${JSON.stringify(sanitize(input, { singleLine: true, maxLength: 200 }))} is not a valid URL; give just the host name, e.g. "pypi.org"`);
    }
    if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  } else {
    const port = /^([^:[\]]+):\d{1,5}$/.exec(s) ?? /^\[([^\]]+)\]:\d{1,5}$/.exec(s);
    if (port) s = port[1]!;
  }
  const pattern = validatePattern(s);
  const literal = pattern.startsWith('*.') ? undefined : isIpLiteral(pattern) ? pattern : undefined;
  if (literal && isForbiddenAddress(literal)) {
    throw new Error(`${pattern} is a loopback, private, link-local or otherwise reserved address: no bottle may reach it, so it cannot be requested`);
  }
  return pattern;
}

const REF_CHARS = /^[A-Za-z0-9._\/+@-]+$/;

/** `refs/heads/<branch>` for a branch name or a full branch ref; an Error for anything else. */
export function pushRef(input: string): string {
  const s = input.trim();
  const shown = JSON.stringify(sanitize(s, { singleLine: true, maxLength: 200 }));
  let branch: string;
  if (s.startsWith('refs/')) {
    if (!s.startsWith('refs/heads/')) throw new Error(`${shown}: only branches (refs/heads/...) can be pushed through the gate; tags and other refs never can`);
    branch = s.slice('refs/heads/'.length);
  } else branch = s;
  const bad = (why: string) => new Error(`${shown} is not a valid branch name: ${why}`);
  if (!branch) throw bad('it is empty');
  if (branch.length > 200) throw bad('it is longer than 200 characters');
  if (!REF_CHARS.test(branch)) throw bad('use letters, digits and . _ / + @ - only');
  if (branch.startsWith('-')) throw bad('it starts with "-"');
  if (branch === '@' || branch === 'HEAD') throw bad(`"${branch}" names no branch`);
  if (branch.includes('..') || branch.includes('@{') || branch.includes('//')) throw bad('it contains "..", "@{" or "//"');
  if (branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.')) throw bad('it starts or ends with "/", or ends with "."');
  for (const part of branch.split('/')) {
    if (part.startsWith('.') || part.endsWith('.lock')) throw bad('a component starts with "." or ends with ".lock"');
  }
  return `refs/heads/${branch}`;
}

// --- tool texts -------------------------------------------------------------------

const minutes = (ms: number) => {
  const m = ms / 60_000;
  return m >= 1 ? `${Math.round(m * 10) / 10} minute${m === 1 ? '' : 's'}` : `${Math.round(ms / 1000)} seconds`;
};

function descriptions(timeoutMs: number, limits: QueueLimits) {
  const wait = `The call blocks until a human on the host answers (with \`bottle approve\` or \`bottle deny\`), which can take several minutes; after ${minutes(timeoutMs)} without an answer it returns "timed out". Nothing inside the bottle can answer it.`;
  const limit = `At most ${limits.maxPending} requests may wait at once and ${limits.perHour} may be made per hour; over that the call fails at once with "rate limited".`;
  return {
    status:
      "Show this bottle's effective sandbox policy: which network hosts the proxy lets you reach (exact hosts and *.wildcards), which hosts have routes (credentials are injected by the host; you never see them), the git push policy (branches you may push to, protected branches), plus your own requests still waiting for an answer. Use it first when a network request is refused (HTTP 403 from the proxy) or a git push is rejected, to understand why before asking for an exception. Read-only and instant.",
    egress: `Ask the human to let this bottle reach one more network host through its HTTPS proxy. Use it only after a request was refused by the proxy (a 403 from claude-bottle naming the host) and you really need that host for the task; check bottle_status first, and ask for the exact host (e.g. "registry.npmjs.org"), not a URL; "*.example.com" asks for every subdomain and is less likely to be approved. Give a concrete reason the human can judge: what you are doing and why this host is needed. ${wait} Results: "approved" means the host is allowed from now on for the rest of this bottle's life (retry your request); "denied" comes with the human's reason (do not ask again for the same host, find another way or stop and report); "timed out" means nobody answered (carry on without it or ask once more later). ${limit}`,
    push: `Ask the human for a one-time exception to the git push policy, for one branch: use it only after the git gate refused a push (for instance a branch you may not push to, or a protected branch you need to force-push) and the push is really required. Give the branch name (e.g. "feature/x") or the full ref ("refs/heads/feature/x"); tags cannot be requested. Explain what the push contains and why the policy should be bypassed. ${wait} Results: "approved" means the next push of that branch goes through the gate once (push right away; later pushes follow the normal policy again); "denied" comes with the human's reason; "timed out" means nobody answered. Secret scanning still applies to an approved push. ${limit}`,
    ask: `Ask the human a free-form question, or for approval of an action you are about to take that they should decide on (e.g. deleting data, a destructive migration, a choice between designs that changes the outcome). Write the question so it can be answered with approve/deny plus a short text, and put any background in "context". Do not use it for things you can decide or find out yourself, nor for network or push permissions (use request_egress / request_push). ${wait} Results: "approved" (yes) or "denied" (no), each with the human's answer text, which may contain further instructions; "timed out" means nobody answered: proceed with the most conservative choice. ${limit}`,
  };
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const text = (t: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) });

const quoteHuman = (reason: string) => (reason ? `"${reason}"` : '(no reason given)');

// --- the server -----------------------------------------------------------------

/** The host of a Host header, lower-case, without port or brackets. */
function hostOfHeader(h: string | undefined): string | undefined {
  if (!h) return undefined;
  const v = h.trim().toLowerCase();
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(v) ?? /^([^:]+)(?::\d+)?$/.exec(v);
  return m ? m[1] : undefined;
}

export async function startSupervise(opts: SuperviseOptions): Promise<SuperviseServer> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const progressMs = Math.max(10, opts.progressMs ?? 20_000);
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new Error('supervise: timeoutMs must be a positive number');
  const queue = createQueue({ dir: queueDir(opts.stateDir), slug: opts.slug, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.pollMs ? { pollMs: opts.pollMs } : {}) });
  const texts = descriptions(timeoutMs, queue.limits);
  const hostNames = new Set([DOOR_GUEST_HOST, 'localhost', ...(opts.hostNames ?? []).map((h) => h.toLowerCase())]);
  const audit = safeSink<SuperviseAudit>((e) => opts.onAudit(e));
  const show = (s: string, max = 500) => sanitize(s, { maxLength: max });

  /** Calls waiting for a decision, and POST responses still open: what close() lets finish. */
  const inFlight = new Set<Promise<unknown>>();
  const posts = new Set<Promise<unknown>>();

  /** Queues a request and waits for its decision; a CallToolResult for the refusals. */
  function submit(kind: RequestKind, subject: string, reason: string, extra: Extra): Promise<Outcome | CallToolResult> {
    const p = submitAndWait(kind, subject, reason, extra);
    inFlight.add(p);
    const done = () => inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  async function submitAndWait(kind: RequestKind, subject: string, reason: string, extra: Extra): Promise<Outcome | CallToolResult> {
    let req: SuperviseRequest;
    try {
      req = queue.createRequest({ kind, subject, reason, timeoutMs });
    } catch (e) {
      if (e instanceof SuperviseError && e.code === 'LIMITED') {
        audit({ type: 'supervise.limited', kind, subject: show(subject), reason: e.message });
        return text(e.message, true);
      }
      throw e;
    }
    audit({ type: 'supervise.request', id: req.id, kind, subject: show(subject), reason: show(reason, 2000), timeoutMs });
    const token = extra._meta?.progressToken;
    let progress: ReturnType<typeof setInterval> | undefined;
    if (token !== undefined) {
      const t0 = Date.now();
      progress = setInterval(() => {
        const elapsed = Date.now() - t0;
        extra
          .sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: Math.round(elapsed / 1000), total: Math.round(timeoutMs / 1000), message: `waiting for the human to answer request ${req.id} (${minutes(Math.max(0, timeoutMs - elapsed))} left)` },
          })
          .catch(() => {});
      }, progressMs);
      progress.unref();
    }
    try {
      const outcome = await queue.waitForAnswer(req.id, { signal: extra.signal });
      if (outcome.outcome === 'approved' || outcome.outcome === 'denied') {
        audit({ type: 'supervise.answer', id: req.id, kind, subject: show(subject), approved: outcome.outcome === 'approved', reason: show(outcome.reason, 2000) });
      } else if (outcome.outcome === 'timeout') {
        audit({ type: 'supervise.timeout', id: req.id, kind, subject: show(subject), timeoutMs });
      } else {
        audit({ type: 'supervise.cancel', id: req.id, kind, subject: show(subject) });
      }
      return outcome;
    } finally {
      if (progress) clearInterval(progress);
    }
  }

  const isResult = (v: Outcome | CallToolResult): v is CallToolResult => 'content' in v;

  /**
   * request_egress and request_push: normalise the subject, wait for the
   * human, apply an approval to the running bottle, and tell the model what
   * happened in words it can act on.
   */
  async function requestException(
    kind: 'egress' | 'push',
    input: string,
    reason: string,
    extra: Extra,
    normalise: (input: string) => string,
    apply: (target: string) => void | Promise<void>,
    say: Record<'approved' | 'failed' | 'denied' | 'timeout' | 'cancelled', (target: string) => string> & { deniedAdvice: string },
  ): Promise<CallToolResult> {
    let target: string;
    try {
      target = normalise(input);
    } catch (e) {
      return text(`not requested: ${(e as Error).message}`, true);
    }
    const r = await submit(kind, target, reason, extra);
    if (isResult(r)) return r;
    const id = r.request.id;
    if (r.outcome === 'approved') {
      try {
        await apply(target);
      } catch (e) {
        const msg = sanitize((e as Error)?.message ?? String(e), { singleLine: true, maxLength: 300 });
        audit({ type: 'supervise.error', id, kind, subject: target, reason: msg });
        return text(`approved by the human, but ${say.failed(target)}: ${msg} (request ${id})`, true);
      }
      return text(`${say.approved(target)}${r.reason ? ` The human added: ${quoteHuman(r.reason)}` : ''} (request ${id})`);
    }
    if (r.outcome === 'denied') return text(`${say.denied(target)} Their reason: ${quoteHuman(r.reason)}. ${say.deniedAdvice} (request ${id})`);
    if (r.outcome === 'timeout') return text(`${say.timeout(target)} (request ${id})`);
    return text(`${say.cancelled(target)} (request ${id})`, true);
  }


  function buildServer(): McpServer {
    const mcp = new McpServer(
      { name: 'claude-bottle-supervise', version: '1.0.0' },
      {
        capabilities: { tools: {} },
        instructions:
          'claude-bottle supervise: you run in a sandbox ("bottle") whose network and git access follow a policy. When the policy stops you, check bottle_status, then ask a human on the host for an exception with request_egress or request_push, or ask them anything with ask. Every request waits (possibly minutes) for their answer.',
      },
    );

    mcp.registerTool(
      'bottle_status',
      { title: "This bottle's policy", description: texts.status, inputSchema: {}, annotations: { readOnlyHint: true, openWorldHint: false } },
      async () => {
        const policy = await opts.status();
        const pending = queue.pending().map((r) => ({ id: r.id, kind: r.kind, subject: sanitize(r.subject, { singleLine: true, maxLength: 300 }), deadline: r.deadline }));
        const body = { ...policy, supervise: { timeoutMinutes: timeoutMs / 60_000, limits: queue.limits, pending } };
        return text(JSON.stringify(body, null, 2));
      },
    );

    mcp.registerTool(
      'request_egress',
      {
        title: 'Ask the human to allow a network host',
        description: texts.egress,
        inputSchema: {
          host: z.string().min(1).max(300).describe('The host to reach, e.g. "pypi.org" or "files.pythonhosted.org" (a URL is reduced to its host; "*.example.com" for all subdomains).'),
          reason: z.string().min(1).max(2000).describe('Why you need it: what you are doing and what this host provides. The human decides on this text.'),
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
      ({ host, reason }, extra) =>
        requestException('egress', host, reason, extra, egressTarget, (t) => opts.onEgressApproved(t), {
          approved: (t) => `approved: ${t} is now allowed for this bottle's life. Retry your request.`,
          failed: (t) => `${t} could not be added to the proxy`,
          denied: (t) => `denied: the human refused access to ${t}.`,
          deniedAdvice: 'Do not ask again for this host; find another way or report that you are blocked.',
          timeout: (t) => `timed out: nobody answered the request for ${t} within ${minutes(timeoutMs)}; it is not allowed. Carry on without it, or ask once more later if it is essential.`,
          cancelled: (t) => `cancelled: the request for ${t} was withdrawn before an answer`,
        }),
    );

    mcp.registerTool(
      'request_push',
      {
        title: 'Ask the human for a one-time push exception',
        description: texts.push,
        inputSchema: {
          ref: z.string().min(1).max(300).describe('The branch to push, e.g. "feature/login" or "refs/heads/feature/login".'),
          reason: z.string().min(1).max(2000).describe('What the push contains and why the policy should let it through this once. The human decides on this text.'),
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
      ({ ref, reason }, extra) =>
        requestException('push', ref, reason, extra, pushRef, (t) => opts.onPushApproved(t), {
          approved: (t) => `approved: a one-time exception for the next push of ${t}. Push now; later pushes follow the normal policy again.`,
          failed: (t) => `the exception for ${t} could not be set up`,
          denied: (t) => `denied: the human refused the push exception for ${t}.`,
          deniedAdvice: 'Do not push there; follow the policy or report that you are blocked.',
          timeout: (t) => `timed out: nobody answered the push request for ${t} within ${minutes(timeoutMs)}; the policy is unchanged.`,
          cancelled: (t) => `cancelled: the push request for ${t} was withdrawn before an answer`,
        }),
    );

    mcp.registerTool(
      'ask',
      {
        title: 'Ask the human',
        description: texts.ask,
        inputSchema: {
          question: z.string().min(1).max(4000).describe('The question, or the action you want approved, phrased so that approve/deny plus a short text answers it.'),
          context: z.string().max(4000).optional().describe('Background the human needs to decide: what you found, the options, what you would do by default.'),
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
      async ({ question, context }, extra) => {
        const r = await submit('ask', question, context ?? '', extra);
        if (isResult(r)) return r;
        const id = r.request.id;
        if (r.outcome === 'approved') return text(`approved (yes). The human's answer: ${quoteHuman(r.reason)} (request ${id})`);
        if (r.outcome === 'denied') return text(`denied (no). The human's answer: ${quoteHuman(r.reason)} (request ${id})`);
        if (r.outcome === 'timeout') return text(`timed out: nobody answered within ${minutes(timeoutMs)}. Proceed with the most conservative choice, or stop and report. (request ${id})`);
        return text(`cancelled: the question was withdrawn before an answer (request ${id})`, true);
      },
    );
    return mcp;
  }

  interface Session {
    id: string | undefined;
    transport: StreamableHTTPServerTransport;
    mcp: McpServer;
    lastSeen: number;
  }
  const sessions = new Map<string, Session>();
  let closing: Promise<void> | undefined;
  /** Sessions being initialised (no id yet) and live ones, for close(). */
  const all = new Set<Session>();

  const dropSession = (s: Session) => {
    all.delete(s);
    if (s.id && sessions.get(s.id) === s) sessions.delete(s.id);
    void s.transport.close().catch(() => {});
    void s.mcp.close().catch(() => {});
  };

  const newSession = (): Session => {
    const s: Session = {
      id: undefined,
      lastSeen: Date.now(),
      mcp: buildServer(),
      transport: new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        maxRequestBodySize: MAX_BODY,
        onsessioninitialized: (id) => {
          s.id = id;
          sessions.set(id, s);
          // Bounded: the least recently used session beyond the cap goes (its client re-initialises on 404).
          if (sessions.size > MAX_SESSIONS) {
            const oldest = [...sessions.values()].filter((o) => o !== s).sort((a, b) => a.lastSeen - b.lastSeen)[0];
            if (oldest) dropSession(oldest);
          }
        },
        onsessionclosed: () => dropSession(s),
      }),
    };
    s.transport.onclose = () => dropSession(s);
    all.add(s);
    return s;
  };

  const deny = (res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return res.end();
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code: status === 404 ? -32001 : -32000, message }, id: null });
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/mcp') return deny(res, 404, 'not found: the MCP endpoint is /mcp');
      const host = hostOfHeader(req.headers.host);
      if (!host || !hostNames.has(host)) return deny(res, 403, 'forbidden: unexpected Host header');
      if (req.headers.origin !== undefined) return deny(res, 403, 'forbidden: browser requests are not accepted');
      if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') return deny(res, 405, 'method not allowed', { allow: 'GET, POST, DELETE' });
      const sid = req.headers['mcp-session-id'];
      let session: Session;
      if (typeof sid === 'string') {
        const found = sessions.get(sid);
        // The client starts a new session on 404.
        if (!found) return deny(res, 404, 'session not found');
        session = found;
      } else {
        if (req.method !== 'POST') return deny(res, 400, 'bad request: no Mcp-Session-Id header');
        if (closing) return deny(res, 503, 'shutting down');
        session = newSession();
        await session.mcp.connect(session.transport);
      }
      session.lastSeen = Date.now();
      if (req.method === 'POST') {
        const finished = new Promise<void>((resolve) => res.once('close', () => resolve()));
        posts.add(finished);
        void finished.then(() => posts.delete(finished));
      }
      try {
        await session.transport.handleRequest(req, res);
      } catch {
        if (!res.headersSent) deny(res, 500, 'internal error');
        else res.end();
      }
      // A POST without a session that did not initialise one (not an `initialize`) leaves nothing behind.
      if (!session.id) dropSession(session);
    })();
  });
  // A call waits for minutes on its SSE stream, which the transport keeps busy with comments every 15 s.
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;

  await listenOnDoor(server, opts.socketPath);

  return {
    socketPath: opts.socketPath,
    queue,
    close() {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        // Waiting calls are withdrawn and answered "cancelled" before their streams close.
        queue.close();
        await settled(inFlight, 1000);
        await settled(posts, 1000);
        for (const s of [...all]) dropSession(s);
        server.closeAllConnections();
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

// The four MCP tools a model sees (bottle_status, request_egress,
// request_push, ask): their schemas, descriptions and reply texts.
// Queueing and waiting are the `submit` port's business (calls.ts).
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { egressTarget, pushRef } from './inputs.ts';
import type { Outcome, Queue, QueueLimits, RequestKind } from './queue.ts';
import { sanitize } from '../../lib/sanitize.ts';
import type { SuperviseAudit, SuperviseOptions } from './types.ts';

/** What the SDK hands a tool handler besides its arguments: the abort signal, the progress token, notifications. */
export type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** Queues a request and waits for its decision; a CallToolResult for the refusals. */
export type Submit = (kind: RequestKind, subject: string, reason: string, extra: Extra) => Promise<Outcome | CallToolResult>;

export interface ToolDeps extends Pick<SuperviseOptions, 'status' | 'onEgressApproved' | 'onPushApproved'> {
  timeoutMs: number;
  /** bottle_status shows the limits and this bottle's pending requests. */
  queue: Pick<Queue, 'limits' | 'pending'>;
  submit: Submit;
  /** Already safe: never throws. */
  audit(e: SuperviseAudit): void;
}

export const minutes = (ms: number) => {
  const m = ms / 60_000;
  return m >= 1 ? `${Math.round(m * 10) / 10} minute${m === 1 ? '' : 's'}` : `${Math.round(ms / 1000)} seconds`;
};

export const text = (t: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) });

const quoteHuman = (reason: string) => (reason ? `"${reason}"` : '(no reason given)');

const isResult = (v: Outcome | CallToolResult): v is CallToolResult => 'content' in v;

const INSTRUCTIONS =
  'claude-bottle supervise: you run in a sandbox ("bottle") whose network and git access follow a policy. When the policy stops you, check bottle_status, then ask a human on the host for an exception with request_egress or request_push, or ask them anything with ask. Every request waits (possibly minutes) for their answer.';

// The descriptions are all a model knows of when and how to use a tool: each says when to call it, what to give, and what each result means.
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

/** What request_egress and request_push answer, by outcome, for the canonical target. */
interface Replies {
  approved(target: string): string;
  failed(target: string): string;
  denied(target: string): string;
  deniedAdvice: string;
  timeout(target: string): string;
  cancelled(target: string): string;
}

const egressReplies = (timeoutMs: number): Replies => ({
  approved: (t) => `approved: ${t} is now allowed for this bottle's life. Retry your request.`,
  failed: (t) => `${t} could not be added to the proxy`,
  denied: (t) => `denied: the human refused access to ${t}.`,
  deniedAdvice: 'Do not ask again for this host; find another way or report that you are blocked.',
  timeout: (t) => `timed out: nobody answered the request for ${t} within ${minutes(timeoutMs)}; it is not allowed. Carry on without it, or ask once more later if it is essential.`,
  cancelled: (t) => `cancelled: the request for ${t} was withdrawn before an answer`,
});

const pushReplies = (timeoutMs: number): Replies => ({
  approved: (t) => `approved: a one-time exception for the next push of ${t}. Push now; later pushes follow the normal policy again.`,
  failed: (t) => `the exception for ${t} could not be set up`,
  denied: (t) => `denied: the human refused the push exception for ${t}.`,
  deniedAdvice: 'Do not push there; follow the policy or report that you are blocked.',
  timeout: (t) => `timed out: nobody answered the push request for ${t} within ${minutes(timeoutMs)}; the policy is unchanged.`,
  cancelled: (t) => `cancelled: the push request for ${t} was withdrawn before an answer`,
});

function askReply(r: Outcome, timeoutMs: number): CallToolResult {
  const id = r.request.id;
  if (r.outcome === 'approved') return text(`approved (yes). The human's answer: ${quoteHuman(r.reason)} (request ${id})`);
  if (r.outcome === 'denied') return text(`denied (no). The human's answer: ${quoteHuman(r.reason)} (request ${id})`);
  if (r.outcome === 'timeout') return text(`timed out: nobody answered within ${minutes(timeoutMs)}. Proceed with the most conservative choice, or stop and report. (request ${id})`);
  return text(`cancelled: the question was withdrawn before an answer (request ${id})`, true);
}

/** request_egress or request_push, as requestException needs it. */
interface ExceptionTool {
  kind: 'egress' | 'push';
  /** Canonical target from the model's input, or an Error to show it. */
  normalise(input: string): string;
  /** Acts on an approval before the call returns. */
  apply(target: string): void | Promise<void>;
  say: Replies;
}

/**
 * request_egress and request_push: normalise the subject, wait for the
 * human, apply an approval to the running bottle, and tell the model what
 * happened in words it can act on.
 */
async function requestException(deps: ToolDeps, tool: ExceptionTool, input: string, reason: string, extra: Extra): Promise<CallToolResult> {
  const { kind, say } = tool;
  let target: string;
  try {
    target = tool.normalise(input);
  } catch (e) {
    return text(`not requested: ${(e as Error).message}`, true);
  }
  const r = await deps.submit(kind, target, reason, extra);
  if (isResult(r)) return r;
  const id = r.request.id;
  if (r.outcome === 'approved') {
    try {
      await tool.apply(target);
    } catch (e) {
      const msg = sanitize((e as Error)?.message ?? String(e), { singleLine: true, maxLength: 300 });
      deps.audit({ type: 'supervise.error', id, kind, subject: target, reason: msg });
      return text(`approved by the human, but ${say.failed(target)}: ${msg} (request ${id})`, true);
    }
    return text(`${say.approved(target)}${r.reason ? ` The human added: ${quoteHuman(r.reason)}` : ''} (request ${id})`);
  }
  if (r.outcome === 'denied') return text(`${say.denied(target)} Their reason: ${quoteHuman(r.reason)}. ${say.deniedAdvice} (request ${id})`);
  if (r.outcome === 'timeout') return text(`${say.timeout(target)} (request ${id})`);
  return text(`${say.cancelled(target)} (request ${id})`, true);
}

/** A builder of MCP servers with the four tools: one server per session, since the SDK binds a server to one transport. */
export function toolServerFactory(deps: ToolDeps): () => McpServer {
  const { timeoutMs, queue } = deps;
  const texts = descriptions(timeoutMs, queue.limits);
  const egress: ExceptionTool = { kind: 'egress', normalise: egressTarget, apply: (t) => deps.onEgressApproved(t), say: egressReplies(timeoutMs) };
  const push: ExceptionTool = { kind: 'push', normalise: pushRef, apply: (t) => deps.onPushApproved(t), say: pushReplies(timeoutMs) };
  // An approval may change the bottle but destroys nothing; every call is a new request, so none is idempotent.
  const asking = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };

  return () => {
    const mcp = new McpServer({ name: 'claude-bottle-supervise', version: '1.0.0' }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });

    mcp.registerTool(
      'bottle_status',
      { title: "This bottle's policy", description: texts.status, inputSchema: {}, annotations: { readOnlyHint: true, openWorldHint: false } },
      async () => {
        const policy = await deps.status();
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
        annotations: asking,
      },
      ({ host, reason }, extra) => requestException(deps, egress, host, reason, extra),
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
        annotations: asking,
      },
      ({ ref, reason }, extra) => requestException(deps, push, ref, reason, extra),
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
        annotations: asking,
      },
      async ({ question, context }, extra) => {
        const r = await deps.submit('ask', question, context ?? '', extra);
        return isResult(r) ? r : askReply(r, timeoutMs);
      },
    );
    return mcp;
  };
}

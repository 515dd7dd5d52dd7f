// A tool call waiting for the human: the request goes into the queue, the
// call waits for its decision, with progress notifications and an audit
// record at each step. Calls still waiting are tracked so close() can let
// their "cancelled" answers go out.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type Outcome, type Queue, type RequestKind, SuperviseError, type SuperviseRequest } from './queue.ts';
import { sanitize } from '../../lib/sanitize.ts';
import { type Extra, minutes, type Submit, text } from './tools.ts';
import type { SuperviseAudit } from './types.ts';

export interface CallsOptions {
  queue: Queue;
  timeoutMs: number;
  /** Interval of progress notifications, for calls whose client sent a progress token. */
  progressMs: number;
  /** Already safe: never throws. */
  audit(e: SuperviseAudit): void;
}

export interface Calls {
  submit: Submit;
  /** Calls waiting for a decision: what close() lets finish. */
  readonly inFlight: Set<Promise<unknown>>;
}

export function createCalls(opts: CallsOptions): Calls {
  const { queue, timeoutMs, progressMs, audit } = opts;
  const show = (s: string, max = 500) => sanitize(s, { maxLength: max });
  const inFlight = new Set<Promise<unknown>>();

  async function submitAndWait(kind: RequestKind, subject: string, reason: string, extra: Extra): Promise<Outcome | CallToolResult> {
    let req: SuperviseRequest;
    try {
      req = queue.createRequest({ kind, subject, reason, timeoutMs });
    } catch (e) {
      // Over the limit is an answer the model can act on, not a failure of the call.
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
      // The SDK aborts extra.signal when the client cancels the call: the request is then withdrawn.
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

  return {
    inFlight,
    submit(kind, subject, reason, extra) {
      const p = submitAndWait(kind, subject, reason, extra);
      inFlight.add(p);
      const done = () => inFlight.delete(p);
      p.then(done, done);
      return p;
    },
  };
}

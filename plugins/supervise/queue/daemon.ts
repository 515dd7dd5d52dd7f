// The bottle daemon's side of the queue: writing requests (within the rate
// limits) and waiting for their decisions. Nothing here can approve or deny.
import { mkdirSync } from 'node:fs';
import { SuperviseError } from './errors.ts';
import { DEFAULT_LIMITS, limitRefusal, type QueueLimits } from './limits.ts';
import { isOpen, KINDS, type NewRequest, normaliseId, type Outcome, type SuperviseRequest } from './records.ts';
import { readAll, readRequest, unusedId, writeRequest } from './store.ts';
import { createWaiting, type WaitOptions } from './wait.ts';

/** Subjects and reasons over this are refused at creation (the MCP schemas bound them well below). */
const MAX_FIELD = 16_000;

export interface QueueOptions {
  /** The queue dir, `<stateDir>/supervise` (see queueDir); made 0700 if missing. */
  dir: string;
  /** The bottle's slug, recorded in each request. */
  slug: string;
  limits?: Partial<QueueLimits>;
  /** How often a waiting request re-reads its answer file besides fs.watch (default 1000 ms). */
  pollMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export interface Queue {
  readonly dir: string;
  readonly limits: QueueLimits;
  /** Writes a pending request; throws SuperviseError LIMITED (with a message for the agent) over the limits, INVALID on bad input. */
  createRequest(input: NewRequest): SuperviseRequest;
  /** Resolves once the request is decided: approved / denied (with the human's reason), timed out, or withdrawn. */
  waitForAnswer(id: string, opts?: WaitOptions): Promise<Outcome>;
  get(id: string): SuperviseRequest | undefined;
  /** Every request of this bottle, oldest first. */
  list(): SuperviseRequest[];
  /** The ones still waiting for an answer. */
  pending(): SuperviseRequest[];
  /** Stops watching; waits in progress are withdrawn. */
  close(): void;
}

export function createQueue(opts: QueueOptions): Queue {
  const dir = opts.dir;
  const slug = opts.slug;
  const now = opts.now ?? Date.now;
  const limits: QueueLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const waiting = createWaiting({ dir, pollMs: Math.max(10, opts.pollMs ?? 1000), now });
  let closed = false;

  return {
    dir,
    limits,

    createRequest(input) {
      if (closed) throw new SuperviseError('INVALID', 'the approval queue is closed');
      if (!KINDS.includes(input.kind)) throw new SuperviseError('INVALID', `unknown request kind ${JSON.stringify(input.kind)}`);
      if (typeof input.subject !== 'string' || !input.subject || input.subject.length > MAX_FIELD) throw new SuperviseError('INVALID', 'the request needs a subject (at most 16000 characters)');
      if (typeof input.reason !== 'string' || input.reason.length > MAX_FIELD) throw new SuperviseError('INVALID', 'the reason is limited to 16000 characters');
      if (!Number.isFinite(input.timeoutMs) || input.timeoutMs <= 0) throw new SuperviseError('INVALID', 'timeoutMs must be a positive number');
      const t = now();
      const refusal = limitRefusal(readAll(dir), limits, t);
      if (refusal) throw refusal;
      const req: SuperviseRequest = {
        version: 1,
        id: unusedId(dir),
        slug,
        kind: input.kind,
        subject: input.subject,
        reason: input.reason,
        created: new Date(t).toISOString(),
        deadline: new Date(t + input.timeoutMs).toISOString(),
        timeoutMs: input.timeoutMs,
        status: 'pending',
      };
      writeRequest(dir, req);
      return req;
    },

    waitForAnswer: (id, wopts) => waiting.waitForAnswer(id, wopts),

    get(id) {
      const n = normaliseId(id);
      return n ? readRequest(dir, n) : undefined;
    },

    list() {
      return readAll(dir);
    },

    pending() {
      const t = now();
      return readAll(dir).filter((r) => isOpen(r, t));
    },

    close() {
      if (closed) return;
      closed = true;
      waiting.close();
    },
  };
}

// The human's side of the queue (`bottle approvals`, `approve`, `deny`):
// the waiting requests of every bottle under the state root, shown
// sanitised, and answering one exactly once.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { isOwnerAlive } from '../../../core/owner.ts';
import { bottlesDir } from '../../../core/state.ts';
import { sanitize } from '../../../lib/sanitize.ts';
import { SuperviseError } from './errors.ts';
import { type AnswerRecord, isOpen, normaliseId, type SuperviseRequest } from './records.ts';
import { byCreation, createAnswer, queueDir, readAll, readAnswer, readJson, readRequest } from './store.ts';

/** The longest reason a human may give (it goes back to the agent). */
const MAX_ANSWER_REASON = 4000;

/** A pending request as the human sees it: `subject` (one line) and `reason` sanitised. */
export type PendingView = Pick<SuperviseRequest, 'id' | 'slug' | 'kind' | 'subject' | 'reason' | 'created' | 'deadline'> & {
  /** Time left to answer, ms. */
  remainingMs: number;
  /** One sanitised line for listings: `<id>  <slug>  <kind>  <subject>  — <reason>`. */
  text: string;
};

interface Found {
  dir: string;
  request: SuperviseRequest;
}

function slugDirs(stateRoot: string): { slug: string; dir: string; alive: boolean }[] {
  const root = bottlesDir(stateRoot);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names.map((slug) => {
    const owner = readJson(path.join(root, slug, 'owner.json')) as { owner?: unknown } | undefined;
    // Without an owner file (or with an unreadable one) the bottle is taken to be alive.
    const alive = !owner || typeof owner.owner !== 'string' || !owner.owner || isOwnerAlive(owner.owner);
    return { slug, dir: queueDir(path.join(root, slug)), alive };
  });
}

export function toView(r: SuperviseRequest, now: number = Date.now()): PendingView {
  const subject = sanitize(r.subject, { singleLine: true, maxLength: r.kind === 'ask' ? 2000 : 300 });
  const reason = sanitize(r.reason, { maxLength: 2000 });
  const oneLineReason = sanitize(r.reason, { singleLine: true, maxLength: 200 });
  const slug = sanitize(r.slug, { singleLine: true, maxLength: 100 });
  return {
    id: r.id,
    slug,
    kind: r.kind,
    subject,
    reason,
    created: r.created,
    deadline: r.deadline,
    remainingMs: Math.max(0, Date.parse(r.deadline) - now),
    text: `${r.id}  ${slug}  ${r.kind}  ${subject}${oneLineReason ? `  — ${oneLineReason}` : ''}`,
  };
}

/** Requests of every running bottle that wait for an answer, oldest first. */
export function listPending(stateRoot: string, opts: { now?: number } = {}): PendingView[] {
  const now = opts.now ?? Date.now();
  const out: SuperviseRequest[] = [];
  for (const b of slugDirs(stateRoot)) {
    if (!b.alive) continue;
    out.push(...readAll(b.dir).filter((r) => isOpen(r, now)));
  }
  out.sort(byCreation);
  return out.map((r) => toView(r, now));
}

/** The request with this ID in any bottle, as it stands. */
export function findRequest(stateRoot: string, id: string): (Found & { alive: boolean }) | undefined {
  const n = normaliseId(id);
  if (!n) return undefined;
  for (const b of slugDirs(stateRoot)) {
    const request = readRequest(b.dir, n);
    if (request) return { dir: b.dir, request, alive: b.alive };
  }
  return undefined;
}

export interface HumanAnswer {
  approved: boolean;
  /** Why (for a denial), or the answer text (for `ask`). Shown to the agent as written. */
  reason?: string;
}

const describeDecision = (a: AnswerRecord) =>
  a.outcome === 'timeout'
    ? `it timed out at ${a.at}`
    : a.outcome === 'cancelled'
      ? `the agent withdrew it at ${a.at}`
      : `it was already ${a.outcome} at ${a.at}${a.reason ? ` (${sanitize(a.reason, { singleLine: true, maxLength: 200 })})` : ''}`;

/**
 * The human's decision on request `id` (any bottle under `stateRoot`). Throws
 * SuperviseError: BAD_ID, NOT_FOUND, ANSWERED (decided before, including
 * withdrawn), TIMED_OUT, GONE (its bottle is no longer running).
 */
export function answerRequest(stateRoot: string, id: string, answer: HumanAnswer, opts: { now?: number } = {}): SuperviseRequest {
  const n = normaliseId(id);
  if (!n) throw new SuperviseError('BAD_ID', `"${sanitize(id, { singleLine: true, maxLength: 40 })}" is not a request ID: IDs are 10 letters and digits, as \`bottle approvals\` lists them`);
  const found = findRequest(stateRoot, n);
  if (!found) throw new SuperviseError('NOT_FOUND', `no request ${n}: it does not exist, or its bottle is gone (see \`bottle approvals\`)`);
  const { dir, request } = found;
  if (request.answer) throw new SuperviseError('ANSWERED', `request ${n} cannot be answered: ${describeDecision(request.answer)}`);
  if (!found.alive) throw new SuperviseError('GONE', `request ${n} cannot be answered: its bottle ${sanitize(request.slug, { singleLine: true, maxLength: 100 })} is no longer running`);
  const now = opts.now ?? Date.now();
  if (Date.parse(request.deadline) <= now) {
    throw new SuperviseError('TIMED_OUT', `request ${n} cannot be answered: it timed out at ${request.deadline} (no answer within ${Math.round(request.timeoutMs / 1000)} s); the agent was told so and may ask again`);
  }
  const reason = typeof answer.reason === 'string' ? answer.reason.slice(0, MAX_ANSWER_REASON) : '';
  const record: AnswerRecord = { outcome: answer.approved ? 'approved' : 'denied', reason, at: new Date(now).toISOString(), by: 'human' };
  // The daemon may have claimed a timeout or withdrawal since the checks above: the first decision counts.
  if (!createAnswer(dir, n, record)) {
    const other = readAnswer(dir, n);
    throw new SuperviseError('ANSWERED', `request ${n} cannot be answered: ${other ? describeDecision(other) : 'it was decided just now'}`);
  }
  return { ...request, status: record.outcome, answer: record };
}

/**
 * Follows the pending requests of every bottle (`bottle approvals --watch`):
 * calls `onChange` with the list at once and whenever it changes. Polls (the
 * bottles' dirs come and go, which fs.watch does not follow reliably).
 */
export function watchPending(stateRoot: string, onChange: (pending: PendingView[]) => void, opts: { pollMs?: number } = {}): { close(): void } {
  let last: string | undefined;
  const tick = () => {
    const list = listPending(stateRoot);
    const key = list.map((p) => p.id).join(',');
    if (key !== last) {
      last = key;
      onChange(list);
    }
  };
  tick();
  const timer = setInterval(tick, Math.max(50, opts.pollMs ?? 1000));
  return { close: () => clearInterval(timer) };
}

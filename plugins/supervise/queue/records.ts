// What the queue's files hold: a request and its decision, their IDs, and
// reading them back field by field (a malformed or half-written file is no
// record at all, never an error).
import { randomBytes } from 'node:crypto';

export type RequestKind = 'egress' | 'push' | 'ask';
export type RequestStatus = 'pending' | 'approved' | 'denied' | 'timeout' | 'cancelled';
export type FinalStatus = Exclude<RequestStatus, 'pending'>;

/** The decision file, `<id>.answer.json`. */
export interface AnswerRecord {
  outcome: FinalStatus;
  /** The human's reason (their answer text, for `ask`); empty for timeouts and withdrawals. */
  reason: string;
  /** ISO time of the decision. */
  at: string;
  /** `human`: `bottle approve/deny`; `bottle`: the daemon (timeout, withdrawn). */
  by: 'human' | 'bottle';
}

/** A request file, `<id>.json`. Subject and reason are the agent's raw text: sanitise before showing them. */
export interface SuperviseRequest {
  version: 1;
  id: string;
  slug: string;
  kind: RequestKind;
  /** egress: the canonical host; push: the full ref (`refs/heads/...`); ask: the question. */
  subject: string;
  /** Why the agent asks (ask: optional context). */
  reason: string;
  /** ISO times. */
  created: string;
  deadline: string;
  timeoutMs: number;
  status: RequestStatus;
  answer?: AnswerRecord;
}

export type Outcome =
  | { outcome: 'approved'; reason: string; request: SuperviseRequest }
  | { outcome: 'denied'; reason: string; request: SuperviseRequest }
  | { outcome: 'timeout'; reason: ''; request: SuperviseRequest }
  | { outcome: 'cancelled'; reason: ''; request: SuperviseRequest };

export interface NewRequest {
  kind: RequestKind;
  subject: string;
  reason: string;
  timeoutMs: number;
}

// RFC 4648's base32 alphabet, lower-case.
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
export const ID_RE = /^[a-z2-7]{10}$/;
export const KINDS: readonly RequestKind[] = ['egress', 'push', 'ask'];
const STATUSES: readonly RequestStatus[] = ['pending', 'approved', 'denied', 'timeout', 'cancelled'];

/** 10 base32 characters: 50 random bits. */
export function newId(): string {
  const bytes = randomBytes(10);
  let id = '';
  for (const b of bytes) id += ALPHABET[b & 31];
  return id;
}

/** The canonical form of an ID a human typed (case-insensitive), or undefined. */
export function normaliseId(input: string): string | undefined {
  const id = String(input).trim().toLowerCase();
  return ID_RE.test(id) ? id : undefined;
}

const isStr = (v: unknown): v is string => typeof v === 'string';

export function parseAnswer(v: unknown): AnswerRecord | undefined {
  const a = v as Partial<AnswerRecord> | undefined;
  if (!a || typeof a !== 'object') return undefined;
  if (!STATUSES.includes(a.outcome as RequestStatus) || (a.outcome as RequestStatus) === 'pending') return undefined;
  if (!isStr(a.reason) || !isStr(a.at) || (a.by !== 'human' && a.by !== 'bottle')) return undefined;
  return { outcome: a.outcome as FinalStatus, reason: a.reason, at: a.at, by: a.by };
}

/** A request file's content, copied field by field so nothing unexpected rides along; its `id` must be the one in its name. */
export function parseRequest(v: unknown, id: string): SuperviseRequest | undefined {
  const r = v as Partial<SuperviseRequest> | undefined;
  if (!r || typeof r !== 'object' || r.version !== 1 || r.id !== id) return undefined;
  if (!isStr(r.slug) || !KINDS.includes(r.kind as RequestKind) || !isStr(r.subject) || !isStr(r.reason)) return undefined;
  if (!isStr(r.created) || !isStr(r.deadline) || typeof r.timeoutMs !== 'number' || !STATUSES.includes(r.status as RequestStatus)) return undefined;
  if (Number.isNaN(Date.parse(r.created)) || Number.isNaN(Date.parse(r.deadline))) return undefined;
  const out: SuperviseRequest = {
    version: 1,
    id,
    slug: r.slug,
    kind: r.kind as RequestKind,
    subject: r.subject,
    reason: r.reason,
    created: r.created,
    deadline: r.deadline,
    timeoutMs: r.timeoutMs,
    status: r.status as RequestStatus,
  };
  const answer = parseAnswer(r.answer);
  if (answer) out.answer = answer;
  return out;
}

/** Waiting for an answer: no decision yet and the deadline not passed. */
export const isOpen = (r: Pick<SuperviseRequest, 'status' | 'deadline'>, now: number) => r.status === 'pending' && Date.parse(r.deadline) > now;

// The approval queue: requests from the agent (through the supervise MCP
// server) and the human's answers (through `bottle approve` / `bottle deny`),
// as files in the bottle's private state dir, `<stateDir>/supervise/`:
//
//   <id>.json          the request; written by the bottle's daemon (temp file +
//                      rename), rewritten with its final status once decided
//   <id>.answer.json   the decision, created exactly once (temp file + link,
//                      which fails if it exists): by the human (approved or
//                      denied), or by the daemon when the request times out or
//                      the agent withdraws it. Whoever creates it first wins,
//                      so an answer and a timeout can never both count.
//
// The state dir is 0700 on the host; the guest reaches only the MCP endpoint,
// which has no way to answer. The queue survives a restart of `bottle
// approvals` (it is only files) and is read afresh by each call.
//
// Rate limits are per bottle and counted from the files, so a fresh queue
// object over the same dir enforces the same limits: at most `maxPending`
// requests waiting at once, at most `perHour` requests in any hour.
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { bottlesDir } from '../../core/state.ts';
import { isOwnerAlive } from '../../core/owner.ts';
import { sanitize } from './sanitize.ts';

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

export interface QueueLimits {
  /** Requests waiting for an answer at once (default 5). */
  maxPending: number;
  /** Requests created in any 60 minutes (default 30). */
  perHour: number;
}

export const DEFAULT_LIMITS: QueueLimits = Object.freeze({ maxPending: 5, perHour: 30 });

const HOUR_MS = 60 * 60 * 1000;
/** The longest reason a human may give (it goes back to the agent). */
const MAX_ANSWER_REASON = 4000;
/** Subjects and reasons over this are refused at creation (the MCP schemas bound them well below). */
const MAX_FIELD = 16_000;

export type SuperviseErrorCode = 'BAD_ID' | 'NOT_FOUND' | 'ANSWERED' | 'TIMED_OUT' | 'GONE' | 'LIMITED' | 'INVALID';

export class SuperviseError extends Error {
  readonly code: SuperviseErrorCode;
  /** For LIMITED: when trying again can succeed, in ms from now (undefined: once a pending request is decided). */
  readonly retryAfterMs: number | undefined;

  constructor(code: SuperviseErrorCode, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'SuperviseError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

// --- ids and files ---------------------------------------------------------

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';
const ID_RE = /^[a-z2-7]{10}$/;
const KINDS: readonly RequestKind[] = ['egress', 'push', 'ask'];
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

/** The queue dir of a bottle's state dir. */
export const queueDir = (stateDir: string) => path.join(stateDir, 'supervise');

const requestFile = (dir: string, id: string) => path.join(dir, `${id}.json`);
const answerFile = (dir: string, id: string) => path.join(dir, `${id}.answer.json`);
const tempFile = (dir: string, id: string) => path.join(dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);

function writeTemp(file: string, data: object): void {
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(data, null, 2) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `file` atomically. */
function writeAtomic(dir: string, id: string, file: string, data: object): void {
  const tmp = tempFile(dir, id);
  writeTemp(tmp, data);
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Creates `file` atomically, only if it does not exist: true when this call created it. */
function createExclusive(dir: string, id: string, file: string, data: object): boolean {
  const tmp = tempFile(dir, id);
  writeTemp(tmp, data);
  try {
    linkSync(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const isStr = (v: unknown): v is string => typeof v === 'string';

function parseAnswer(v: unknown): AnswerRecord | undefined {
  const a = v as Partial<AnswerRecord> | undefined;
  if (!a || typeof a !== 'object') return undefined;
  if (!STATUSES.includes(a.outcome as RequestStatus) || (a.outcome as RequestStatus) === 'pending') return undefined;
  if (!isStr(a.reason) || !isStr(a.at) || (a.by !== 'human' && a.by !== 'bottle')) return undefined;
  return { outcome: a.outcome as FinalStatus, reason: a.reason, at: a.at, by: a.by };
}

function parseRequest(v: unknown, id: string): SuperviseRequest | undefined {
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

/**
 * A request as it stands: the request file, with the answer file's decision
 * applied when the daemon has not yet written it back.
 */
function readRequest(dir: string, id: string): SuperviseRequest | undefined {
  const req = parseRequest(readJson(requestFile(dir, id)), id);
  if (!req) return undefined;
  if (req.status === 'pending') {
    const answer = parseAnswer(readJson(answerFile(dir, id)));
    if (answer) return { ...req, status: answer.outcome, answer };
  }
  return req;
}

function requestIds(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json') && !n.endsWith('.answer.json')).map((n) => n.slice(0, -'.json'.length)).filter((id) => ID_RE.test(id));
}

function readAll(dir: string): SuperviseRequest[] {
  return requestIds(dir)
    .map((id) => readRequest(dir, id))
    .filter((r): r is SuperviseRequest => r !== undefined)
    .sort((a, b) => Date.parse(a.created) - Date.parse(b.created) || a.id.localeCompare(b.id));
}

/** Waiting for an answer: no decision yet and the deadline not passed. */
const isOpen = (r: SuperviseRequest, now: number) => r.status === 'pending' && Date.parse(r.deadline) > now;

// --- the daemon's side -------------------------------------------------------

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

export interface WaitOptions {
  /** Aborting withdraws the request (status `cancelled`) unless it was decided first. */
  signal?: AbortSignal;
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

interface Waiter {
  id: string;
  settle(answer: AnswerRecord): void;
}

export function createQueue(opts: QueueOptions): Queue {
  const dir = opts.dir;
  const slug = opts.slug;
  const now = opts.now ?? Date.now;
  const pollMs = Math.max(10, opts.pollMs ?? 1000);
  const limits: QueueLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  const waiters = new Map<string, Waiter>();
  let watcher: FSWatcher | undefined;
  let poller: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const checkAnswer = (id: string) => {
    const w = waiters.get(id);
    if (!w) return;
    const answer = parseAnswer(readJson(answerFile(dir, id)));
    if (answer) w.settle(answer);
  };

  const ensureWatching = () => {
    if (!watcher) {
      try {
        watcher = watch(dir, { persistent: false }, (_event, name) => {
          const n = typeof name === 'string' ? name : undefined;
          if (n && n.endsWith('.answer.json')) checkAnswer(n.slice(0, -'.answer.json'.length));
          else if (!n) for (const id of waiters.keys()) checkAnswer(id);
        });
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined; // the poll carries on
        });
      } catch {
        watcher = undefined;
      }
    }
    if (!poller) {
      poller = setInterval(() => {
        for (const id of [...waiters.keys()]) checkAnswer(id);
      }, pollMs);
      poller.unref();
    }
  };

  const stopWatchingIfIdle = () => {
    if (waiters.size) return;
    watcher?.close();
    watcher = undefined;
    if (poller) clearInterval(poller);
    poller = undefined;
  };

  /** Claims the decision for the bottle (timeout, withdrawn); the answer that counts, whoever made it. */
  const claim = (id: string, outcome: 'timeout' | 'cancelled'): AnswerRecord => {
    const mine: AnswerRecord = { outcome, reason: '', at: new Date(now()).toISOString(), by: 'bottle' };
    if (createExclusive(dir, id, answerFile(dir, id), mine)) return mine;
    return parseAnswer(readJson(answerFile(dir, id))) ?? mine;
  };

  const queue: Queue = {
    dir,
    limits,

    createRequest(input) {
      if (closed) throw new SuperviseError('INVALID', 'the approval queue is closed');
      if (!KINDS.includes(input.kind)) throw new SuperviseError('INVALID', `unknown request kind ${JSON.stringify(input.kind)}`);
      if (typeof input.subject !== 'string' || !input.subject || input.subject.length > MAX_FIELD) throw new SuperviseError('INVALID', 'the request needs a subject (at most 16000 characters)');
      if (typeof input.reason !== 'string' || input.reason.length > MAX_FIELD) throw new SuperviseError('INVALID', 'the reason is limited to 16000 characters');
      if (!Number.isFinite(input.timeoutMs) || input.timeoutMs <= 0) throw new SuperviseError('INVALID', 'timeoutMs must be a positive number');
      const t = now();
      const all = readAll(dir);
      const open = all.filter((r) => isOpen(r, t));
      if (open.length >= limits.maxPending) {
        throw new SuperviseError(
          'LIMITED',
          `rate limited: ${open.length} request(s) of this bottle are already waiting for the human (at most ${limits.maxPending} at once). Wait for one of them to be answered before asking again.`,
        );
      }
      const recent = all.filter((r) => t - Date.parse(r.created) < HOUR_MS);
      if (recent.length >= limits.perHour) {
        const oldest = Math.min(...recent.map((r) => Date.parse(r.created)));
        const retryAfterMs = Math.max(0, oldest + HOUR_MS - t);
        throw new SuperviseError(
          'LIMITED',
          `rate limited: this bottle made ${recent.length} requests in the last hour (at most ${limits.perHour}). The next one can be made in ${Math.ceil(retryAfterMs / 60_000)} minute(s); until then, carry on without it or batch what you need into one request.`,
          retryAfterMs,
        );
      }
      let id = newId();
      while (existsSync(requestFile(dir, id)) || existsSync(answerFile(dir, id))) id = newId();
      const req: SuperviseRequest = {
        version: 1,
        id,
        slug,
        kind: input.kind,
        subject: input.subject,
        reason: input.reason,
        created: new Date(t).toISOString(),
        deadline: new Date(t + input.timeoutMs).toISOString(),
        timeoutMs: input.timeoutMs,
        status: 'pending',
      };
      writeAtomic(dir, id, requestFile(dir, id), req);
      return req;
    },

    waitForAnswer(id, wopts = {}) {
      return new Promise<Outcome>((resolve, reject) => {
        const req = readRequest(dir, id);
        if (!req) return reject(new SuperviseError('NOT_FOUND', `no request ${id} in ${dir}`));
        if (waiters.has(id)) return reject(new SuperviseError('INVALID', `request ${id} is already being waited for`));
        let deadlineTimer: ReturnType<typeof setTimeout> | undefined;
        const signal = wopts.signal;
        const onAbort = () => waiter.settle(claim(id, 'cancelled'));
        const waiter: Waiter = {
          id,
          settle(answer) {
            if (waiters.get(id) !== waiter) return;
            waiters.delete(id);
            if (deadlineTimer) clearTimeout(deadlineTimer);
            signal?.removeEventListener('abort', onAbort);
            stopWatchingIfIdle();
            const current = parseRequest(readJson(requestFile(dir, id)), id) ?? req;
            const final: SuperviseRequest = { ...current, status: answer.outcome, answer };
            try {
              writeAtomic(dir, id, requestFile(dir, id), final);
            } catch {
              // The answer file is the record that counts; the request file is a convenience.
            }
            resolve({ outcome: answer.outcome, reason: answer.outcome === 'approved' || answer.outcome === 'denied' ? answer.reason : '', request: final } as Outcome);
          },
        };
        waiters.set(id, waiter);
        ensureWatching();
        // Already decided (by a human, or before a restart)?
        checkAnswer(id);
        if (waiters.get(id) !== waiter) return;
        if (closed || signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        const left = Date.parse(req.deadline) - now();
        const onDeadline = () => waiter.settle(claim(id, 'timeout'));
        if (left <= 0) return onDeadline();
        deadlineTimer = setTimeout(onDeadline, left);
      });
    },

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
      for (const id of [...waiters.keys()]) {
        const w = waiters.get(id);
        try {
          w?.settle(claim(id, 'cancelled'));
        } catch {
          // The dir may be gone already (teardown).
        }
      }
      waiters.clear();
      stopWatchingIfIdle();
    },
  };
  return queue;
}

// --- the human's side ----------------------------------------------------------

/** A waiting request as a human sees it: every text field sanitised. */
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
  out.sort((a, b) => Date.parse(a.created) - Date.parse(b.created) || a.id.localeCompare(b.id));
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
  if (!createExclusive(dir, n, answerFile(dir, n), record)) {
    const other = parseAnswer(readJson(answerFile(dir, n)));
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


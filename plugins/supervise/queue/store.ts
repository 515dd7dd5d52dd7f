// The queue's files in `<stateDir>/supervise/`: `<id>.json` (the request,
// replaced atomically by temp file + rename) and `<id>.answer.json` (the
// decision, created once by temp file + link, which fails if it exists, so
// whoever decides first wins and a late answer or timeout cannot overwrite it).
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { type AnswerRecord, ID_RE, newId, parseAnswer, parseRequest, type SuperviseRequest } from './records.ts';

/** The queue dir of a bottle's state dir. */
export const queueDir = (stateDir: string) => path.join(stateDir, 'supervise');

const requestFile = (dir: string, id: string) => path.join(dir, `${id}.json`);
const answerFile = (dir: string, id: string) => path.join(dir, `${id}.answer.json`);
// Dot-prefixed, and not `<id>.json`: never taken for a request while being written.
const tempFile = (dir: string, id: string) => path.join(dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);

/** The suffix of an answer file's name, for watchers of the dir. */
export const ANSWER_SUFFIX = '.answer.json';

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

/** A JSON file's content; undefined when missing or unreadable. */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** An ID used by no request or answer file in `dir`. */
export function unusedId(dir: string): string {
  let id = newId();
  while (existsSync(requestFile(dir, id)) || existsSync(answerFile(dir, id))) id = newId();
  return id;
}

/** Writes (or replaces) the request file. */
export function writeRequest(dir: string, req: SuperviseRequest): void {
  writeAtomic(dir, req.id, requestFile(dir, req.id), req);
}

/** The request file alone, without its answer file's decision. */
export function readRequestFile(dir: string, id: string): SuperviseRequest | undefined {
  return parseRequest(readJson(requestFile(dir, id)), id);
}

/** The decision, if one was made. */
export function readAnswer(dir: string, id: string): AnswerRecord | undefined {
  return parseAnswer(readJson(answerFile(dir, id)));
}

/** Records the decision unless there is one already: true when this one counts. */
export function createAnswer(dir: string, id: string, answer: AnswerRecord): boolean {
  return createExclusive(dir, id, answerFile(dir, id), answer);
}

/**
 * A request as it stands: the request file, with the answer file's decision
 * applied when the daemon has not yet written it back.
 */
export function readRequest(dir: string, id: string): SuperviseRequest | undefined {
  const req = readRequestFile(dir, id);
  if (!req) return undefined;
  if (req.status === 'pending') {
    const answer = readAnswer(dir, id);
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
  return names.filter((n) => n.endsWith('.json') && !n.endsWith(ANSWER_SUFFIX)).map((n) => n.slice(0, -'.json'.length)).filter((id) => ID_RE.test(id));
}

/** Oldest first, ties by ID, so every reader lists them in the same order. */
export const byCreation = (a: SuperviseRequest, b: SuperviseRequest) => Date.parse(a.created) - Date.parse(b.created) || a.id.localeCompare(b.id);

/** Every readable request in `dir`, as it stands, oldest first. */
export function readAll(dir: string): SuperviseRequest[] {
  return requestIds(dir)
    .map((id) => readRequest(dir, id))
    .filter((r): r is SuperviseRequest => r !== undefined)
    .sort(byCreation);
}

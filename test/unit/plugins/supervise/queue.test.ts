// The approval queue on disk: the daemon's side (create, wait) and the
// human's side (list, answer) meet only through files in the bottle's state
// dir, so every test also works with fresh queue objects reading the disk.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { answerRequest, createQueue, findRequest, listPending, normaliseId, newId, type Queue, queueDir, SuperviseError, watchPending } from '../../../../plugins/supervise/queue.ts';

let root: string;
const queues: Queue[] = [];

function bottle(slug: string, opts: { limits?: { maxPending?: number; perHour?: number }; now?: () => number } = {}): Queue {
  const stateDir = path.join(root, 'bottles', slug);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const q = createQueue({ dir: queueDir(stateDir), slug, pollMs: 50, ...opts });
  queues.push(q);
  return q;
}

const errorOf = (fn: () => unknown): SuperviseError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SuperviseError);
    return e as SuperviseError;
  }
  throw new Error('did not throw');
};

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'supervise-queue-'));
});

afterEach(() => {
  for (const q of queues.splice(0)) q.close();
  rmSync(root, { recursive: true, force: true });
});

describe('ids', () => {
  it('are 10 base32 characters, distinct, and typed case-insensitively', () => {
    const ids = new Set(Array.from({ length: 2000 }, newId));
    expect(ids.size).toBe(2000);
    for (const id of ids) expect(id).toMatch(/^[a-z2-7]{10}$/);
    expect(normaliseId(' ABCDEFGH23 ')).toBe('abcdefgh23');
    expect(normaliseId('../../etc/x')).toBeUndefined();
    expect(normaliseId('abcdefgh18')).toBeUndefined();
  });
});

describe('create and answer', () => {
  it('writes a pending request atomically, in a private dir', () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'install deps', timeoutMs: 60_000 });
    expect(r).toMatchObject({ kind: 'egress', subject: 'pypi.org', reason: 'install deps', status: 'pending', slug: 'dev' });
    expect(readdirSync(q.dir)).toEqual([`${r.id}.json`]); // no temp files left
    expect(statSync(q.dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(q.dir, `${r.id}.json`)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(q.dir, `${r.id}.json`), 'utf8'))).toMatchObject({ id: r.id, status: 'pending' });
  });

  it('an approval reaches the waiting daemon with the reason, and the request is final', async () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'deps', timeoutMs: 10_000 });
    const waiting = q.waitForAnswer(r.id);
    setTimeout(() => answerRequest(root, r.id, { approved: true, reason: 'ok for today' }), 30);
    const out = await waiting;
    expect(out.outcome).toBe('approved');
    expect(out.reason).toBe('ok for today');
    expect(q.get(r.id)).toMatchObject({ status: 'approved', answer: { outcome: 'approved', by: 'human', reason: 'ok for today' } });
    expect(listPending(root)).toEqual([]);
  });

  it('a denial carries the human reason', async () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'push', subject: 'refs/heads/main', reason: 'hotfix', timeoutMs: 10_000 });
    const waiting = q.waitForAnswer(r.id);
    answerRequest(root, r.id.toUpperCase(), { approved: false, reason: 'open a PR instead' });
    await expect(waiting).resolves.toMatchObject({ outcome: 'denied', reason: 'open a PR instead' });
  });

  it('an answer given before the daemon waits is found at once', async () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'ask', subject: 'drop the table?', reason: '', timeoutMs: 10_000 });
    answerRequest(root, r.id, { approved: true });
    await expect(q.waitForAnswer(r.id)).resolves.toMatchObject({ outcome: 'approved', reason: '' });
  });

  it('refuses answering twice, with what happened', () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 10_000 });
    answerRequest(root, r.id, { approved: false, reason: 'no' });
    const e = errorOf(() => answerRequest(root, r.id, { approved: true }));
    expect(e.code).toBe('ANSWERED');
    expect(e.message).toMatch(new RegExp(`request ${r.id} cannot be answered: it was already denied at .* \\(no\\)`));
  });

  it('refuses bad and unknown ids', () => {
    bottle('dev');
    expect(errorOf(() => answerRequest(root, '../x', { approved: true })).code).toBe('BAD_ID');
    expect(errorOf(() => answerRequest(root, 'aaaaaaaaaa', { approved: true })).code).toBe('NOT_FOUND');
  });

  it('times out, then refuses a late answer', async () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 150 });
    const out = await q.waitForAnswer(r.id);
    expect(out.outcome).toBe('timeout');
    expect(q.get(r.id)).toMatchObject({ status: 'timeout', answer: { by: 'bottle' } });
    const e = errorOf(() => answerRequest(root, r.id, { approved: true }));
    expect(e.code).toBe('ANSWERED');
    expect(e.message).toMatch(/timed out at/);
  });

  it('refuses an answer past the deadline even before the daemon marks it', () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 1000 });
    const e = errorOf(() => answerRequest(root, r.id, { approved: true }, { now: Date.now() + 5000 }));
    expect(e.code).toBe('TIMED_OUT');
    expect(e.message).toMatch(/timed out at/);
    expect(listPending(root, { now: Date.now() + 5000 })).toEqual([]);
  });

  it('a withdrawn request (the agent gave up) can no longer be approved', async () => {
    const q = bottle('dev');
    const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 10_000 });
    const ac = new AbortController();
    const waiting = q.waitForAnswer(r.id, { signal: ac.signal });
    ac.abort();
    await expect(waiting).resolves.toMatchObject({ outcome: 'cancelled' });
    expect(errorOf(() => answerRequest(root, r.id, { approved: true })).message).toMatch(/withdrew/);
  });

  it('a queue dir gone under a waiting request (a disk error) ends the wait as timed out or withdrawn, never the process', async () => {
    const crashes: unknown[] = [];
    const onCrash = (e: unknown) => crashes.push(e);
    process.on('uncaughtException', onCrash);
    try {
      const q = bottle('dev');
      const timed = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 150 });
      const aborted = q.createRequest({ kind: 'egress', subject: 'npmjs.org', reason: 'y', timeoutMs: 10_000 });
      const ac = new AbortController();
      const waits = [q.waitForAnswer(timed.id), q.waitForAnswer(aborted.id, { signal: ac.signal })];
      rmSync(path.join(root, 'bottles', 'dev'), { recursive: true, force: true });
      writeFileSync(path.join(root, 'bottles', 'dev'), 'not a directory any more');
      ac.abort();
      await expect(Promise.all(waits)).resolves.toMatchObject([{ outcome: 'timeout' }, { outcome: 'cancelled' }]);
      expect(crashes).toEqual([]);
    } finally {
      process.off('uncaughtException', onCrash);
    }
  });

  it('exactly one of an answer and a timeout counts', async () => {
    for (let i = 0; i < 20; i++) {
      const q = bottle(`race${i}`);
      const r = q.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'x', timeoutMs: 40 });
      const waiting = q.waitForAnswer(r.id);
      await new Promise((res) => setTimeout(res, 38 + (i % 5)));
      let answered = false;
      try {
        answerRequest(root, r.id, { approved: true });
        answered = true;
      } catch (e) {
        expect((e as SuperviseError).code).toMatch(/ANSWERED|TIMED_OUT/);
      }
      const out = await waiting;
      expect(out.outcome).toBe(answered ? 'approved' : 'timeout');
    }
  });
});

describe('on disk', () => {
  it('survives re-reading with fresh queue objects (a restart of either side)', async () => {
    const first = bottle('dev');
    const r = first.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'deps', timeoutMs: 10_000 });
    first.close();
    // `bottle approvals` restarted: it reads the files.
    expect(listPending(root).map((p) => p.id)).toEqual([r.id]);
    expect(findRequest(root, r.id)?.request).toMatchObject({ subject: 'pypi.org', status: 'pending' });
    // A fresh daemon-side object sees the same request and waits for it.
    const second = createQueue({ dir: first.dir, slug: 'dev', pollMs: 50 });
    queues.push(second);
    expect(second.pending().map((p) => p.id)).toEqual([r.id]);
    const waiting = second.waitForAnswer(r.id);
    answerRequest(root, r.id, { approved: true, reason: 'fine' });
    await expect(waiting).resolves.toMatchObject({ outcome: 'approved', reason: 'fine' });
    const third = createQueue({ dir: first.dir, slug: 'dev' });
    queues.push(third);
    expect(third.get(r.id)).toMatchObject({ status: 'approved', answer: { reason: 'fine' } });
  });

  it('lists the pending requests of all bottles, oldest first, and skips bottles whose process is gone', () => {
    let t = Date.parse('2025-01-01T00:00:00Z');
    const a = bottle('alpha', { now: () => t });
    const b = bottle('beta', { now: () => t });
    const dead = bottle('dead', { now: () => t });
    writeFileSync(path.join(root, 'bottles', 'dead', 'owner.json'), JSON.stringify({ slug: 'dead', owner: '999999999:1', created: '' }));
    const r1 = a.createRequest({ kind: 'egress', subject: 'a.example.com', reason: 'one', timeoutMs: 3_600_000 });
    t += 1000;
    const r2 = b.createRequest({ kind: 'ask', subject: 'ok?', reason: '', timeoutMs: 3_600_000 });
    t += 1000;
    dead.createRequest({ kind: 'ask', subject: 'lost', reason: '', timeoutMs: 3_600_000 });
    const list = listPending(root, { now: t });
    expect(list.map((p) => [p.id, p.slug, p.kind])).toEqual([
      [r1.id, 'alpha', 'egress'],
      [r2.id, 'beta', 'ask'],
    ]);
    expect(list[0]!.text).toBe(`${r1.id}  alpha  egress  a.example.com  — one`);
    const gone = findRequest(root, dead.list()[0]!.id)!;
    expect(errorOf(() => answerRequest(root, gone.request.id, { approved: true }, { now: t })).code).toBe('GONE');
  });

  it('ignores temp files and junk in the queue dir', () => {
    const q = bottle('dev');
    writeFileSync(path.join(q.dir, '.abcdefghij.1234.tmp'), '{');
    writeFileSync(path.join(q.dir, 'abcdefghij.json'), 'not json');
    writeFileSync(path.join(q.dir, 'notanid.json'), '{}');
    expect(q.list()).toEqual([]);
    expect(listPending(root)).toEqual([]);
  });

  it('shows the agent text neutralised', () => {
    const q = bottle('dev');
    q.createRequest({ kind: 'ask', subject: 'ok\x1b[2J?\u202e', reason: 'line1\nline2\x1b]0;pwned\x07\r', timeoutMs: 60_000 });
    const [p] = listPending(root);
    expect(p!.subject).toBe('ok␛[2J?\\u{202e}');
    expect(p!.reason).toBe('line1\nline2␛]0;pwned\\x07\\x0d');
    expect(p!.text).not.toMatch(/[\x00-\x1f\x7f-\x9f\u202a-\u202e]/);
    expect(p!.text).toContain('line1\\nline2␛]0;pwned\\x07\\x0d');
  });

  it('watchPending reports changes', async () => {
    const q = bottle('dev');
    const seen: string[][] = [];
    const w = watchPending(root, (list) => seen.push(list.map((p) => p.id)), { pollMs: 50 });
    const r = q.createRequest({ kind: 'egress', subject: 'x.org', reason: 'x', timeoutMs: 60_000 });
    await new Promise((res) => setTimeout(res, 150));
    answerRequest(root, r.id, { approved: true });
    await new Promise((res) => setTimeout(res, 150));
    w.close();
    expect(seen).toEqual([[], [r.id], []]);
  });
});

describe('rate limits', () => {
  it('refuses more than maxPending waiting at once, and frees a slot once one is decided', () => {
    const q = bottle('dev');
    const made = Array.from({ length: 5 }, (_, i) => q.createRequest({ kind: 'egress', subject: `h${i}.org`, reason: 'x', timeoutMs: 60_000 }));
    const e = errorOf(() => q.createRequest({ kind: 'egress', subject: 'h6.org', reason: 'x', timeoutMs: 60_000 }));
    expect(e.code).toBe('LIMITED');
    expect(e.message).toMatch(/rate limited: 5 request\(s\) of this bottle are already waiting .*at most 5 at once/);
    // A fresh object counts the same files.
    const fresh = createQueue({ dir: q.dir, slug: 'dev' });
    queues.push(fresh);
    expect(errorOf(() => fresh.createRequest({ kind: 'ask', subject: 'q', reason: '', timeoutMs: 60_000 })).code).toBe('LIMITED');
    answerRequest(root, made[0]!.id, { approved: false });
    expect(q.createRequest({ kind: 'egress', subject: 'h6.org', reason: 'x', timeoutMs: 60_000 }).status).toBe('pending');
  });

  it('refuses more than perHour in any hour, and says when the next one can be made', () => {
    let t = Date.parse('2025-01-01T00:00:00Z');
    const q = bottle('dev', { now: () => t, limits: { maxPending: 100, perHour: 3 } });
    for (let i = 0; i < 3; i++) {
      q.createRequest({ kind: 'ask', subject: `q${i}`, reason: '', timeoutMs: 1000 });
      t += 10 * 60_000;
    }
    const e = errorOf(() => q.createRequest({ kind: 'ask', subject: 'q3', reason: '', timeoutMs: 1000 }));
    expect(e.code).toBe('LIMITED');
    expect(e.retryAfterMs).toBe(30 * 60_000);
    expect(e.message).toMatch(/3 requests in the last hour \(at most 3\)\. The next one can be made in 30 minute/);
    t += 30 * 60_000;
    expect(q.createRequest({ kind: 'ask', subject: 'q3', reason: '', timeoutMs: 1000 }).status).toBe('pending');
  });

  it('limits are per bottle', () => {
    const a = bottle('a', { limits: { maxPending: 1 } });
    const b = bottle('b', { limits: { maxPending: 1 } });
    a.createRequest({ kind: 'ask', subject: 'q', reason: '', timeoutMs: 60_000 });
    expect(errorOf(() => a.createRequest({ kind: 'ask', subject: 'q', reason: '', timeoutMs: 60_000 })).code).toBe('LIMITED');
    expect(b.createRequest({ kind: 'ask', subject: 'q', reason: '', timeoutMs: 60_000 }).status).toBe('pending');
  });

  it('refuses bad input', () => {
    const q = bottle('dev');
    expect(errorOf(() => q.createRequest({ kind: 'nope' as 'ask', subject: 'q', reason: '', timeoutMs: 1 })).code).toBe('INVALID');
    expect(errorOf(() => q.createRequest({ kind: 'ask', subject: '', reason: '', timeoutMs: 1 })).code).toBe('INVALID');
    expect(errorOf(() => q.createRequest({ kind: 'ask', subject: 'q', reason: '', timeoutMs: 0 })).code).toBe('INVALID');
    expect(existsSync(q.dir)).toBe(true);
  });
});

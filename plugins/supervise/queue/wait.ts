// Waiting for the decision on a request: fs.watch on the queue dir for
// answer files, plus a poll (fs.watch may miss events or fail, and then the
// poll carries on alone), a deadline after which the bottle claims a
// timeout, and a withdrawal when the agent's call is aborted.
import { type FSWatcher, watch } from 'node:fs';
import { SuperviseError } from './errors.ts';
import type { AnswerRecord, Outcome, SuperviseRequest } from './records.ts';
import { ANSWER_SUFFIX, createAnswer, readAnswer, readRequest, readRequestFile, writeRequest } from './store.ts';

export interface WaitOptions {
  /** Aborting withdraws the request (status `cancelled`) unless it was decided first. */
  signal?: AbortSignal;
}

export interface WaitingOptions {
  dir: string;
  /** How often waiting requests re-read their answer files besides fs.watch. */
  pollMs: number;
  now: () => number;
}

export interface Waiting {
  /** Resolves once the request is decided: approved / denied (with the human's reason), timed out, or withdrawn. */
  waitForAnswer(id: string, opts?: WaitOptions): Promise<Outcome>;
  /** Withdraws the waits in progress and stops watching; later waits are withdrawn at once. */
  close(): void;
}

interface Waiter {
  id: string;
  settle(answer: AnswerRecord): void;
}

export function createWaiting(opts: WaitingOptions): Waiting {
  const { dir, pollMs, now } = opts;
  const waiters = new Map<string, Waiter>();
  let watcher: FSWatcher | undefined;
  let poller: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const checkAnswer = (id: string) => {
    const w = waiters.get(id);
    if (!w) return;
    const answer = readAnswer(dir, id);
    if (answer) w.settle(answer);
  };

  // Watching runs only while someone waits.
  const ensureWatching = () => {
    if (!watcher) {
      try {
        watcher = watch(dir, { persistent: false }, (_event, name) => {
          const n = typeof name === 'string' ? name : undefined;
          if (n && n.endsWith(ANSWER_SUFFIX)) checkAnswer(n.slice(0, -ANSWER_SUFFIX.length));
          // Some platforms report no name: any waiter's answer may have come.
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

  /**
   * Claims the decision for the bottle (timeout, withdrawn); the answer that
   * counts, whoever made it. Never throws: it runs from timers and abort
   * listeners, where a disk error (the queue dir gone, a full disk) would
   * otherwise take the whole `bottle` process down; the call then ends with
   * the bottle's own decision, unrecorded.
   */
  const claim = (id: string, outcome: 'timeout' | 'cancelled'): AnswerRecord => {
    const mine: AnswerRecord = { outcome, reason: '', at: new Date(now()).toISOString(), by: 'bottle' };
    try {
      if (createAnswer(dir, id, mine)) return mine;
      return readAnswer(dir, id) ?? mine;
    } catch {
      return mine;
    }
  };

  return {
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
            // Once only: the watcher, the poll, the deadline and an abort may all race here.
            if (waiters.get(id) !== waiter) return;
            waiters.delete(id);
            if (deadlineTimer) clearTimeout(deadlineTimer);
            signal?.removeEventListener('abort', onAbort);
            stopWatchingIfIdle();
            const current: SuperviseRequest = readRequestFile(dir, id) ?? req;
            const final: SuperviseRequest = { ...current, status: answer.outcome, answer };
            try {
              writeRequest(dir, final);
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

    close() {
      closed = true;
      for (const id of [...waiters.keys()]) waiters.get(id)?.settle(claim(id, 'cancelled'));
      waiters.clear();
      stopWatchingIfIdle();
    },
  };
}

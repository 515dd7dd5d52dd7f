// Per-bottle rate limits, counted from the request files (not from memory),
// so a fresh queue over the same dir, after a restart, enforces the same
// limits: at most `maxPending` waiting at once, at most `perHour` in any hour.
import { SuperviseError } from './errors.ts';
import { isOpen, type SuperviseRequest } from './records.ts';

export interface QueueLimits {
  /** Requests waiting for an answer at once (default 5). */
  maxPending: number;
  /** Requests created in any 60 minutes (default 30). */
  perHour: number;
}

export const DEFAULT_LIMITS: QueueLimits = Object.freeze({ maxPending: 5, perHour: 30 });

const HOUR_MS = 60 * 60 * 1000;

/**
 * Why one more request may not be made at `now`, given every request of the
 * bottle: a SuperviseError LIMITED whose message tells the agent what to do;
 * undefined when it may. Every request created in the last hour counts
 * towards `perHour`, whatever became of it.
 */
export function limitRefusal(requests: readonly Pick<SuperviseRequest, 'status' | 'deadline' | 'created'>[], limits: QueueLimits, now: number): SuperviseError | undefined {
  const open = requests.filter((r) => isOpen(r, now));
  if (open.length >= limits.maxPending) {
    return new SuperviseError(
      'LIMITED',
      `rate limited: ${open.length} request(s) of this bottle are already waiting for the human (at most ${limits.maxPending} at once). Wait for one of them to be answered before asking again.`,
    );
  }
  const recent = requests.filter((r) => now - Date.parse(r.created) < HOUR_MS);
  if (recent.length >= limits.perHour) {
    // A slot frees when the oldest of the last hour's requests leaves the window.
    const oldest = Math.min(...recent.map((r) => Date.parse(r.created)));
    const retryAfterMs = Math.max(0, oldest + HOUR_MS - now);
    return new SuperviseError(
      'LIMITED',
      `rate limited: this bottle made ${recent.length} requests in the last hour (at most ${limits.perHour}). The next one can be made in ${Math.ceil(retryAfterMs / 60_000)} minute(s); until then, carry on without it or batch what you need into one request.`,
      retryAfterMs,
    );
  }
  return undefined;
}

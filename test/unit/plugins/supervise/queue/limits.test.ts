// Rate limits counted from a bottle's requests: when one more request is
// refused, what the agent is told, and when it may try again.
import { describe, expect, it } from 'vitest';
import { limitRefusal } from '../../../../../plugins/supervise/queue/limits.ts';
import type { RequestStatus } from '../../../../../plugins/supervise/queue.ts';

const NOW = Date.parse('2025-06-01T12:00:00Z');
const MIN = 60_000;

/** A request created `ago` minutes before NOW, whose deadline is `left` minutes after it. */
const req = (status: RequestStatus, ago: number, left = 10) => ({
  status,
  created: new Date(NOW - Math.round(ago * MIN)).toISOString(),
  deadline: new Date(NOW + left * MIN).toISOString(),
});
const times = (n: number, make: (i: number) => ReturnType<typeof req>) => Array.from({ length: n }, (_, i) => make(i));

describe('limitRefusal', () => {
  it.each([
    { why: 'no request yet', requests: [], limits: { maxPending: 5, perHour: 30 } },
    { why: 'one slot left', requests: times(4, () => req('pending', 1)), limits: { maxPending: 5, perHour: 30 } },
    { why: 'waiting ones past their deadline', requests: times(5, () => req('pending', 20, -1)), limits: { maxPending: 5, perHour: 30 } },
    { why: 'decided ones', requests: [...times(4, () => req('pending', 1)), req('approved', 1)], limits: { maxPending: 5, perHour: 30 } },
    { why: 'a request exactly an hour old', requests: [req('denied', 60), req('denied', 30)], limits: { maxPending: 5, perHour: 2 } },
  ])('lets one more through: $why', ({ requests, limits }) => {
    expect(limitRefusal(requests, limits, NOW)).toBeUndefined();
  });

  it.each([
    { why: 'maxPending waiting', requests: times(5, () => req('pending', 1)), limits: { maxPending: 5, perHour: 30 }, message: /^rate limited: 5 request\(s\) of this bottle are already waiting for the human \(at most 5 at once\)/ },
    { why: 'more than maxPending waiting (limit lowered)', requests: times(3, () => req('pending', 1)), limits: { maxPending: 2, perHour: 30 }, message: /^rate limited: 3 request\(s\).*at most 2 at once/ },
    { why: 'both limits reached: the waiting ones first', requests: times(3, () => req('pending', 1)), limits: { maxPending: 3, perHour: 3 }, message: /already waiting/ },
  ])('refuses $why, until one is decided', ({ requests, limits, message }) => {
    const e = limitRefusal(requests, limits, NOW);
    expect(e?.code).toBe('LIMITED');
    expect(e?.message).toMatch(message);
    expect(e?.retryAfterMs).toBeUndefined();
  });

  it.each([
    { why: 'three in the last hour', requests: [req('approved', 10), req('denied', 20), req('timeout', 30)], retryAfterMs: 30 * MIN, minutes: 30 },
    { why: 'withdrawn ones count too', requests: [req('cancelled', 50), req('cancelled', 5), req('approved', 1)], retryAfterMs: 10 * MIN, minutes: 10 },
    { why: 'the oldest one a millisecond short of an hour', requests: [req('approved', 60 - 1 / MIN), req('approved', 2), req('approved', 1)], retryAfterMs: 1, minutes: 1 },
    { why: 'the oldest 30.5 minutes ago', requests: [req('denied', 30.5), req('denied', 2), req('denied', 1)], retryAfterMs: 29.5 * MIN, minutes: 30 },
  ])('refuses $why for perHour 3, and says when the next one can be made ($minutes min)', ({ requests, retryAfterMs, minutes }) => {
    const e = limitRefusal(requests, { maxPending: 5, perHour: 3 }, NOW);
    expect(e?.code).toBe('LIMITED');
    expect(e?.retryAfterMs).toBe(retryAfterMs);
    expect(e?.message).toBe(
      `rate limited: this bottle made 3 requests in the last hour (at most 3). The next one can be made in ${minutes} minute(s); until then, carry on without it or batch what you need into one request.`,
    );
  });
});

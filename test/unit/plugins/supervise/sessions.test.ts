// The bound on MCP sessions: once more than the cap are live, the least
// recently used one is dropped (its client re-initialises on 404), never the
// session that was just initialised.
import { describe, expect, it } from 'vitest';
import { evictionVictim, MAX_SESSIONS } from '../../../../plugins/supervise/sessions.ts';

interface S {
  name: string;
  lastSeen: number;
}
const sessions = (n: number, lastSeen: (i: number) => number = (i) => 1000 + i): S[] => Array.from({ length: n }, (_, i) => ({ name: `s${i}`, lastSeen: lastSeen(i) }));

describe('evictionVictim', () => {
  it.each([
    { why: 'under the cap', live: sessions(3), max: 5, victim: undefined },
    { why: 'at the cap', live: sessions(5), max: 5, victim: undefined },
    { why: 'one over the cap', live: sessions(6), max: 5, victim: 's0' },
    { why: 'one over, the oldest in the middle', live: sessions(6, (i) => (i === 3 ? 1 : 1000 + i)), max: 5, victim: 's3' },
    { why: 'one over the real cap', live: sessions(MAX_SESSIONS + 1, (i) => 5000 - i), max: MAX_SESSIONS, victim: `s${MAX_SESSIONS - 1}` },
    { why: 'at the real cap', live: sessions(MAX_SESSIONS), max: MAX_SESSIONS, victim: undefined },
  ])('$why: drops $victim', ({ live, max, victim }) => {
    // The newest session is the last one.
    expect(evictionVictim(live, live[live.length - 1]!, max)?.name).toBe(victim);
  });

  it('never drops the session just initialised, even when it was created before all others were last used', () => {
    const live = sessions(3, (i) => [500, 900, 100][i]!);
    expect(evictionVictim(live, live[2]!, 2)?.name).toBe('s0');
  });
});

// The memory budget of body scanning: leases granted in order while they
// fit, a request over it waits for bytes to be given back, or gives up.
import { describe, expect, it } from 'vitest';
import { Budget } from '../../../../../plugins/egress/proxy/budget.ts';

describe('Budget', () => {
  it('grants while the bytes fit, and never more than the whole budget to one lease', async () => {
    const b = new Budget(100);
    const a = await b.acquire(60, 0);
    expect(a?.bytes).toBe(60);
    expect(await b.acquire(50, 0)).toBeUndefined();
    const c = await b.acquire(40, 0);
    expect(b.used).toBe(100);
    a!.release();
    a!.release();
    c!.release();
    expect(b.used).toBe(0);
    expect((await b.acquire(1000, 0))?.bytes).toBe(100);
  });

  it('a request over the budget waits until bytes are given back, first come first served', async () => {
    const b = new Budget(100);
    const first = (await b.acquire(80, 0))!;
    const order: string[] = [];
    const big = b.acquire(60, 60_000).then((l) => (order.push('big'), l));
    const small = b.acquire(10, 60_000).then((l) => (order.push('small'), l));
    await Promise.resolve();
    // The small one fits, but waits behind the big one: no starvation of large bodies.
    expect(b.waiting).toBe(2);
    first.release();
    const [l1, l2] = await Promise.all([big, small]);
    expect(order).toEqual(['big', 'small']);
    expect(l1?.bytes).toBe(60);
    expect(l2?.bytes).toBe(10);
    expect(b.used).toBe(70);
  });

  it('gives up after the wait, or when the client goes away, and lets the next one in', async () => {
    const b = new Budget(100);
    const held = (await b.acquire(100, 0))!;
    expect(await b.acquire(10, 5)).toBeUndefined();
    const gone = new AbortController();
    const w = b.acquire(50, 60_000, gone.signal);
    const next = b.acquire(20, 60_000);
    gone.abort();
    expect(await w).toBeUndefined();
    held.release();
    expect((await next)?.bytes).toBe(20);
    expect(b.waiting).toBe(0);
  });
});

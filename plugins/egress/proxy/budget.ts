// The memory budget of body scanning: every request that scans a body holds
// a lease on the bytes it may keep (its buffered body, its scan windows, its
// decompressor) for as long as it keeps them. Leases are granted first come,
// first served; one that does not fit waits, and gives up after a while
// (the caller answers 503). No request's lease is ever larger than the
// budget, so each one fits once the others are done.

export interface Lease {
  readonly bytes: number;
  /** Gives the bytes back; idempotent. */
  release(): void;
}

interface Waiter {
  bytes: number;
  grant(lease: Lease): void;
  timer: NodeJS.Timeout | undefined;
}

export class Budget {
  readonly capacity: number;
  #used = 0;
  readonly #queue: Waiter[] = [];

  constructor(capacity: number) {
    this.capacity = Math.max(1, Math.floor(capacity));
  }

  /** Bytes leased now. */
  get used(): number {
    return this.#used;
  }

  /** Requests waiting for a lease. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * A lease on `bytes` (at most the whole budget): at once when it fits and
   * nobody waits before it, else when enough is released; undefined after
   * `waitMs`, or at once when `waitMs` is 0. `signal` withdraws the request
   * (a client gone away).
   */
  acquire(bytes: number, waitMs: number, signal?: AbortSignal): Promise<Lease | undefined> {
    const n = Math.min(this.capacity, Math.max(0, Math.ceil(bytes)));
    if (this.#queue.length === 0 && this.#used + n <= this.capacity) return Promise.resolve(this.#lease(n));
    if (waitMs <= 0 || signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const w: Waiter = { bytes: n, grant: resolve, timer: undefined };
      const leave = () => {
        const i = this.#queue.indexOf(w);
        if (i < 0) return;
        this.#queue.splice(i, 1);
        clearTimeout(w.timer);
        signal?.removeEventListener('abort', leave);
        resolve(undefined);
        // The head that left may have been what held the others back.
        this.#grant();
      };
      w.timer = setTimeout(leave, waitMs);
      w.timer.unref();
      signal?.addEventListener('abort', leave, { once: true });
      w.grant = (lease) => {
        clearTimeout(w.timer);
        signal?.removeEventListener('abort', leave);
        resolve(lease);
      };
      this.#queue.push(w);
    });
  }

  #lease(n: number): Lease {
    this.#used += n;
    let held = true;
    return {
      bytes: n,
      release: () => {
        if (!held) return;
        held = false;
        this.#used -= n;
        this.#grant();
      },
    };
  }

  /** Grants waiting leases in order, as long as the head fits. */
  #grant(): void {
    while (this.#queue.length > 0 && this.#used + this.#queue[0]!.bytes <= this.capacity) {
      const w = this.#queue.shift()!;
      w.grant(this.#lease(w.bytes));
    }
  }
}

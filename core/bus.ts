// The event bus: what people and logs want to see. The CLI renders `step`
// events as progress, the kernel appends `audit` events to the bottle's
// audit.jsonl, `warn` goes to stderr. One bus per kernel, no module state.
// Its own small emitter rather than node's EventEmitter: a plugin author's
// editor types `bus.emit('audit', ...)` without @types/node.

export interface StepEvent {
  /** Stable id of the step within one run, e.g. `preStart:egress`. */
  id: string;
  /** What a person reads: "start container", "egress: preStart". */
  title: string;
  state: 'start' | 'done' | 'fail';
  plugin?: string;
  hook?: string;
  /** Set on done and fail. */
  durationMs?: number;
  error?: string;
}

/** An audit record: egress decisions, pushes, approvals, lifecycle. */
export interface AuditEvent {
  type: string;
  plugin?: string;
  [field: string]: unknown;
}

export interface WarnEvent {
  message: string;
  plugin?: string;
}

export interface LogEvent {
  message: string;
  plugin?: string;
}

export interface BusEvents {
  step: [StepEvent];
  audit: [AuditEvent];
  warn: [WarnEvent];
  log: [LogEvent];
}

type Listener<K extends keyof BusEvents> = (...args: BusEvents[K]) => void;
type AnyListener = (...args: unknown[]) => void;

export class Bus {
  readonly #listeners = new Map<keyof BusEvents, AnyListener[]>();

  on<K extends keyof BusEvents>(event: K, fn: Listener<K>): this {
    const list = this.#listeners.get(event) ?? [];
    list.push(fn as unknown as AnyListener);
    this.#listeners.set(event, list);
    return this;
  }

  off<K extends keyof BusEvents>(event: K, fn: Listener<K>): this {
    const list = this.#listeners.get(event);
    const i = list?.lastIndexOf(fn as unknown as AnyListener) ?? -1;
    if (i >= 0) list!.splice(i, 1);
    return this;
  }

  /** Calls every listener of `event` in order; true if there was one. A listener that throws stops the emit, as with node's emitter. */
  emit<K extends keyof BusEvents>(event: K, ...args: BusEvents[K]): boolean {
    const list = this.#listeners.get(event);
    if (!list?.length) return false;
    for (const fn of [...list]) (fn as unknown as Listener<K>)(...args);
    return true;
  }

  /** Runs `fn` as a named step, emitting start and done/fail with its duration. */
  async step<T>(id: string, title: string, fn: () => Promise<T>, extra: Pick<StepEvent, 'plugin' | 'hook'> = {}): Promise<T> {
    const t0 = performance.now();
    this.emit('step', { id, title, state: 'start', ...extra });
    try {
      const out = await fn();
      this.emit('step', { id, title, state: 'done', durationMs: performance.now() - t0, ...extra });
      return out;
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.emit('step', { id, title, state: 'fail', durationMs: performance.now() - t0, error, ...extra });
      throw e;
    }
  }
}

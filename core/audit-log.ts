// The bottle's audit file, bounded. Every decision of a door lands here, and
// the guest decides how many decisions there are: 40,000 pipelined refused
// requests once wrote 40,000 lines (7.6 MB) on the host, and the file is kept
// after the bottle ends. So the same decision repeated is written in full a
// few times, then counted: one `audit.repeated` record per thousand more, and
// the final counts when the log closes. A hard cap on the file's size stops
// what varies on every request (a new host name each time) too.
import { appendAudit } from './state.ts';

/** Identical decisions written in full before they are only counted. */
const FULL_REPEATS = 20;
/** One summary record per this many suppressed repeats. */
const SUMMARY_EVERY = 1000;
/** Past this many bytes only `bottle.end` is written, after one `audit.truncated`. */
const MAX_BYTES = 16 * 1024 * 1024;
/** Distinct decisions tracked; beyond, new ones are written in full (the byte cap still holds). */
const MAX_KEYS = 10_000;

/** The fields that make two records the same decision; time, path, method and the like are not among them. */
const KEY_FIELDS = ['type', 'plugin', 'host', 'remote', 'ref', 'kind', 'rule', 'reason', 'status'] as const;

/** `v` with `fn` applied to every string in it, keys included (depth-bounded: records are small and flat). */
function mapStrings(v: unknown, fn: (s: string) => string, depth = 0): unknown {
  if (typeof v === 'string') return fn(v);
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, fn, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [fn(k), mapStrings(x, fn, depth + 1)]));
}

interface Seen {
  count: number;
  /** Suppressed since the last summary. */
  pending: number;
  sample: Record<string, unknown>;
}

export class AuditLog {
  #dir: string;
  #bytes = 0;
  #truncated = false;
  #seen = new Map<string, Seen>();

  #redact: ((text: string) => string) | undefined;

  /** `redact` filters every string in every record (keys and values) before anything else looks at it. */
  constructor(stateDir: string, redact?: (text: string) => string) {
    this.#dir = stateDir;
    this.#redact = redact;
  }

  write(raw: Record<string, unknown>): void {
    const rec = this.#redact ? (mapStrings(raw, this.#redact) as Record<string, unknown>) : raw;
    if (rec.type === 'bottle.end') {
      this.#flushCounts();
      this.#append(rec, true);
      return;
    }
    const key = JSON.stringify(KEY_FIELDS.map((k) => rec[k]));
    let seen = this.#seen.get(key);
    if (!seen && this.#seen.size < MAX_KEYS) this.#seen.set(key, (seen = { count: 0, pending: 0, sample: rec }));
    if (!seen) return this.#append(rec);
    seen.count++;
    if (seen.count <= FULL_REPEATS) return this.#append(rec);
    seen.pending++;
    if (seen.pending >= SUMMARY_EVERY) this.#summary(seen);
  }

  /** Writes what is still only counted. */
  #flushCounts(): void {
    for (const seen of this.#seen.values()) if (seen.pending) this.#summary(seen);
  }

  #summary(seen: Seen): void {
    const s = seen.sample;
    const base = Object.fromEntries(KEY_FIELDS.filter((k) => s[k] !== undefined && k !== 'type').map((k) => [k, s[k]]));
    this.#append({ time: new Date().toISOString(), slug: s.slug, type: 'audit.repeated', of: s.type, ...base, repeated: seen.pending, total: seen.count });
    seen.pending = 0;
  }

  #append(rec: Record<string, unknown>, always = false): void {
    if (this.#truncated && !always) return;
    const size = Buffer.byteLength(JSON.stringify(rec)) + 1;
    if (!always && this.#bytes + size > MAX_BYTES) {
      this.#truncated = true;
      appendAudit(this.#dir, { time: new Date().toISOString(), slug: rec.slug, type: 'audit.truncated', reason: `the audit trail reached ${MAX_BYTES} bytes; later records were dropped` });
      return;
    }
    this.#bytes += size;
    appendAudit(this.#dir, rec);
  }
}

// Scanning a request body as it streams, in bounded memory. The body is
// scanned in windows: each window is the bytes held back from the last one
// (the overlap) plus the fresh bytes since. What leaves a window is only what
// lies more than `overlap` bytes before its end: a credential (with its
// decoding layers) is shorter than the overlap, so one that straddles a
// window's end starts inside the held-back part and is seen whole by the next
// window before any byte of it is forwarded. The bytes forwarded before a
// finding hold no secret; on a finding the caller aborts the request upstream.
// A compressed body (Content-Encoding) is decompressed as it comes, with a
// bound on the output, and its windows are scanned the same way; what is
// forwarded is the compressed bytes as sent, each chunk once the text it
// decompresses to (and the overlap after it) has been scanned.
import zlib from 'node:zlib';
import type { DlpFinding } from '../types.ts';
import { type BodyScan, decoderFor, redactAll } from './body.ts';

export interface WindowOptions {
  /** Fresh bytes that make a window be scanned. */
  window: number;
  /** Bytes before a window's end held back, and scanned again with the next window. */
  overlap: number;
  /**
   * Replace raw-layer findings in place by same-length markers (a route's
   * `dlp: 'redact'`) instead of stopping at them; a finding that cannot be
   * replaced (in a decoded layer) still stops the body.
   */
  redact?: boolean;
}

/** What a step of a scan gives back: bytes cleared to go (in order), or the finding that stops the body. */
export type WindowVerdict = { clean: Buffer[] } | { finding: DlpFinding };

/**
 * Where a window may end or begin without cutting a credential in two: a
 * byte that no token, base64, hex or URL-encoded run contains. A cut in the
 * middle of a run could make a truncated run look like a credential (a
 * false positive) or hide a prefix; windows are moved back to such a byte
 * when there is one within SEPARATOR_SLACK bytes.
 */
const TOKEN = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.%-') TOKEN[c.charCodeAt(0)] = 1;
const SEPARATOR_SLACK = 8 * 1024;

/** The last separator at or before `pos` (within the slack), or `pos` when there is none. */
function separatorAtOrBefore(buf: Buffer, pos: number): number {
  const stop = Math.max(0, pos - SEPARATOR_SLACK);
  for (let i = Math.min(pos, buf.length - 1); i >= stop; i--) if (!TOKEN[buf[i]!]) return i;
  return pos;
}

/**
 * The windowed scan of one body (its plain bytes). Synchronous; the bytes are
 * copied into one buffer of about window + overlap, allocated once and
 * reused (no garbage per window). What `push` and `end` clear are views of
 * that buffer: valid until the next call, so the caller sends them on (and
 * waits until they are written) before it pushes more.
 */
export class WindowScan {
  readonly #scan: BodyScan;
  readonly #window: number;
  readonly #overlap: number;
  readonly #redact: boolean;
  /** arena[start, len) holds the bytes not yet cleared: the held-back overlap, then what came since. */
  #arena: Buffer | undefined;
  #start = 0;
  #len = 0;
  /** Bytes at the end of what is held that no window has scanned yet. */
  #unscanned = 0;
  #found: DlpFinding | undefined;
  /** Bytes pushed so far. */
  total = 0;
  /** Bytes cleared so far (all of them before `cleared` are free of findings). */
  cleared = 0;
  /** The rules whose findings were replaced by markers, one entry per replacement. */
  readonly redacted: string[] = [];

  constructor(scan: BodyScan, opts: WindowOptions) {
    this.#scan = scan;
    this.#window = Math.max(1, opts.window);
    this.#overlap = Math.max(0, opts.overlap);
    this.#redact = opts.redact ?? false;
  }

  /** Bytes held now (not yet cleared). */
  get held(): number {
    return this.#len - this.#start;
  }

  /** The buffer's size: what this scan holds in memory, cleared bytes on their way out included. */
  get capacity(): number {
    return this.#arena?.length ?? 0;
  }

  /** Takes the next bytes of the body; scans a window once enough fresh bytes are in. */
  push(chunk: Buffer): WindowVerdict {
    if (this.#found) return { finding: this.#found };
    if (chunk.length === 0) return { clean: [] };
    this.#append(chunk);
    this.total += chunk.length;
    this.#unscanned += chunk.length;
    if (this.#unscanned < this.#window) return { clean: [] };
    return this.#step(false);
  }

  /** The body is complete: scans what is left, and clears everything held. */
  end(): WindowVerdict {
    if (this.#found) return { finding: this.#found };
    this.#compact();
    return this.#step(true);
  }

  /** Moves what is held to the front (what was cleared before has been sent by now). */
  #compact(): void {
    if (this.#start === 0 || !this.#arena) return;
    this.#arena.copyWithin(0, this.#start, this.#len);
    this.#len -= this.#start;
    this.#start = 0;
  }

  #append(chunk: Buffer): void {
    this.#compact();
    const need = this.#len + chunk.length;
    if (!this.#arena || need > this.#arena.length) {
      // Sized for a window past the overlap, the slack a window's edge may move back, and a socket read.
      const size = Math.max(need, this.#overlap + this.#window + 2 * SEPARATOR_SLACK + 64 * 1024);
      const grown = Buffer.allocUnsafe(size);
      this.#arena?.copy(grown, 0, 0, this.#len);
      this.#arena = grown;
    }
    chunk.copy(this.#arena, this.#len);
    this.#len = need;
  }

  #step(final: boolean): WindowVerdict {
    const len = this.#len;
    if (!this.#arena || len === 0) return { clean: [] };
    const buf = this.#arena.subarray(0, len);
    // A window that ends inside a run would see it cut short: it ends at the last separator instead.
    const end = final ? len : separatorAtOrBefore(buf, len - 1) + 1;
    if (this.#unscanned > len - end || final) {
      const view = buf.subarray(0, end);
      let finding = this.#unscanned > 0 ? this.#scan(view) : undefined;
      if (finding && this.#redact) finding = redactAll(view, finding, this.#scan, this.redacted);
      if (finding) {
        this.#found = finding;
        this.#arena = undefined;
        this.#len = 0;
        return { finding };
      }
      this.#unscanned = len - end;
    }
    // Everything more than `overlap` before the window's end is clear; the
    // held-back part begins at a separator, so the next window does not begin
    // inside a run either.
    const release = final ? len : Math.max(0, separatorAtOrBefore(buf, end - this.#overlap));
    if (release <= 0) return { clean: [] };
    this.#start = release;
    this.cleared += release;
    const out = buf.subarray(0, release);
    if (final) {
      // Nothing more comes: the buffer goes with the last view.
      this.#arena = undefined;
      this.#start = 0;
      this.#len = 0;
    }
    return { clean: [out] };
  }
}

/** How a streamed body's step ended: bytes to forward, or why it stops. */
export type FilterResult = { out: Buffer[] } | { refuse: 'oversize' } | { refuse: 'finding'; finding: DlpFinding };

/** A body on its way upstream: each chunk the guest sends goes in, what may leave comes out. */
export interface BodyFilter {
  write(chunk: Buffer): FilterResult | Promise<FilterResult>;
  end(): FilterResult | Promise<FilterResult>;
  /** Drops what is held (the body stops). Idempotent. */
  destroy(): void;
  /** Rules whose findings were replaced by markers, one entry per replacement. */
  readonly redacted: readonly string[];
}

export interface FilterLimits extends WindowOptions {
  /** Bytes of the body scanned. */
  maxBody: number;
  /** Past maxBody: `block` refuses the body, `pass` forwards the rest unscanned. */
  oversize: 'block' | 'pass';
}

/**
 * An identity-encoded body: scanned in windows up to maxBody; past it,
 * refused or passed unscanned as the policy says. What a call gives out is
 * valid until the next call (see WindowScan).
 */
export class PlainFilter implements BodyFilter {
  readonly #scan: WindowScan;
  readonly #limits: FilterLimits;
  /** Past maxBody with `pass`: the rest goes as it comes. */
  #passing = false;

  constructor(scan: BodyScan, limits: FilterLimits) {
    this.#scan = new WindowScan(scan, limits);
    this.#limits = limits;
  }

  get redacted(): readonly string[] {
    return this.#scan.redacted;
  }

  write(chunk: Buffer): FilterResult {
    if (this.#passing) return { out: [chunk] };
    const room = this.#limits.maxBody - this.#scan.total;
    if (chunk.length <= room) return result(this.#scan.push(chunk));
    if (this.#limits.oversize === 'block') {
      this.destroy();
      return { refuse: 'oversize' };
    }
    // The first maxBody bytes are scanned (the verdict on them is final), the rest is not.
    const first = result(this.#scan.push(chunk.subarray(0, room)));
    if (!('out' in first)) return first;
    // end() reuses the buffer those views are of.
    first.out = first.out.map((b) => Buffer.from(b));
    const last = result(this.#scan.end());
    if (!('out' in last)) return last;
    this.#passing = true;
    return { out: [...first.out, ...last.out, chunk.subarray(room)] };
  }

  end(): FilterResult {
    if (this.#passing) return { out: [] };
    return result(this.#scan.end());
  }

  destroy(): void {
    this.#passing = false;
  }
}

function result(v: WindowVerdict): FilterResult {
  return 'finding' in v ? { refuse: 'finding', finding: v.finding } : { out: v.clean };
}

/**
 * What a decoder may hold inside on top of its output: zlib's 32 KiB window
 * and buffers; brotli's ring buffer, up to 16 MiB for the largest window a
 * stream may ask for.
 */
export function decoderHold(encoding: string): number {
  return encoding === 'br' ? 16 * 1024 * 1024 + 256 * 1024 : 256 * 1024;
}

/**
 * Output a decoder may still owe for input it has taken (a symbol cut at a
 * chunk's end, bytes inside the decoder's window): a compressed chunk is
 * forwarded only once the scan has cleared this far past what it decoded to.
 */
export const DECODER_LAG = 64 * 1024;

/**
 * A compressed body: decompressed as it streams (output bounded by maxBody:
 * past it the body is unscannable and refused, as is one that does not
 * decode), scanned in windows, forwarded compressed. No redaction: a marker
 * cannot be written into compressed bytes.
 */
export class CompressedFilter implements BodyFilter {
  readonly redacted: readonly string[] = [];
  readonly #encoding: string;
  readonly #limits: FilterLimits;
  readonly #decoder: NonNullable<ReturnType<typeof decoderFor>>;
  readonly #scan: WindowScan;
  /** Compressed chunks not forwarded yet, each with how far its text goes in the decoded body. */
  #queue: { chunk: Buffer; mark: number }[] = [];
  #raw = 0;
  #decoded = 0;
  #stop: FilterResult | undefined;
  /** Settles the step under way when the decoder fails or closes. */
  #wake: (() => void) | undefined;
  #ended = false;

  constructor(encoding: string, scan: BodyScan, limits: FilterLimits) {
    const decoder = decoderFor(encoding);
    if (!decoder) throw new Error(`no decoder for ${encoding}`);
    this.#encoding = encoding;
    this.#limits = limits;
    this.#decoder = decoder;
    this.#scan = new WindowScan(scan, { window: limits.window, overlap: limits.overlap });
    decoder.on('data', (d: Buffer) => this.#onDecoded(d));
    decoder.on('error', () => this.#fail(this.#unscannable()));
    decoder.on('close', () => this.#wake?.());
    decoder.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
  }

  #unscannable(): FilterResult {
    return { refuse: 'finding', finding: { rule: 'unscannable-encoding', where: 'body', layer: this.#encoding } };
  }

  #fail(r: FilterResult): void {
    this.#stop ??= r;
    this.destroy();
    this.#wake?.();
  }

  #onDecoded(d: Buffer): void {
    if (this.#stop) return;
    this.#decoded += d.length;
    // A bomb is not expanded past the bound: what cannot be scanned whole does not leave.
    if (this.#decoded > this.#limits.maxBody) return this.#fail(this.#unscannable());
    const v = this.#scan.push(d);
    if ('finding' in v) this.#fail({ refuse: 'finding', finding: v.finding });
  }

  /** Runs `start` and resolves once its callback ran, or the decoder failed, ended or closed. */
  #step(start: (done: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        this.#wake = undefined;
        // Output pushed during the step may be delivered on a later tick: let it through first.
        setImmediate(resolve);
      };
      this.#wake = done;
      if (this.#stop || this.#decoder.destroyed) return done();
      start(done);
    });
  }

  /** Compressed chunks whose text the scan has cleared, with the overlap and the decoder's lag after it. */
  #ready(all: boolean): Buffer[] {
    const out: Buffer[] = [];
    while (this.#queue.length > 0 && (all || this.#queue[0]!.mark + DECODER_LAG <= this.#scan.cleared)) out.push(this.#queue.shift()!.chunk);
    return out;
  }

  async write(chunk: Buffer): Promise<FilterResult> {
    if (this.#stop) return this.#stop;
    this.#raw += chunk.length;
    if (this.#raw > this.#limits.maxBody) {
      // As with a buffered body: past the bound a compressed body is blocked, or (pass) not scannable.
      this.#fail(this.#limits.oversize === 'block' ? { refuse: 'oversize' } : this.#unscannable());
      return this.#stop!;
    }
    await this.#step((done) => this.#decoder.write(chunk, () => done()));
    if (this.#stop) return this.#stop;
    this.#queue.push({ chunk, mark: this.#decoded });
    return { out: this.#ready(false) };
  }

  async end(): Promise<FilterResult> {
    if (this.#stop) return this.#stop;
    await this.#step((done) => {
      if (this.#ended) return done();
      this.#decoder.end();
    });
    if (this.#stop) return this.#stop;
    // Bytes after the end of the compressed stream are ignored by the decoder
    // (deflate, brotli): never scanned, so they must not leave.
    if (!this.#ended || this.#decoder.bytesWritten !== this.#raw) {
      this.#fail(this.#unscannable());
      return this.#stop!;
    }
    const v = this.#scan.end();
    if ('finding' in v) {
      this.#fail({ refuse: 'finding', finding: v.finding });
      return this.#stop!;
    }
    return { out: this.#ready(true) };
  }

  destroy(): void {
    this.#queue = [];
    if (!this.#decoder.destroyed) this.#decoder.destroy();
  }
}

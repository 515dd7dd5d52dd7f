// Keeps an injected credential out of what the guest reads back: an upstream
// that echoes request headers (a debug endpoint, an error page) must not hand
// the guest the real token the proxy added, plain or encoded. Occurrences are
// overwritten with `*` (the separators inside them too), so Content-Length
// stays right.
//
// Echoes come encoded in ways an exact byte search misses: base64 wrapped at
// 64 or 76 columns (CRLF, LF, or a JSON `\n`), `/` written `\/` by JSON
// encoders, hex in any case, percent-encoding of some bytes only. So the
// search runs on a *skeleton* of the text: line breaks and their JSON escapes
// dropped, `\/` read as `/`, `%XX` and JSON `\u00XX` decoded; hex forms are
// matched without regard to case. A match in the skeleton masks the bytes of
// the text it came from.
import { Transform, type TransformCallback } from 'node:stream';

const STAR = 0x2a;

/** Encoded forms shorter than this are not masked (they would match ordinary text). */
const MIN_FORM = 12;

/** What to look for: each form as latin1 text; `fold` for hex forms (matched in lower case). */
export interface Secret {
  form: string;
  fold: boolean;
}

/**
 * The forms to mask for an injected header value: the value, the token
 * after a scheme word (`Bearer x` → `x`), and each of those as an upstream
 * could echo it encoded (encodedForms).
 */
export function secretsOf(value: string): Secret[] {
  const plain = [value];
  const space = value.indexOf(' ');
  if (space > 0 && value.length - space - 1 >= 8) plain.push(value.slice(space + 1));
  const out = new Map<string, Secret>();
  for (const p of plain) {
    out.set(p, { form: p, fold: false });
    for (const f of encodedForms(p)) if (f.form.length >= MIN_FORM) out.set(`${f.fold}:${f.form}`, f);
  }
  // Longest first: a longer form masked first leaves nothing of it for a shorter one to half-match.
  return [...out.values()].sort((a, b) => b.form.length - a.form.length);
}

/**
 * How `secret` reads when the text around it was base64 (standard or
 * url-safe) or hex. Base64 has no fixed boundaries: the secret can start at
 * any of three offsets within a 3-byte group, so each of the three cuts is
 * encoded, keeping only the whole groups (what the text before and after
 * cannot change). Up to two bytes at each end stay visible; the rest cannot
 * be read back. Percent-encoding needs no form: the skeleton decodes it.
 */
export function encodedForms(secret: string): Secret[] {
  const bytes = Buffer.from(secret, 'latin1');
  const forms: Secret[] = [{ form: bytes.toString('hex'), fold: true }];
  for (let offset = 0; offset < 3; offset++) {
    const whole = bytes.subarray(offset, offset + Math.floor((bytes.length - offset) / 3) * 3);
    forms.push({ form: whole.toString('base64'), fold: false }, { form: whole.toString('base64url'), fold: false });
  }
  return forms.filter((f, i) => f.form !== secret && forms.findIndex((g) => g.form === f.form) === i);
}

const HEX = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const hexVal = (c: number) => (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);

/** The skeleton of `buf` and, for each of its characters, where it starts in `buf` and how many bytes it takes. */
interface Skeleton {
  text: string;
  lower: string;
  start: Int32Array;
  width: Uint8Array;
  /** Bytes at the end of `buf` that could begin an escape or line break the next chunk completes. */
  pending: number;
}

/** Buffers a stream reuses from chunk to chunk (grown when a chunk is larger), so masking makes no garbage per chunk. */
interface Scratch {
  chars: Buffer;
  start: Int32Array;
  width: Uint8Array;
}

const scratchFor = (n: number, had?: Scratch): Scratch =>
  had && had.chars.length >= n ? had : { chars: Buffer.allocUnsafe(n), start: new Int32Array(n), width: new Uint8Array(n) };

function skeleton(buf: Buffer, scratch: Scratch = scratchFor(buf.length)): Skeleton {
  const n = buf.length;
  // Typed arrays, filled in one pass: a chunk costs a few array writes per byte, not a JS array each.
  const { chars, start, width } = scratch;
  let m = 0;
  let pending = 0;
  const put = (c: number, at: number, w: number) => {
    chars[m] = c;
    start[m] = at;
    width[m] = w;
    m++;
  };
  for (let i = 0; i < n; ) {
    const c = buf[i]!;
    if (c === 0x0d || c === 0x0a) {
      i++;
      continue;
    }
    if (c === 0x5c) {
      // a backslash escape: \n \r dropped, \/ is /, \u00XX decoded
      if (i + 1 >= n) {
        pending = n - i;
        break;
      }
      const d = buf[i + 1]!;
      if (d === 0x6e || d === 0x72) {
        i += 2;
        continue;
      }
      if (d === 0x2f) {
        put(0x2f, i, 2);
        i += 2;
        continue;
      }
      if (d === 0x75) {
        if (i + 6 > n) {
          pending = n - i;
          break;
        }
        if (buf[i + 2] === 0x30 && buf[i + 3] === 0x30 && HEX(buf[i + 4]!) && HEX(buf[i + 5]!)) {
          put((hexVal(buf[i + 4]!) << 4) | hexVal(buf[i + 5]!), i, 6);
          i += 6;
          continue;
        }
      }
    } else if (c === 0x25) {
      if (i + 3 > n) {
        pending = n - i;
        break;
      }
      if (HEX(buf[i + 1]!) && HEX(buf[i + 2]!)) {
        put((hexVal(buf[i + 1]!) << 4) | hexVal(buf[i + 2]!), i, 3);
        i += 3;
        continue;
      }
    }
    put(c, i, 1);
    i++;
  }
  const text = chars.toString('latin1', 0, m);
  return { text, lower: text.toLowerCase(), start, width, pending };
}

/** Overwrites every occurrence of each secret in `buf` (in its skeleton), in place. */
export function maskInPlace(buf: Buffer, secrets: readonly Secret[]): void {
  maskSkeleton(buf, skeleton(buf), secrets);
}

function maskSkeleton(buf: Buffer, sk: Skeleton, secrets: readonly Secret[]): void {
  for (const s of secrets) {
    const hay = s.fold ? sk.lower : sk.text;
    for (let at = hay.indexOf(s.form); at >= 0; at = hay.indexOf(s.form, at + s.form.length)) {
      const last = at + s.form.length - 1;
      buf.fill(STAR, sk.start[at]!, sk.start[last]! + sk.width[last]!);
    }
  }
}

/** The same string with every secret masked, or the string itself when there is none. */
export function maskString(text: string, secrets: readonly Secret[]): string {
  const buf = Buffer.from(text, 'latin1');
  maskInPlace(buf, secrets);
  const out = buf.toString('latin1');
  return out === text ? text : out;
}

/**
 * How many bytes at the end of `buf` must wait for the next chunk: an
 * unfinished escape, or the start of a secret the next chunk could complete.
 * Only those are held back, so a streamed response (server-sent events) is
 * not delayed by a whole secret's length per chunk.
 */
function heldBack(buf: Buffer, sk: Skeleton, secrets: readonly Secret[]): number {
  let from = buf.length - sk.pending;
  const m = sk.text.length;
  for (const s of secrets) {
    const hay = s.fold ? sk.lower : sk.text;
    for (let p = Math.max(0, m - s.form.length + 1); p < m; p++) {
      if (s.form.startsWith(hay.slice(p))) {
        from = Math.min(from, sk.start[p]!);
        break;
      }
    }
  }
  return buf.length - from;
}

/** A stream that masks the secrets, also across chunk boundaries. */
export class MaskStream extends Transform {
  readonly #secrets: readonly Secret[];
  #tail: Buffer | undefined;
  #scratch: Scratch | undefined;

  constructor(secrets: readonly Secret[]) {
    super();
    this.#secrets = secrets;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const buf = this.#tail ? Buffer.concat([this.#tail, chunk]) : chunk;
    this.#tail = undefined;
    this.#scratch = scratchFor(buf.length, this.#scratch);
    const sk = skeleton(buf, this.#scratch);
    maskSkeleton(buf, sk, this.#secrets);
    const hold = heldBack(buf, sk, this.#secrets);
    if (hold > 0) this.#tail = Buffer.from(buf.subarray(buf.length - hold));
    if (buf.length > hold) this.push(hold > 0 ? buf.subarray(0, buf.length - hold) : buf);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.#tail) {
      maskInPlace(this.#tail, this.#secrets);
      this.push(this.#tail);
    }
    this.#tail = undefined;
    cb();
  }
}

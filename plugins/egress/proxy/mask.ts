// Keeps an injected credential out of what the guest reads back: an upstream
// that echoes request headers (a debug endpoint, an error page) must not hand
// the guest the real token the proxy added. Occurrences are overwritten with
// `*` of the same length, so Content-Length stays right.
import { Transform, type TransformCallback } from 'node:stream';

const STAR = 0x2a;

/**
 * The byte strings to mask for an injected header value: the value, the
 * token after a scheme word (`Bearer x` → `x`), and each of those as an
 * upstream could echo it encoded (encodedForms).
 */
export function secretsOf(value: string): Buffer[] {
  const plain = [value];
  const space = value.indexOf(' ');
  if (space > 0 && value.length - space - 1 >= 8) plain.push(value.slice(space + 1));
  const out = new Map<string, Buffer>();
  for (const p of plain) for (const f of [p, ...encodedForms(p)]) if (f.length >= MIN_FORM) out.set(f, Buffer.from(f, 'latin1'));
  // Longest first: a longer form masked first leaves nothing of it for a shorter one to half-match.
  return [...out.values()].sort((a, b) => b.length - a.length);
}

/** Encoded forms shorter than this are not masked (they would match ordinary text). */
const MIN_FORM = 12;

/**
 * How `secret` reads when the text around it was base64 (standard or
 * url-safe), hex (either case) or percent-encoded. Base64 has no fixed
 * boundaries: the secret can start at any of three offsets within a 3-byte
 * group, so each of the three cuts is encoded, keeping only the whole groups
 * (what the text before and after cannot change). Up to two bytes at each end
 * stay visible; the rest cannot be read back.
 */
export function encodedForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'latin1');
  const forms = new Set<string>([bytes.toString('hex'), bytes.toString('hex').toUpperCase()]);
  for (let offset = 0; offset < 3; offset++) {
    const whole = bytes.subarray(offset, offset + Math.floor((bytes.length - offset) / 3) * 3);
    forms.add(whole.toString('base64'));
    forms.add(whole.toString('base64url'));
  }
  forms.add(encodeURIComponent(secret));
  const every = [...bytes].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  forms.add(every);
  forms.add(every.toUpperCase());
  forms.delete(secret);
  return [...forms];
}

/** Overwrites every occurrence of each secret in `buf`, in place. */
export function maskInPlace(buf: Buffer, secrets: readonly Buffer[]): void {
  for (const s of secrets) {
    for (let at = buf.indexOf(s); at >= 0; at = buf.indexOf(s, at + s.length)) buf.fill(STAR, at, at + s.length);
  }
}

/** The same string with every secret masked, or the string itself when there is none (no allocation). */
export function maskString(text: string, secrets: readonly Buffer[]): string {
  let out = text;
  for (const s of secrets) {
    const needle = s.toString('latin1');
    if (out.includes(needle)) out = out.split(needle).join('*'.repeat(needle.length));
  }
  return out;
}

/**
 * How many bytes at the end of `buf` could be the start of a secret that the
 * next chunk completes. Only those are held back, so a streamed response
 * (server-sent events) is not delayed by a whole secret's length per chunk.
 */
function heldBack(buf: Buffer, secrets: readonly Buffer[]): number {
  let hold = 0;
  for (const s of secrets) {
    const first = s[0];
    for (let p = Math.max(0, buf.length - s.length + 1); p < buf.length; p++) {
      if (buf[p] === first && buf.compare(s, 0, buf.length - p, p) === 0) {
        hold = Math.max(hold, buf.length - p);
        break;
      }
    }
  }
  return hold;
}

/** A stream that masks the secrets, also across chunk boundaries. */
export class MaskStream extends Transform {
  readonly #secrets: readonly Buffer[];
  #tail: Buffer | undefined;

  constructor(secrets: readonly Buffer[]) {
    super();
    this.#secrets = secrets;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const buf = this.#tail ? Buffer.concat([this.#tail, chunk]) : chunk;
    this.#tail = undefined;
    maskInPlace(buf, this.#secrets);
    const hold = heldBack(buf, this.#secrets);
    if (hold > 0) this.#tail = Buffer.from(buf.subarray(buf.length - hold));
    if (buf.length > hold) this.push(hold > 0 ? buf.subarray(0, buf.length - hold) : buf);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (this.#tail) this.push(this.#tail);
    this.#tail = undefined;
    cb();
  }
}

// Byte-level helpers of the scanner: finding runs of token characters;
// decoding base64, base32, hex, URL-encoded and backslash-escaped runs;
// finding UTF-16/32 text by its NUL pattern; recognising and inflating
// compressed streams by their magic bytes. All work on latin1 bytes (one byte
// per character), so a position in the bytes is a position in the text.
// Decoders write at `at` in `out` and return the new end, or -1 when the
// output is not worth a layer.
import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';

/** Character classes, by byte. */
export const B64 = 1; // A-Z a-z 0-9 + / _ -   (standard and url-safe base64; also every token alphabet)
export const HEX = 2; // 0-9 a-f A-F
export const URLSTOP = 4; // ends a URL-encoded run: controls, space, quotes, <>, `, \, and bytes >= 0x7f
export const EDGE = 8; // may continue a credential across a window edge: B64 plus . =
export const B32U = 16; // A-Z 2-7 (base32, RFC 4648)
export const B32L = 32; // a-z 2-7 (the same, lower case)
export const ESCSTOP = 64; // ends a backslash-escaped run: controls, quotes, and bytes >= 0x7f

export const CLS = new Uint8Array(256);
{
  const set = (chars: string, bit: number) => {
    for (const ch of chars) CLS[ch.charCodeAt(0)]! |= bit;
  };
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  set(alnum + '+/_-', B64 | EDGE);
  set('.=', EDGE);
  set('0123456789abcdefABCDEF', HEX);
  for (let c = 0; c <= 0x20; c++) CLS[c]! |= URLSTOP;
  for (let c = 0x7f; c < 256; c++) CLS[c]! |= URLSTOP;
  set('"\'<>`\\', URLSTOP);
  set('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', B32U);
  set('abcdefghijklmnopqrstuvwxyz234567', B32L);
  for (let c = 0; c < 0x20; c++) CLS[c]! |= ESCSTOP;
  for (let c = 0x7f; c < 256; c++) CLS[c]! |= ESCSTOP;
  set('"\'`', ESCSTOP);
}

/** Base64 digit values (standard and url-safe alphabets at once); -1 elsewhere. */
const B64VAL = new Int8Array(256).fill(-1);
{
  const std = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) B64VAL[std.charCodeAt(i)] = i;
  B64VAL['-'.charCodeAt(0)] = 62;
  B64VAL['_'.charCodeAt(0)] = 63;
}
const HEXVAL = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEXVAL['0123456789abcdef'.charCodeAt(i)] = i;
  HEXVAL['0123456789ABCDEF'.charCodeAt(i)] = i;
}
/** Base32 digit values, either case; -1 elsewhere. */
const B32VAL = new Int8Array(256).fill(-1);
for (let i = 0; i < 32; i++) {
  B32VAL['ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.charCodeAt(i)] = i;
  B32VAL['abcdefghijklmnopqrstuvwxyz234567'.charCodeAt(i)] = i;
}

/** Printable for our purpose: tab, LF, CR and 0x20..0x7e. */
export const PRINTABLE = new Uint8Array(256);
for (let c = 0x20; c < 0x7f; c++) PRINTABLE[c] = 1;
PRINTABLE[9] = PRINTABLE[10] = PRINTABLE[13] = 1;
/**
 * Bytes that count against a decoded text: all but the printable ones and
 * NUL (UTF-16 and UTF-32 text is half or three quarters NULs; see acceptable()).
 */
const BAD = new Uint8Array(256);
for (let c = 1; c < 256; c++) BAD[c] = 1 - PRINTABLE[c]!;

/** Shortest base64 run that is decoded, shortest hex run, shortest base32 run (16 bytes). */
export const MIN_B64_RUN = 16;
export const MIN_HEX_RUN = 32;
export const MIN_B32_RUN = 24;

/**
 * Calls `fn(start, end)` for every maximal run of B64-class bytes of length
 * >= `min` in `b`, in order. Samples one byte in `min` and expands around the
 * samples that fall in a run, so text without long runs costs ~1/min of a
 * byte-by-byte loop. `fn` returning true stops the walk.
 */
export function forEachRun(b: Uint8Array, min: number, fn: (start: number, end: number) => boolean | void): void {
  const n = b.length;
  let i = min - 1;
  while (i < n) {
    if ((CLS[b[i]!]! & B64) === 0) {
      i += min;
      continue;
    }
    let s = i;
    while (s > 0 && (CLS[b[s - 1]!]! & B64) !== 0) s--;
    let e = i + 1;
    while (e < n && (CLS[b[e]!]! & B64) !== 0) e++;
    if (e - s >= min && fn(s, e) === true) return;
    i = e + min;
  }
}

/**
 * Is a decoded text out[at..at+n) worth a layer: at most 4 + 1/8 of its
 * bytes neither printable nor NUL (`bad`), and at least 12 printable ones.
 * NULs are let through for UTF-16/32 text (the layer below reads it).
 */
function acceptable(out: Uint8Array, at: number, n: number, bad: number): boolean {
  if (n - bad < 12 || bad > 4 + (n >> 3)) return false;
  let good = n - bad;
  for (let i = at; i < at + n && good >= 12; i++) if (out[i] === 0) good--;
  return good >= 12;
}

// --- compressed streams ------------------------------------------------------

/** Compression formats recognised by their first bytes. */
export const GZIP = 1;
export const ZLIB = 2;
export const ZSTD = 3;
export const ZIP = 4;
export const COMPRESSION_NAMES = ['', 'gzip', 'zlib', 'zstd', 'zip'] as const;
export const HAS_ZSTD = typeof zlib.zstdDecompressSync === 'function';

/** The first bytes a gzip member and a zstd frame start with (looked for anywhere), and a zip entry's. */
export const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
export const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
export const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/**
 * The compression format whose header starts at b[p], or 0. A zlib header
 * is two bytes (deflate with a 32 KiB window, its check bits right, no preset
 * dictionary): it is only looked for where a layer or a decoded run starts.
 */
export function magicAt(b: Uint8Array, p: number, end = b.length): number {
  if (end - p < 4) return 0;
  const x = b[p]!;
  const y = b[p + 1]!;
  if (x === 0x1f) return y === 0x8b && b[p + 2] === 0x08 && (b[p + 3]! & 0xe0) === 0 ? GZIP : 0;
  if (x === 0x78) return (0x7800 | y) % 31 === 0 && (y & 0x20) === 0 ? ZLIB : 0;
  if (x === 0x28) return HAS_ZSTD && y === 0xb5 && b[p + 2] === 0x2f && b[p + 3] === 0xfd ? ZSTD : 0;
  if (x === 0x50) return end - p >= 10 && y === 0x4b && b[p + 2] === 0x03 && b[p + 3] === 0x04 && b[p + 8] === 8 && b[p + 9] === 0 ? ZIP : 0;
  return 0;
}

/** Where the data to decompress of a stream at `p` starts (past a gzip or zip header), or -1. */
function deflateStart(b: Uint8Array, p: number, kind: number): number {
  if (kind === ZSTD) return p; // the frame itself
  if (kind === ZLIB) return p + 2;
  if (kind === ZIP) {
    if (p + 30 > b.length) return -1;
    return p + 30 + (b[p + 26]! | (b[p + 27]! << 8)) + (b[p + 28]! | (b[p + 29]! << 8));
  }
  const flg = b[p + 3]!;
  let o = p + 10;
  if (flg & 4) o += 2 + (b[o]! | (b[o + 1]! << 8)); // FEXTRA
  for (const bit of [8, 16]) {
    // FNAME, FCOMMENT: NUL-terminated
    if (!(flg & bit)) continue;
    while (o < b.length && b[o] !== 0) o++;
    o++;
  }
  if (flg & 2) o += 2; // FHCRC
  return o;
}

export type Inflated = { out: Buffer; used: number } | 'too-large' | undefined;

/** Decompresses `data` as `kind` with at most `max` bytes out; throws as zlib does. */
function inflateRaw(data: Buffer, kind: number, max: number): { buffer: Buffer; engine: { bytesWritten: number } } {
  // Output grows by chunks: small ones for small inputs (most tries are of a few hundred bytes).
  const chunkSize = Math.min(65_536, Math.max(1024, data.length * 4));
  const finishFlush = kind === ZSTD ? zlib.constants.ZSTD_e_flush : zlib.constants.Z_SYNC_FLUSH;
  const opts = { finishFlush, chunkSize, maxOutputLength: max, info: true } as const;
  return (kind === ZSTD ? zlib.zstdDecompressSync(data, opts) : zlib.inflateRawSync(data, opts)) as never;
}

const tooLarge = (e: unknown) => (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';

/** What decompression cost so far in a scan: bytes out (retries included), and streams that broke. */
export interface InflateWork {
  bytes: number;
  broken: number;
}

/** The first bytes of a stream tried alone: junk that merely starts like a header breaks within them. */
const PROBE = 256;

/**
 * Decompresses the stream of `kind` that starts at b[p], with at most `max`
 * bytes out: its output and how far it went in `b`; 'too-large' when it
 * would decompress to more than `max` (a bomb, or just too much to read);
 * undefined when nothing comes out. Trailing bytes after the stream are left
 * alone; a stream that is cut short or corrupt yields what its longest
 * readable prefix decompresses to (a receiver would read that much too),
 * found by a binary search after probes of growing length (256 bytes, then
 * 16 times more each time), so junk that merely starts like a header costs
 * a few tries of a few hundred bytes.
 */
export function inflateAt(b: Uint8Array, p: number, kind: number, max: number, work: InflateWork): Inflated {
  if (max <= 0) return 'too-large';
  const start = deflateStart(b, p, kind);
  if (start < 0 || start >= b.length) return undefined;
  const data = Buffer.from(b.buffer, b.byteOffset + start, b.length - start);
  const done = (r: { buffer: Buffer; engine: { bytesWritten: number } }): Inflated =>
    r.buffer.length ? { out: r.buffer, used: start - p + r.engine.bytesWritten } : undefined;
  /** The output of data[0..len), or null if it breaks there; throws when over `max`. */
  const attempt = (len: number) => {
    try {
      const r = inflateRaw(len === data.length ? data : data.subarray(0, len), kind, max);
      work.bytes += r.buffer.length;
      return r;
    } catch (e) {
      if (tooLarge(e)) throw e;
      return null;
    }
  };
  try {
    let good = 0;
    let best: Buffer | undefined;
    let bad = -1;
    for (let len = Math.min(PROBE, data.length); ; len = Math.min(len * 16, data.length)) {
      const r = attempt(len);
      if (!r) {
        bad = len;
        break;
      }
      // The whole of `b`, or a stream that ended inside the probe (the rest is not its).
      if (len === data.length || r.engine.bytesWritten < len) return done(r);
      good = len;
      best = r.buffer;
    }
    work.broken++;
    for (let i = 0; i < 24 && bad - good > 1; i++) {
      const mid = (good + bad) >>> 1;
      const r = attempt(mid);
      if (r) {
        good = mid;
        best = r.buffer;
      } else bad = mid;
    }
    return best?.length ? { out: best, used: start - p + good } : undefined;
  } catch (e) {
    if (tooLarge(e)) return 'too-large';
    throw e;
  }
}

// --- base64, hex, base32 -------------------------------------------------------

/** The decoders' count of bad bytes in their last output (see acceptable()). */
let lastBad = 0;

/** Decodes base64 b[i..e) into `out` from `n`; the end, or -1 once more than `limit` bytes are bad. */
function base64Into(b: Uint8Array, i: number, e: number, out: Uint8Array, n: number, limit: number): number {
  let bad = 0;
  for (; i + 4 <= e; i += 4) {
    const v = (B64VAL[b[i]!]! << 18) | (B64VAL[b[i + 1]!]! << 12) | (B64VAL[b[i + 2]!]! << 6) | B64VAL[b[i + 3]!]!;
    const x = (v >> 16) & 0xff;
    const y = (v >> 8) & 0xff;
    const z = v & 0xff;
    out[n] = x;
    out[n + 1] = y;
    out[n + 2] = z;
    n += 3;
    bad += BAD[x]! + BAD[y]! + BAD[z]!;
    if (bad > limit) return -1;
  }
  const rest = e - i;
  if (rest >= 2) {
    const v = (B64VAL[b[i]!]! << 18) | (B64VAL[b[i + 1]!]! << 12) | (rest > 2 ? B64VAL[b[i + 2]!]! << 6 : 0);
    out[n++] = (v >> 16) & 0xff;
    bad += BAD[out[n - 1]!]!;
    if (rest > 2) {
      out[n++] = (v >> 8) & 0xff;
      bad += BAD[out[n - 1]!]!;
    }
  }
  lastBad = bad;
  return n;
}

/** Decodes hex b[i..e) into `out` from `n`; the end, or -1 once more than `limit` bytes are bad. */
function hexInto(b: Uint8Array, i: number, e: number, out: Uint8Array, n: number, limit: number): number {
  let bad = 0;
  for (; i + 2 <= e; i += 2) {
    const x = (HEXVAL[b[i]!]! << 4) | HEXVAL[b[i + 1]!]!;
    out[n++] = x;
    bad += BAD[x]!;
    if (bad > limit) return -1;
  }
  lastBad = bad;
  return n;
}

/** Decodes base32 b[i..e) into `out` from `n`; the end, or -1 once more than `limit` bytes are bad. */
function base32Into(b: Uint8Array, i: number, e: number, out: Uint8Array, n: number, limit: number): number {
  let bad = 0;
  let acc = 0;
  let bits = 0;
  for (; i < e; i++) {
    acc = ((acc << 5) | B32VAL[b[i]!]!) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      const x = (acc >> bits) & 0xff;
      out[n++] = x;
      bad += BAD[x]!;
      if (bad > limit) return -1;
    }
  }
  lastBad = bad;
  return n;
}

type Into = (b: Uint8Array, i: number, e: number, out: Uint8Array, n: number, limit: number) => number;

/**
 * The end of the decoding of b[s..e) into `out` at `at` if it is worth a
 * layer: mostly printable text, or the start of a compressed stream (binary,
 * kept whole: the layer below inflates it; `first` filters the runs whose
 * first character can start one). `n`: the end of the first try (-1 if it
 * bailed out on junk). Else -1.
 */
function decodeIf(into: Into, b: Uint8Array, s: number, e: number, out: Uint8Array, at: number, n: number, first: Uint8Array): number {
  if (n >= 0 && acceptable(out, at, n - at, lastBad)) return n;
  if ((first[b[s]!]! & 1) === 0 || (first[b[s + 1]!]! & 2) === 0) return -1;
  const head = into(b, s, Math.min(e, s + 32), out, at, 32);
  return head >= 0 && magicAt(out, at, head) !== 0 ? into(b, s, e, out, at, Infinity) : -1;
}

/**
 * The characters the first two of a run can be when it encodes a compressed
 * stream (gzip 1f 8b, zlib 78 01/5e/9c/da, zstd 28 b5, zip 50 4b): bit 1 for
 * the first, bit 2 for the second (a cheap filter; magicAt() decides).
 */
const B64_FIRST = new Uint8Array(256);
const HEX_FIRST = new Uint8Array(256);
const B32_FIRST = new Uint8Array(256);
{
  const mark = (t: Uint8Array, two: string) => {
    t[two.charCodeAt(0)]! |= 1;
    t[two.charCodeAt(1)]! |= 2;
  };
  const b32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  for (const [x, y] of [[0x1f, 0x8b], [0x78, 0x01], [0x78, 0x5e], [0x78, 0x9c], [0x78, 0xda], [0x28, 0xb5], [0x50, 0x4b]] as const) {
    const pair = Buffer.from([x, y, 0]);
    mark(B64_FIRST, pair.toString('base64'));
    mark(B64_FIRST, pair.toString('base64url'));
    mark(HEX_FIRST, pair.toString('hex'));
    mark(HEX_FIRST, pair.toString('hex').toUpperCase());
    const two = b32[x >> 3]! + b32[((x & 7) << 2) | (y >> 6)]!;
    mark(B32_FIRST, two);
    mark(B32_FIRST, two.toLowerCase());
  }
}

/**
 * Decodes the base64 run b[s..e) (either alphabet, no padding inside) into
 * `out` at `at`, trying the four alignments (a run can carry a few foreign
 * characters in front, `path/` for one). Returns the end of the first
 * alignment's output worth a layer (see decodeIf), or -1. Bails out early on junk.
 */
export function decodeBase64Run(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  for (let a = 0; a < 4 && e - s - a >= MIN_B64_RUN; a++) {
    const n = decodeIf(base64Into, b, s + a, e, out, at, base64Into(b, s + a, e, out, at, 4 + (((e - s - a) * 3) >> 5)), B64_FIRST);
    if (n >= 0) return n;
  }
  return -1;
}

/**
 * Calls `fn(start, end)` for each run of >= `min` bytes of class `bit`
 * inside b[s..e), sampling one byte in `min` as forEachRun does.
 */
export function forEachClassRun(b: Uint8Array, s: number, e: number, bit: number, min: number, fn: (start: number, end: number) => void): void {
  let i = s + min - 1;
  while (i < e) {
    if ((CLS[b[i]!]! & bit) === 0) {
      i += min;
      continue;
    }
    let rs = i;
    while (rs > s && (CLS[b[rs - 1]!]! & bit) !== 0) rs--;
    let re = i + 1;
    while (re < e && (CLS[b[re]!]! & bit) !== 0) re++;
    if (re - rs >= min) fn(rs, re);
    i = re + min;
  }
}

/**
 * Calls `fn(start, end)` for each run of >= MIN_B32_RUN base32 characters of
 * one case inside b[s..e): forEachClassRun for both cases in one pass.
 */
export function forEachBase32Run(b: Uint8Array, s: number, e: number, fn: (start: number, end: number) => void): void {
  const min = MIN_B32_RUN;
  // Where the run of each case found last ends (a sample inside it is not expanded again).
  let endU = s;
  let endL = s;
  let i = s + min - 1;
  while (i < e) {
    const c = CLS[b[i]!]!;
    if ((c & (B32U | B32L)) === 0) {
      i += min;
      continue;
    }
    if ((c & B32U) !== 0 && i >= endU) endU = expandRun(b, s, e, i, B32U, fn);
    if ((c & B32L) !== 0 && i >= endL) endL = expandRun(b, s, e, i, B32L, fn);
    // The next sample that can fall in a run not yet seen, of either case.
    i = Math.min((c & B32U) !== 0 ? endU : i, (c & B32L) !== 0 ? endL : i) + min;
  }
}

/** The run of class `bit` around b[i] within b[s..e): reported to `fn` if long enough; returns its end. */
function expandRun(b: Uint8Array, s: number, e: number, i: number, bit: number, fn: (start: number, end: number) => void): number {
  let rs = i;
  while (rs > s && (CLS[b[rs - 1]!]! & bit) !== 0) rs--;
  let re = i + 1;
  while (re < e && (CLS[b[re]!]! & bit) !== 0) re++;
  if (re - rs >= MIN_B32_RUN) fn(rs, re);
  return re;
}

/** Decodes the hex run b[s..e) into `out` at `at`, at either alignment; the end if worth a layer, else -1. */
export function decodeHexRun(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  const limit = 4 + ((e - s) >> 4);
  const n = decodeIf(hexInto, b, s, e, out, at, hexInto(b, s, e, out, at, limit), HEX_FIRST);
  return n >= 0 ? n : decodeIf(hexInto, b, s + 1, e, out, at, hexInto(b, s + 1, e, out, at, limit), HEX_FIRST);
}

/** Decodes the base32 run b[s..e) (one case, no padding) into `out` at `at`; the end if worth a layer, else -1. */
export function decodeBase32Run(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  return decodeIf(base32Into, b, s, e, out, at, base32Into(b, s, e, out, at, 4 + (((e - s) * 5) >> 6)), B32_FIRST);
}

// --- URL-encoding and backslash escapes ----------------------------------------

/** The run of bytes without `stop` class around position `p`; the start goes back at most `back` bytes. */
export function runAround(b: Uint8Array, p: number, stop: number, back = Infinity): [number, number] {
  let s = p;
  const min = Math.max(0, p - back);
  while (s > min && (CLS[b[s - 1]!]! & stop) === 0) s--;
  let e = p + 1;
  while (e < b.length && (CLS[b[e]!]! & stop) === 0) e++;
  return [s, e];
}

/** The URL-encoded run around a `%XX` at `p`: from the previous URLSTOP byte to the next. */
export const urlRunAround = (b: Uint8Array, p: number): [number, number] => runAround(b, p, URLSTOP);

/** Percent-decodes b[s..e) into `out` at `at` (`+` is a space); returns the end. */
export function decodeUrl(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 0x25 && i + 2 < e && HEXVAL[b[i + 1]!]! >= 0 && HEXVAL[b[i + 2]!]! >= 0) {
      out[n++] = (HEXVAL[b[i + 1]!]! << 4) | HEXVAL[b[i + 2]!]!;
      i += 2;
    } else out[n++] = c === 0x2b ? 0x20 : c;
  }
  return n;
}

/** Is there a `\uXXXX` or `\xXX` at `p`: an escape that hides a character (JSON, JavaScript, Python strings). */
export function hidingEscapeAt(b: Uint8Array, p: number): boolean {
  const hex = (i: number) => i < b.length && HEXVAL[b[i]!]! >= 0;
  return b[p + 1] === 0x75 ? hex(p + 2) && hex(p + 3) && hex(p + 4) && hex(p + 5) : hex(p + 2) && hex(p + 3);
}

/**
 * The backslash-escaped run around an escape at `p`: back (at most 256
 * bytes) and on to the nearest quote or control character, an escaped
 * quote (`\"`) not counting.
 */
export function escapeRunAround(b: Uint8Array, p: number): [number, number] {
  const [s] = runAround(b, p, ESCSTOP, 256);
  let e = p;
  while (e < b.length && (CLS[b[e]!]! & ESCSTOP) === 0) e += b[e] === BACKSLASH ? 2 : 1;
  return [s, Math.min(e, b.length)];
}

const ESCAPED: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x66: 0x0c, 0x76: 0x0b, 0x30: 0x00 };

/**
 * Undoes backslash escapes in b[s..e) into `out` at `at`: `\uXXXX` (a code
 * unit above 0xff becomes `?`), `\xXX`, `\n` and the like, and `\c` for any
 * other c. Returns the end.
 */
export function decodeEscapes(b: Uint8Array, s: number, e: number, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c !== BACKSLASH || i + 1 >= e) {
      out[n++] = c;
      continue;
    }
    const d = b[++i]!;
    if (d === 0x75 && i + 4 < e && HEXVAL[b[i + 1]!]! >= 0 && HEXVAL[b[i + 2]!]! >= 0 && HEXVAL[b[i + 3]!]! >= 0 && HEXVAL[b[i + 4]!]! >= 0) {
      const hi = (HEXVAL[b[i + 1]!]! << 4) | HEXVAL[b[i + 2]!]!;
      out[n++] = hi === 0 ? (HEXVAL[b[i + 3]!]! << 4) | HEXVAL[b[i + 4]!]! : 0x3f;
      i += 4;
    } else if (d === 0x78 && i + 2 < e && HEXVAL[b[i + 1]!]! >= 0 && HEXVAL[b[i + 2]!]! >= 0) {
      out[n++] = (HEXVAL[b[i + 1]!]! << 4) | HEXVAL[b[i + 2]!]!;
      i += 2;
    } else out[n++] = ESCAPED[d] ?? d;
  }
  return n;
}

// --- UTF-16 and UTF-32 ---------------------------------------------------------

/** Shortest run of wide characters read as text (a credential is longer). */
export const MIN_WIDE_CHARS = 16;

/** Where a run of `stride`-byte units from `s` ends: each a printable ASCII byte at `off`, NULs elsewhere. */
function wideEnd(b: Uint8Array, s: number, stride: number, off: number): number {
  let i = s;
  for (; i + stride <= b.length; i += stride) {
    if (!PRINTABLE[b[i + off]!]) break;
    let zero = true;
    for (let k = 0; k < stride; k++) if (k !== off && b[i + k] !== 0) zero = false;
    if (!zero) break;
  }
  return i;
}

/**
 * Calls `fn(start, end, stride, off)` for each run of >= MIN_WIDE_CHARS
 * characters of UTF-16 (LE or BE, stride 2) or UTF-32 (stride 4) text in
 * `b` whose characters are printable ASCII (`off`: where the character's byte
 * is in each unit), BOM or not: found from the NULs, so text without NULs
 * costs one search.
 */
export function forEachWideRun(b: Buffer, fn: (start: number, end: number, stride: number, off: number) => void): void {
  let p = b.indexOf(0);
  while (p !== -1) {
    let next = p + 1;
    // The first NUL of a unit: after the character (LE), or before it (BE).
    for (const [stride, off, s] of WIDE_TRIES) {
      const start = p + s;
      if (start < 0) continue;
      const e = wideEnd(b, start, stride, off);
      if (e - start >= MIN_WIDE_CHARS * stride) {
        fn(start, e, stride, off);
        next = e;
        break;
      }
    }
    p = next < b.length ? b.indexOf(0, next) : -1;
  }
}
/** [stride, offset of the character, start relative to the first NUL]: UTF-32 first (it is also UTF-16-shaped at its edges). */
const WIDE_TRIES: readonly (readonly [number, number, number])[] = [
  [4, 0, -1],
  [4, 3, 0],
  [2, 0, -1],
  [2, 1, 0],
];

/** Copies the characters of a wide run into `out` at `at`; returns the end. */
export function narrow(b: Uint8Array, s: number, e: number, stride: number, off: number, out: Uint8Array, at: number): number {
  let n = at;
  for (let i = s + off; i < e; i += stride) out[n++] = b[i]!;
  return n;
}

// --- line-wrapped base64 -------------------------------------------------------

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const LOWER_N = 0x6e;
const LOWER_R = 0x72;

/**
 * Where the next line of line-wrapped base64 starts after a line ending at
 * `end`: past LF, CRLF, or their escapes in a JSON or JS string (`\n`,
 * `\r\n`); -1 if no line break is there.
 */
export function lineStartAfter(b: Uint8Array, end: number): number {
  const c = b[end];
  if (c === LF) return end + 1;
  if (c === CR) return b[end + 1] === LF ? end + 2 : -1;
  if (c !== BACKSLASH) return -1;
  if (b[end + 1] === LOWER_N) return end + 2;
  if (b[end + 1] === LOWER_R && b[end + 2] === BACKSLASH && b[end + 3] === LOWER_N) return end + 4;
  return -1;
}

/** The end of a last short line (< MIN_B64_RUN, which runs do not report) after a line ending at `end`, or `end`. */
export function shortLineAfter(b: Uint8Array, end: number): number {
  const s = lineStartAfter(b, end);
  if (s === -1) return end;
  let e = s;
  while (e < b.length && e - s < MIN_B64_RUN && (CLS[b[e]!]! & B64) !== 0) e++;
  return e > s && (e === b.length || (CLS[b[e]!]! & B64) === 0) ? e : end;
}

/**
 * Decodes line-wrapped base64 in b[s..e) (lines of `base64` CLI output,
 * MIME, or the same inside a JSON string) into `out` at `at`: the line breaks
 * are dropped, then as decodeBase64Run. `tmp` must hold e - s bytes.
 */
export function decodeWrappedBase64(b: Uint8Array, s: number, e: number, tmp: Uint8Array, out: Uint8Array, at: number): number {
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === BACKSLASH) i++; // an escaped line break: `\n` or `\r`
    else if ((CLS[c]! & B64) !== 0) tmp[n++] = c;
  }
  return decodeBase64Run(tmp, 0, n, out, at);
}

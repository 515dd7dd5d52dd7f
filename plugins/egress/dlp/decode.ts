// Byte-level helpers of the scanner: finding runs of token characters, and
// decoding base64, hex and URL-encoded layers. All work on latin1 bytes (one
// byte per character), so a position in the bytes is a position in the text.

/** Character classes, by byte. */
export const B64 = 1; // A-Z a-z 0-9 + / _ -   (standard and url-safe base64; also every token alphabet)
export const HEX = 2; // 0-9 a-f A-F
export const URLSTOP = 4; // ends a URL-encoded run: controls, space, quotes, <>, `, \, and bytes >= 0x7f
export const EDGE = 8; // may continue a credential across a window edge: B64 plus . =

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

/** Printable for our purpose: tab, LF, CR and 0x20..0x7e. */
const PRINTABLE = new Uint8Array(256);
for (let c = 0x20; c < 0x7f; c++) PRINTABLE[c] = 1;
PRINTABLE[9] = PRINTABLE[10] = PRINTABLE[13] = 1;

/** Shortest base64 run that is decoded, and shortest hex run. */
export const MIN_B64_RUN = 16;
export const MIN_HEX_RUN = 32;

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

/** Is a decoded text "mostly printable": at least 12 printable bytes, at most 4 + 1/8 others. */
function acceptable(bad: number, n: number): boolean {
  return n - bad >= 12 && bad <= 4 + (n >> 3);
}

/**
 * Decodes the base64 run b[s..e) (either alphabet, no padding inside) into
 * `out`, trying the four alignments (a run can carry a few foreign characters
 * in front, `path/` for one). Returns the decoded length of the first
 * alignment whose output is mostly printable, or -1. Bails out early on junk.
 */
export function decodeBase64Run(b: Uint8Array, s: number, e: number, out: Uint8Array): number {
  for (let a = 0; a < 4; a++) {
    const start = s + a;
    const len = e - start;
    if (len < MIN_B64_RUN) return -1;
    const total = Math.floor((len * 3) / 4);
    const limit = 4 + (total >> 3);
    let n = 0;
    let bad = 0;
    let i = start;
    for (; i + 4 <= e; i += 4) {
      const v = (B64VAL[b[i]!]! << 18) | (B64VAL[b[i + 1]!]! << 12) | (B64VAL[b[i + 2]!]! << 6) | B64VAL[b[i + 3]!]!;
      const x = (v >> 16) & 0xff;
      const y = (v >> 8) & 0xff;
      const z = v & 0xff;
      out[n] = x;
      out[n + 1] = y;
      out[n + 2] = z;
      n += 3;
      bad += 3 - PRINTABLE[x]! - PRINTABLE[y]! - PRINTABLE[z]!;
      if (bad > limit) break;
    }
    if (bad > limit) continue;
    const rest = e - i;
    if (rest >= 2) {
      const v = (B64VAL[b[i]!]! << 18) | (B64VAL[b[i + 1]!]! << 12) | (rest > 2 ? B64VAL[b[i + 2]!]! << 6 : 0);
      out[n++] = (v >> 16) & 0xff;
      bad += 1 - PRINTABLE[out[n - 1]!]!;
      if (rest > 2) {
        out[n++] = (v >> 8) & 0xff;
        bad += 1 - PRINTABLE[out[n - 1]!]!;
      }
    }
    if (acceptable(bad, n)) return n;
  }
  return -1;
}

/**
 * Calls `fn(start, end)` for each run of >= MIN_HEX_RUN hex digits inside
 * b[s..e) (a B64 run).
 */
export function forEachHexRun(b: Uint8Array, s: number, e: number, fn: (start: number, end: number) => boolean | void): boolean {
  let h = s;
  for (let i = s; i <= e; i++) {
    if (i < e && (CLS[b[i]!]! & HEX) !== 0) continue;
    if (i - h >= MIN_HEX_RUN && fn(h, i) === true) return true;
    h = i + 1;
  }
  return false;
}

/** Decodes the hex run b[s..e) into `out` at either alignment; the decoded length if mostly printable, else -1. */
export function decodeHexRun(b: Uint8Array, s: number, e: number, out: Uint8Array): number {
  for (let a = 0; a < 2; a++) {
    let n = 0;
    let bad = 0;
    const limit = 4 + ((e - s) >> 4);
    for (let i = s + a; i + 2 <= e; i += 2) {
      const x = (HEXVAL[b[i]!]! << 4) | HEXVAL[b[i + 1]!]!;
      out[n++] = x;
      bad += 1 - PRINTABLE[x]!;
      if (bad > limit) break;
    }
    if (bad <= limit && acceptable(bad, n)) return n;
  }
  return -1;
}

/** The URL-encoded run around a `%XX` at `p`: from the previous URLSTOP byte to the next. */
export function urlRunAround(b: Uint8Array, p: number): [number, number] {
  let s = p;
  while (s > 0 && (CLS[b[s - 1]!]! & URLSTOP) === 0) s--;
  let e = p + 1;
  while (e < b.length && (CLS[b[e]!]! & URLSTOP) === 0) e++;
  return [s, e];
}

/** Percent-decodes b[s..e) into `out` (`+` is a space); returns the length. */
export function decodeUrl(b: Uint8Array, s: number, e: number, out: Uint8Array): number {
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === 0x25 && i + 2 < e && HEXVAL[b[i + 1]!]! >= 0 && HEXVAL[b[i + 2]!]! >= 0) {
      out[n++] = (HEXVAL[b[i + 1]!]! << 4) | HEXVAL[b[i + 2]!]!;
      i += 2;
    } else out[n++] = c === 0x2b ? 0x20 : c;
  }
  return n;
}

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
 * MIME, or the same inside a JSON string): the line breaks are dropped, then
 * as decodeBase64Run. `tmp` must hold e - s bytes.
 */
export function decodeWrappedBase64(b: Uint8Array, s: number, e: number, tmp: Uint8Array, out: Uint8Array): number {
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = b[i]!;
    if (c === BACKSLASH) i++; // an escaped line break: `\n` or `\r`
    else if ((CLS[c]! & B64) !== 0) tmp[n++] = c;
  }
  return decodeBase64Run(tmp, 0, n, out);
}

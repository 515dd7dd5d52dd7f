// The scanning engine: prefilter, windows, decoding layers. See index.ts for the why.
import { Buffer } from 'node:buffer';
import type { DlpFinding, DlpWhere } from './types.ts';
import {
  CLS,
  COMPRESSION_NAMES,
  EDGE,
  GZIP_MAGIC,
  HEX,
  hidingEscapeAt,
  forEachBase32Run,
  MIN_B32_RUN,
  MIN_B64_RUN,
  MIN_HEX_RUN,
  ZIP_MAGIC,
  ZLIB,
  ZSTD_MAGIC,
  decodeBase32Run,
  decodeBase64Run,
  decodeEscapes,
  decodeHexRun,
  decodeUrl,
  decodeWrappedBase64,
  escapeRunAround,
  forEachClassRun,
  forEachRun,
  forEachWideRun,
  inflateAt,
  lineStartAfter,
  magicAt,
  narrow,
  shortLineAfter,
  urlRunAround,
} from './decode.ts';
import type { InflateWork } from './decode.ts';
import { ANCHOR_NEEDS, RULES, type Rule } from './rules.ts';

/**
 * Decoded layers read below the raw text, of any kind (`base64+gzip+utf16`
 * is three). A layer more than this that would decode is not read: the data
 * is refused as `unscannable-nesting`.
 */
export const MAX_DEPTH = 6;
/** Most bytes decompressed in one scan (the body bound); a stream that would give more is refused as `unscannable-compression`. */
export const MAX_INFLATE = 32 * 1024 * 1024;
/** The findings of data the scanner will not read through. */
export const UNSCANNABLE_RULES = ['unscannable-compression', 'unscannable-nesting'] as const;
/** How far before a run the token anchors are looked for (`hvs.`, `SG.` sit just before the run they start). */
const RUN_LOOKBACK = 4;
/** Window edges move over credential characters, at most this far, so a cut never fakes a boundary. */
const EDGE_SLACK_BEFORE = 256;
const EDGE_SLACK_AFTER = 4096;
/** Allowed values shorter than this are ignored (they would blank ordinary text). */
export const MIN_ALLOWED_LENGTH = 8;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A regex source matching any of `words`, shaped as a trie (faster to try at each position than a flat list). */
function trie(words: readonly string[]): string {
  const byFirst = new Map<string, string[]>();
  let empty = false;
  for (const w of words) {
    if (w === '') {
      empty = true;
      continue;
    }
    const k = w[0]!;
    if (!byFirst.has(k)) byFirst.set(k, []);
    byFirst.get(k)!.push(w.slice(1));
  }
  const alts = [...byFirst].map(([k, rest]) => escapeRe(k) + trie(rest));
  if (alts.length === 0) return '';
  const body = alts.length === 1 && !empty ? alts[0]! : `(?:${alts.join('|')})`;
  return empty ? `(?:${alts.join('|')})?` : body;
}

interface Tables {
  tokenRe: RegExp | undefined;
  tokenMap: Map<string, number[]>;
  textRe: RegExp | undefined;
  textMap: Map<string, number[]>;
  /** Key names looked for before long runs: [rule, spec]. */
  names: [number, NonNullable<Rule['anchors']>['name'] & {}][];
  /** Rules with no anchors: run over every layer's whole text. */
  unanchored: number[];
}

function tables(rules: readonly Rule[]): Tables {
  const tokenMap = new Map<string, number[]>();
  const textMap = new Map<string, number[]>();
  const names: Tables['names'] = [];
  const unanchored: number[] = [];
  const add = <V>(m: Map<string, V[]>, k: string, v: V) => {
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(v);
  };
  rules.forEach((r, i) => {
    if (!r.anchors || (!r.anchors.token?.length && !r.anchors.text?.length)) return void unanchored.push(i);
    for (const t of r.anchors.token ?? []) add(tokenMap, t, i);
    for (const t of r.anchors.text ?? []) add(textMap, t, i);
    if (r.anchors.name) names.push([i, r.anchors.name]);
  });
  return {
    tokenRe: tokenMap.size ? new RegExp(trie([...tokenMap.keys()]), 'g') : undefined,
    tokenMap,
    textRe: textMap.size ? new RegExp(trie([...textMap.keys()]), 'g') : undefined,
    textMap,
    names,
    unanchored,
  };
}

const T = tables(RULES);
const isHex = (c: number | undefined) => c !== undefined && (CLS[c]! & HEX) !== 0;

/**
 * Kinds of decoded layers, in the order they are scanned. The runs of a
 * layer that decode alike are decoded into one buffer, a line each, and
 * scanned as one layer below it.
 */
const B64K = 0;
const HEXK = 1;
const B32K = 2;
const URLK = 3;
const ESCK = 4;
const U16K = 5;
const U32K = 6;
/** Compressed streams: this plus the format (GZIP, ZLIB, ZSTD, ZIP). */
const INFK = 6;
const KIND_NAMES = ['base64', 'hex', 'base32', 'url', 'escape', 'utf16', 'utf32', ...COMPRESSION_NAMES.slice(1)];
const SCAN_ORDER = [INFK + 1, INFK + 2, INFK + 3, INFK + 4, U16K, U32K, B64K, HEXK, B32K, URLK, ESCK];

/** The decoded runs of one kind found in a layer: one buffer, a line each. */
interface Batch {
  buf: Buffer;
  len: number;
  /** Where each run starts (a compressed stream is looked for there). */
  starts: number[];
}

interface State {
  where: DlpWhere;
  /** Bytes of decoded text still allowed to be scanned in this call. */
  budget: number;
  /** Bytes still allowed to be decompressed in this call. */
  inflateLeft: number;
  /** What decompression cost so far. */
  inflateWork: InflateWork;
  allowed: readonly string[];
  /** Why the data cannot be read whole (more layers than MAX_DEPTH, over the budget, a bomb): refused unless a secret is found. */
  refused: { rule: string; layer: string } | undefined;
}

/**
 * The batches a layer at each depth fills for the layers below it: kept from
 * one scan to the next (a scan runs to its end synchronously); buffers grown
 * past KEEP_BYTES are dropped after the scan.
 */
const BATCHES: Batch[][] = [];
const KEEP_BYTES = 1 << 20;
let grown = false;

/** The batches of `depth`, emptied. */
function batchesAt(depth: number): Batch[] {
  let bs = BATCHES[depth];
  if (!bs) {
    bs = Array.from({ length: KIND_NAMES.length }, () => ({ buf: Buffer.allocUnsafe(0), len: 0, starts: [] }));
    BATCHES[depth] = bs;
  }
  for (const b of bs) {
    b.len = 0;
    b.starts.length = 0;
  }
  return bs;
}

/** Makes room for `need` more bytes (and a line break) in `b`. */
function room(b: Batch, need: number): Buffer {
  if (b.buf.length < b.len + need + 1) {
    const bigger = Buffer.allocUnsafe(Math.max(4096, 2 * b.buf.length, b.len + need + 1));
    if (bigger.length > KEEP_BYTES) grown = true;
    b.buf.copy(bigger, 0, 0, b.len);
    b.buf = bigger;
  }
  return b.buf;
}

/** Replaces every allowed value in `text` by spaces of its length (positions stay where they were). */
function blank(text: string, allowed: readonly string[]): string {
  for (const v of allowed) if (text.includes(v)) text = text.replaceAll(v, ' '.repeat(v.length));
  return text;
}

/**
 * JSON and JS string escapes in front of a credential (`\\nghp_...`) would
 * glue a letter to it and defeat the rules' boundary checks, and escaped
 * newlines inside a PEM block escaped twice (a key file in a JSON string in
 * a JSON body) would fail its check: in a window, escapes (with any number
 * of backslashes) are replaced by spaces of the same length.
 */
const ESCAPES = /\\+(?:[nrtbf]|u[0-9a-fA-F]{4})/g;
const unescape = (w: string) => (w.includes('\\') ? w.replace(ESCAPES, (m) => ' '.repeat(m.length)) : w);

function scanLayer(bytes: Uint8Array, text: string, layer: string, depth: number, st: State, starts: readonly number[]): DlpFinding | undefined {
  if (st.allowed.length) {
    const t = blank(text, st.allowed);
    if (t !== text) {
      text = t;
      bytes = Buffer.from(text, 'latin1');
    }
  }
  const n = text.length;
  /** Windows as triples: rule index, start, end. */
  const windows: number[] = [];
  /** The last window added per rule: a window inside it is not added again. */
  const lastStart = new Int32Array(RULES.length).fill(-1);
  const lastEnd = new Int32Array(RULES.length).fill(-1);
  const addWindow = (r: number, pos: number) => {
    const rule = RULES[r]!;
    let ws = 0;
    let we = n;
    if (!rule.whole && rule.anchors) {
      ws = Math.max(0, pos - rule.anchors.before);
      we = Math.min(n, pos + rule.anchors.after);
    }
    if (ws >= lastStart[r]! && we <= lastEnd[r]!) return;
    lastStart[r] = ws;
    lastEnd[r] = we;
    windows.push(r, ws, we);
  };

  for (const r of T.unanchored) addWindow(r, 0);

  // Anchors that need no token run: URL schemes, PEM headers.
  const textRe = T.textRe;
  if (textRe) {
    /** Next position of each needed character at or after the last anchor (a cursor: linear overall). */
    const next = new Map<string, number>();
    textRe.lastIndex = 0;
    for (let m = textRe.exec(text); m; m = textRe.exec(text)) {
      const need = ANCHOR_NEEDS[m[0]];
      if (need) {
        let at = next.get(need.char) ?? -1;
        if (at !== Infinity && at < m.index) {
          const i = text.indexOf(need.char, m.index);
          at = i === -1 ? Infinity : i;
          next.set(need.char, at);
        }
        if (at - m.index > need.within) continue;
      }
      for (const r of T.textMap.get(m[0])!) addWindow(r, m.index);
    }
  }

  // Decoded runs go to the batches of this depth, within the budget; one
  // layer deeper than MAX_DEPTH is not read but refused.
  const bs = batchesAt(depth);
  const child = (kind: number) => (depth === 0 ? KIND_NAMES[kind]! : `${layer}+${KIND_NAMES[kind]!}`);
  const refuse = (rule: string, kind: number) => void (st.refused ??= { rule, layer: child(kind) });
  /**
   * Decodes b[s..e) into the batch of `kind` (`how` for the two kinds with
   * two decoders: wrapped base64, UTF-16/32 byte order; a compressed
   * stream's output is `x`); false once nothing more may be decoded.
   */
  const decodeInto = (kind: number, s: number, e: number, how = 0, x?: Buffer): boolean => {
    if (st.refused) return false;
    const b = bs[kind]!;
    const out = room(b, e - s);
    const at = b.len;
    let end: number;
    if (kind === B64K) end = how === 0 ? decodeBase64Run(bytes, s, e, out, at) : decodeWrappedBase64(bytes, s, e, wrapTmp(e - s), out, at);
    else if (kind === HEXK) end = decodeHexRun(bytes, s, e, out, at);
    else if (kind === B32K) end = decodeBase32Run(bytes, s, e, out, at);
    else if (kind === URLK) end = decodeUrl(bytes, s, e, out, at);
    else if (kind === ESCK) end = decodeEscapes(bytes, s, e, out, at);
    else if (kind === U16K || kind === U32K) end = narrow(bytes, s, e, kind === U16K ? 2 : 4, how, out, at);
    else end = at + x!.copy(out, at);
    if (end < 0) return true;
    st.budget -= end - at;
    if (depth >= MAX_DEPTH || st.budget < 0) {
      refuse('unscannable-nesting', kind);
      return false;
    }
    b.starts.push(at);
    b.len = end;
    out[b.len++] = 0x0a;
    return true;
  };
  let tmp: Buffer | undefined;
  const wrapTmp = (size: number) => (tmp && tmp.length >= size ? tmp : (tmp = Buffer.allocUnsafe(Math.max(size, 4096))));

  // Runs of token characters: credential prefixes and key names; base64/hex/base32 layers.
  const tokenRe = T.tokenRe;
  // Line-wrapped base64 (76 or 64 columns): consecutive runs of one width
  // joined by line breaks, the last one possibly shorter, decoded as one.
  let gStart = -1;
  let gEnd = -1;
  let gWidth = 0;
  let gLines = 0;
  let gOpen = false;
  const endGroup = () => {
    if (gLines >= 1 && gOpen) {
      const e = shortLineAfter(bytes, gEnd);
      if (e !== gEnd) {
        gEnd = e;
        gLines++;
      }
    }
    if (gLines >= 2) decodeInto(B64K, gStart, gEnd, 1);
    gLines = 0;
  };
  const hexRun = (s: number, e: number) => void decodeInto(HEXK, s, e);
  const b32Run = (s: number, e: number) => void decodeInto(B32K, s, e);
  forEachRun(bytes, MIN_B64_RUN, (s, e) => {
    if (tokenRe) {
      const from = Math.max(0, s - RUN_LOOKBACK);
      const part = text.slice(from, e);
      tokenRe.lastIndex = 0;
      for (let m = tokenRe.exec(part); m; m = tokenRe.exec(part)) for (const r of T.tokenMap.get(m[0])!) addWindow(r, from + m.index);
    }
    for (const [r, spec] of T.names) {
      if (e - s < spec.minRun) continue;
      const from = Math.max(0, s - spec.lookback);
      const before = text.slice(from, s);
      spec.pattern.lastIndex = 0;
      for (let m = spec.pattern.exec(before); m; m = spec.pattern.exec(before)) addWindow(r, from + m.index);
    }
    if (st.refused) return;
    const next = gLines > 0 && gOpen ? lineStartAfter(bytes, gEnd) : -1;
    if (next !== -1 && (next === s || next === s + 1) && e - next <= gWidth) {
      gEnd = e;
      gLines++;
      gOpen = e - next === gWidth;
    } else {
      endGroup();
      if ((e - s) % 4 === 0) {
        gStart = s;
        gEnd = e;
        gWidth = e - s;
        gLines = 1;
        gOpen = true;
      }
    }
    decodeInto(B64K, s, e);
    if (e - s >= MIN_HEX_RUN) forEachClassRun(bytes, s, e, HEX, MIN_HEX_RUN, hexRun);
    if (e - s >= MIN_B32_RUN) forEachBase32Run(bytes, s, e, b32Run);
  });
  endGroup();
  // URL-encoded runs (around `%XX`), and backslash-escaped ones (around `\uXXXX`, `\xXX`).
  for (let p = text.indexOf('%'); p !== -1 && !st.refused; p = text.indexOf('%', p + 1)) {
    if (!isHex(bytes[p + 1]) || !isHex(bytes[p + 2])) continue;
    const [s, e] = urlRunAround(bytes, p);
    decodeInto(URLK, s, e);
    p = e;
  }
  for (const esc of ['\\u', '\\x']) {
    for (let p = text.indexOf(esc); p !== -1 && !st.refused; p = text.indexOf(esc, p + 1)) {
      if (!hidingEscapeAt(bytes, p)) continue;
      const [s, e] = escapeRunAround(bytes, p);
      decodeInto(ESCK, s, e);
      p = e;
    }
  }
  const view = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // UTF-16 and UTF-32 text, found by its NULs.
  forEachWideRun(view, (s, e, stride, off) => void decodeInto(stride === 2 ? U16K : U32K, s, e, off));
  // Compressed streams, by their magic bytes: gzip, zstd and zip anywhere; zlib (two bytes) where a layer or a run starts.
  inflateAll(view, starts, st, refuse, decodeInto);

  const found = runWindows(bytes, text, windows);
  // Positions are only of the data as given: a decoded layer's are not.
  if (found !== undefined) return { rule: found.name, where: st.where, layer, ...(depth === 0 && found.range ? { range: found.range } : {}) };

  for (const kind of SCAN_ORDER) {
    const b = bs[kind]!;
    if (b.len === 0) continue;
    const sub = scanLayer(b.buf.subarray(0, b.len), b.buf.toString('latin1', 0, b.len), child(kind), depth + 1, st, b.starts);
    if (sub) return sub;
  }
  return undefined;
}

/**
 * Inflates every compressed stream in `b` into the batches of its format,
 * within the state's bounds: more than MAX_INFLATE out in one scan (or four
 * times that worked through, for streams retried when corrupt), or more
 * broken streams than 64 plus one per 4 KiB, is refused.
 */
/**
 * The magic bytes looked for anywhere, each by a byte of it that text never
 * holds (a control character, or 0xfd, never in UTF-8): one memchr each over
 * a layer of text. [magic, offset of that byte in it].
 */
const MAGICS: readonly (readonly [Buffer, number])[] = [
  [GZIP_MAGIC, 0],
  [ZSTD_MAGIC, 3],
  [ZIP_MAGIC, 2],
];

function inflateAll(
  b: Buffer,
  starts: readonly number[],
  st: State,
  refuse: (rule: string, kind: number) => void,
  decodeInto: (kind: number, s: number, e: number, how: number, x: Buffer) => boolean,
): void {
  let at: Set<number> | undefined;
  for (const [magic, k] of MAGICS) {
    const c = magic[k]!;
    for (let i = b.indexOf(c, k); i !== -1; i = b.indexOf(c, i + 1)) if (b[i - k] === magic[0] && magicAt(b, i - k)) (at ??= new Set()).add(i - k);
  }
  if (starts.length === 0 && magicAt(b, 0) === ZLIB) (at ??= new Set()).add(0);
  for (const p of starts) if (magicAt(b, p) === ZLIB) (at ??= new Set()).add(p);
  if (!at) return;
  let from = 0;
  for (const p of [...at].sort((x, y) => x - y)) {
    if (st.refused) return;
    if (p < from) continue;
    const kind = magicAt(b, p);
    if (!kind) continue;
    const r = inflateAt(b, p, kind, st.inflateLeft, st.inflateWork);
    // Broken streams cost retries: more than a few per 4 KiB of input is not data but an attack on the scanner.
    if (r === 'too-large' || st.inflateWork.bytes > 4 * MAX_INFLATE || st.inflateWork.broken > 64 + (b.length >> 12)) return refuse('unscannable-compression', INFK + kind);
    if (!r) continue;
    st.inflateLeft -= r.out.length;
    // The layers inside a decompressed stream get the budget of a body that size.
    st.budget += 8 * r.out.length;
    if (!decodeInto(INFK + kind, 0, r.out.length, 0, r.out)) return;
    from = p + Math.max(1, r.used);
  }
}

/**
 * Runs each rule once over each union of its overlapping windows (so dense
 * anchors cost linear time), the edges moved over credential characters.
 * The first finding's name and, when its rule says, where it is; or undefined.
 */
function runWindows(bytes: Uint8Array, text: string, windows: number[]): { name: string; range?: readonly [number, number] } | undefined {
  const count = windows.length / 3;
  if (count === 0) return undefined;
  const order = Array.from({ length: count }, (_, i) => i);
  order.sort((a, b) => windows[a * 3]! - windows[b * 3]! || windows[a * 3 + 1]! - windows[b * 3 + 1]!);
  const n = text.length;
  let i = 0;
  while (i < count) {
    const r = windows[order[i]! * 3]!;
    let ws = windows[order[i]! * 3 + 1]!;
    let we = windows[order[i]! * 3 + 2]!;
    for (i++; i < count && windows[order[i]! * 3] === r && windows[order[i]! * 3 + 1]! <= we; i++) we = Math.max(we, windows[order[i]! * 3 + 2]!);
    const rule = RULES[r]!;
    let name: string | undefined;
    let offset = 0;
    if (rule.whole) {
      name = rule.whole(text) ? rule.run(text) : undefined;
    } else {
      const minWs = Math.max(0, ws - EDGE_SLACK_BEFORE);
      while (ws > minWs && (CLS[bytes[ws - 1]!]! & EDGE) !== 0) ws--;
      const maxWe = Math.min(n, we + EDGE_SLACK_AFTER);
      while (we < maxWe && (CLS[bytes[we]!]! & EDGE) !== 0) we++;
      offset = ws;
      name = rule.run(unescape(text.slice(ws, we)));
    }
    if (name !== undefined) {
      const at = rule.at();
      return at ? { name, range: [offset + at[0], offset + at[1]] } : { name };
    }
  }
  return undefined;
}

/** Scans `data` (latin1 bytes or a string) and its decoded layers; the first finding, or undefined. */
export function scanData(data: string | Uint8Array, where: DlpWhere, allowed: readonly string[]): DlpFinding | undefined {
  let bytes: Uint8Array;
  let text: string;
  if (typeof data === 'string') {
    text = data;
    bytes = Buffer.from(data, 'latin1');
  } else {
    bytes = data;
    text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  }
  // Decoded layers are shorter than what they decode, and ordinary data
  // decodes to a fraction of its size: 8x the input (plus 8x what is
  // decompressed) bounds the work of all layers, whatever the input.
  const st: State = {
    where,
    budget: 8 * text.length + 65_536,
    inflateLeft: MAX_INFLATE,
    inflateWork: { bytes: 0, broken: 0 },
    allowed,
    refused: undefined,
  };
  let found: DlpFinding | undefined;
  try {
    found = scanLayer(bytes, text, 'raw', 0, st, []);
  } finally {
    if (grown) for (const bs of BATCHES) for (const b of bs) if (b.buf.length > KEEP_BYTES) b.buf = Buffer.allocUnsafe(0);
    grown = false;
  }
  if (found || !st.refused) return found;
  return { rule: st.refused.rule, where, layer: st.refused.layer };
}

// The scanning engine: prefilter, windows, decoding layers. See index.ts for the why.
import { Buffer } from 'node:buffer';
import type { DlpFinding, DlpWhere } from '../types.ts';
import {
  CLS,
  EDGE,
  HEX,
  MIN_B64_RUN,
  decodeBase64Run,
  decodeHexRun,
  decodeUrl,
  decodeWrappedBase64,
  forEachHexRun,
  forEachRun,
  lineStartAfter,
  shortLineAfter,
  urlRunAround,
} from './decode.ts';
import { ANCHOR_NEEDS, RULES, type Rule } from './rules.ts';

/** Layers below the raw text: one decoded layer, and one nested inside it. */
export const MAX_DEPTH = 2;
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

interface State {
  where: DlpWhere;
  /** Bytes of decoded text still allowed to be scanned in this call. */
  budget: number;
  allowed: readonly string[];
  /** One scratch buffer per depth, for decoding. */
  scratch: Buffer[];
}

function scratch(st: State, depth: number, size: number): Buffer {
  let b = st.scratch[depth];
  if (!b || b.length < size) {
    b = Buffer.allocUnsafe(Math.max(size, 4096));
    st.scratch[depth] = b;
  }
  return b;
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

/** What a pass over a layer found to do next: windows for rules, runs to decode. */
interface Work {
  /** Windows as triples: rule index, start, end. */
  windows: number[];
  /** Runs that decode to printable text, as triples: kind (0 base64, 1 hex, 2 url, 3 wrapped base64), start, end. */
  decodes: number[];
}

function scanLayer(bytes: Uint8Array, text: string, layer: string, depth: number, st: State): DlpFinding | undefined {
  if (st.allowed.length) {
    const t = blank(text, st.allowed);
    if (t !== text) {
      text = t;
      bytes = Buffer.from(text, 'latin1');
    }
  }
  const n = text.length;
  const work: Work = { windows: [], decodes: [] };
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
    work.windows.push(r, ws, we);
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

  // Runs of token characters: credential prefixes and key names; base64/hex layers.
  const decodeMore = depth < MAX_DEPTH && st.budget > 0;
  const tokenRe = T.tokenRe;
  const out = decodeMore ? scratch(st, depth, 0) : undefined;
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
    if (gLines >= 2) work.decodes.push(3, gStart, gEnd);
    gLines = 0;
  };
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
    if (!out) return;
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
    const buf = out.length >= e - s ? out : scratch(st, depth, e - s);
    if (decodeBase64Run(bytes, s, e, buf) > 0) work.decodes.push(0, s, e);
    if (e - s >= 32) forEachHexRun(bytes, s, e, (hs, he) => void (decodeHexRun(bytes, hs, he, buf) > 0 && work.decodes.push(1, hs, he)));
  });
  if (out) endGroup();
  if (decodeMore) {
    for (let p = text.indexOf('%'); p !== -1; p = text.indexOf('%', p + 1)) {
      if (!isHex(bytes[p + 1]) || !isHex(bytes[p + 2])) continue;
      const [s, e] = urlRunAround(bytes, p);
      work.decodes.push(2, s, e);
      p = e;
    }
  }

  const found = runWindows(bytes, text, work.windows);
  // Positions are only of the data as given: a decoded layer's are not.
  if (found !== undefined) return { rule: found.name, where: st.where, layer, ...(depth === 0 && found.range ? { range: found.range } : {}) };

  // Decoded layers, within the budget.
  for (let i = 0; i < work.decodes.length && st.budget > 0; i += 3) {
    const kind = work.decodes[i]!;
    const s = work.decodes[i + 1]!;
    const e = work.decodes[i + 2]!;
    const buf = scratch(st, depth, e - s);
    const len =
      kind === 0 ? decodeBase64Run(bytes, s, e, buf)
      : kind === 1 ? decodeHexRun(bytes, s, e, buf)
      : kind === 2 ? decodeUrl(bytes, s, e, buf)
      : decodeWrappedBase64(bytes, s, e, Buffer.allocUnsafe(e - s), buf);
    if (len <= 0) continue;
    st.budget -= len;
    const name = KINDS[kind]!;
    const sub = scanLayer(buf.subarray(0, len), buf.toString('latin1', 0, len), depth === 0 ? name : `${layer}+${name}`, depth + 1, st);
    if (sub) return sub;
  }
  return undefined;
}

const KINDS = ['base64', 'hex', 'url', 'base64'];

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
  // Decoded layers are at most as long as what they decode; 8x the input
  // bounds the total work of the nested layers, whatever the input.
  const st: State = { where, budget: 8 * text.length + 65_536, allowed, scratch: [] };
  return scanLayer(bytes, text, 'raw', 0, st);
}

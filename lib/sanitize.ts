// Text the agent wrote, made safe to show a human in a terminal. The agent
// controls every character of a request's subject and reason, and the human
// reads them in `bottle approvals` before deciding, so nothing in them may act
// on the terminal or hide what is written:
//
// - C0 controls (except newline and tab), DEL and C1 controls become visible
//   escapes (`\x0d`, `\x7f`, `\x9b`); ESC becomes `␛`. Without a raw ESC or C1
//   byte no terminal sequence (CSI, OSC, DCS, ...) can start, so an ANSI
//   sequence is shown as inert text (`␛[31m`): the human sees that the agent
//   tried to send one. A carriage return is escaped too (it would let a line
//   be overwritten on screen).
// - Bidi controls (U+202A–202E, U+2066–2069, U+200E/200F, U+061C), every
//   other format character (Unicode Cf: zero-width spaces and joiners, soft
//   hyphen, BOM, tag characters, ...), every default-ignorable code point
//   (variation selectors, Hangul fillers, ...), the line and paragraph
//   separators and lone surrogates become `\u{...}` escapes: nothing can
//   reorder, hide or fake text.
// - The result is bounded: past `maxLength` characters of output it is cut
//   and says how much was left out.
//
// Printable ASCII is never changed, and sanitising twice changes nothing
// more: every escape is printable ASCII or `␛`.

/** Default bound of one sanitised text, in UTF-16 units of output. */
export const DEFAULT_MAX_LENGTH = 2000;

export interface SanitizeOptions {
  /** Bound of the output (default 2000); the cut is marked `…[+N]`, N the input code points left out. */
  maxLength?: number;
  /** Newlines and tabs become `\n` / `\t` as well, so the text stays on one line (listings). */
  singleLine?: boolean;
}

/** What is escaped, besides C0/DEL/C1 (handled by code). */
const UNSAFE = /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}\p{Cs}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

const hex2 = (cp: number) => `\\x${cp.toString(16).padStart(2, '0')}`;
const uEscape = (cp: number) => `\\u{${cp.toString(16)}}`;

/** The visible form of one code point, or the code point itself when it is safe. */
function escapeCodePoint(ch: string, singleLine: boolean): string {
  const cp = ch.codePointAt(0)!;
  if (cp === 0x0a) return singleLine ? '\\n' : ch;
  if (cp === 0x09) return singleLine ? '\\t' : ch;
  if (cp === 0x1b) return '␛';
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return hex2(cp);
  if (cp < 0x7f) return ch;
  if (UNSAFE.test(ch)) return uEscape(cp);
  return ch;
}

/** `text` with every control, escape, bidi and invisible format character made visible, bounded in length. */
export function sanitize(text: unknown, opts: SanitizeOptions = {}): string {
  const s = typeof text === 'string' ? text : String(text ?? '');
  const max = Math.max(16, opts.maxLength ?? DEFAULT_MAX_LENGTH);
  const singleLine = opts.singleLine ?? false;
  // Every code point yields at least one character, so more than `max` of them never fit.
  const pieces: string[] = [];
  let total = 0;
  let whole = true;
  for (const ch of s) {
    if (pieces.length > max) {
      whole = false;
      break;
    }
    const piece = escapeCodePoint(ch, singleLine);
    pieces.push(piece);
    total += piece.length;
  }
  if (whole && total <= max) return pieces.join('');
  // Cut: as many whole pieces as fit beside the marker (never half an escape or a surrogate pair).
  const inputCount = whole ? pieces.length : countCodePoints(s);
  let out = '';
  let kept = 0;
  for (const piece of pieces) {
    const marker = `…[+${inputCount - kept - 1}]`;
    if (out.length + piece.length + marker.length > max) break;
    out += piece;
    kept++;
  }
  return `${out}…[+${inputCount - kept}]`;
}

function countCodePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** True when `text` holds nothing `sanitize` would change (bounds aside). */
export function isSafeText(text: string): boolean {
  for (const ch of text) if (escapeCodePoint(ch, false) !== ch) return false;
  return true;
}

/**
 * JSON for a terminal: `JSON.stringify`, with every code point `sanitize`
 * would escape (C1 controls, bidi and other format characters, separators,
 * ...) written as `\uXXXX` escapes, which JSON.stringify leaves raw. The
 * document means the same to a parser; nothing in it acts on a terminal.
 */
export function safeJson(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space) ?? 'null';
  let out = '';
  for (const ch of json) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x7f || (cp > 0x9f && !UNSAFE.test(ch))) out += ch;
    else for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  }
  return out;
}

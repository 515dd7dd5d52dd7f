// Text from the agent, shown to a human: tables of what is escaped, and
// properties over arbitrary strings (nothing that acts on a terminal or
// hides text survives; printable ASCII is untouched; bounded; idempotent).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isSafeText, sanitize } from '../../../../lib/sanitize.ts';

const BIDI = [0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200e, 0x200f, 0x061c];
const INVISIBLE = [0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x00ad, 0x180e, 0xe0041, 0xfff9, 0x2028, 0x2029, 0x3164, 0xfe0f];

/** Code points that must never appear in output (multiline mode keeps \n and \t). */
function forbidden(cp: number, singleLine = false): boolean {
  if (cp === 0x0a || cp === 0x09) return singleLine;
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return true;
  if (cp >= 0xd800 && cp <= 0xdfff) return true; // lone surrogates (pairs are read as one code point)
  return /[\p{Cf}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}]/u.test(String.fromCodePoint(cp)) || BIDI.includes(cp);
}

/** Every code point of `s`, lone surrogates included. */
const codePoints = (s: string) => Array.from(s, (c) => c.codePointAt(0)!);

/** Strings rich in the dangerous characters. */
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...['\x1b', '[', ']', '3', '1', 'm', ';', '\x07', '\x9b', '\x9d', '\r', '\n', '\t', '\x00', '\x7f', 'a', ' ', '\\', ...BIDI.map((c) => String.fromCodePoint(c)), ...INVISIBLE.map((c) => String.fromCodePoint(c)), '\ud800', '\udc00', '👍', 'é']), maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({ unit: 'binary-ascii', maxLength: 100 }),
);

describe('sanitize: tables', () => {
  it.each([
    ['plain text', 'plain text'],
    ['ESC of a CSI sequence', 'a\x1b[31mred\x1b[0m', 'a␛[31mred␛[0m'],
    ['OSC 8 hyperlink', '\x1b]8;;http://evil\x07x\x1b]8;;\x07', '␛]8;;http://evil\\x07x␛]8;;\\x07'],
    ['8-bit CSI', '\x9b2J', '\\x9b2J'],
    ['carriage return', 'ok\rrm -rf /', 'ok\\x0drm -rf /'],
    ['NUL, BEL, backspace, DEL', '\x00\x07\x08\x7f', '\\x00\\x07\\x08\\x7f'],
    ['newline and tab kept', 'a\nb\tc', 'a\nb\tc'],
    ['RLO', 'txt.\u202eexe', 'txt.\\u{202e}exe'],
    ['isolates', '\u2066a\u2069', '\\u{2066}a\\u{2069}'],
    ['LRM, RLM, ALM', '\u200e\u200f\u061c', '\\u{200e}\\u{200f}\\u{61c}'],
    ['zero-width space and joiner', 'a\u200bb\u200dc', 'a\\u{200b}b\\u{200d}c'],
    ['BOM and soft hyphen', '\ufeffa\u00adb', '\\u{feff}a\\u{ad}b'],
    ['tag characters', 'x\u{e0041}', 'x\\u{e0041}'],
    ['line separator', 'a\u2028b', 'a\\u{2028}b'],
    ['lone surrogate', 'a\ud800b', 'a\\u{d800}b'],
    ['ordinary Unicode kept', 'héllo 世界 👍 Ω', 'héllo 世界 👍 Ω'],
  ])('%s', (_name, input, expected = input) => {
    expect(sanitize(input)).toBe(expected);
  });

  it('singleLine escapes newlines and tabs', () => {
    expect(sanitize('a\nb\tc', { singleLine: true })).toBe('a\\nb\\tc');
  });

  it('bounds the length and says how much was cut', () => {
    const out = sanitize('x'.repeat(5000), { maxLength: 100 });
    expect(out.length).toBeLessThanOrEqual(100);
    expect(out).toMatch(/^x+…\[\+\d+\]$/);
    const kept = out.indexOf('…');
    expect(Number(/\+(\d+)/.exec(out)![1])).toBe(5000 - kept);
  });

  it('never cuts an escape or a surrogate pair in half', () => {
    expect(sanitize('\x1b'.repeat(100), { maxLength: 30 })).toMatch(/^␛+…\[\+\d+\]$/);
    expect(sanitize('\u202e'.repeat(100), { maxLength: 30 })).toMatch(/^(?:\\u\{202e\})+…\[\+\d+\]$/);
    const emoji = sanitize('👍'.repeat(100), { maxLength: 30 });
    expect(emoji).toMatch(/^(?:👍)+…\[\+\d+\]$/);
  });

  it('non-strings are shown as strings', () => {
    expect(sanitize(undefined)).toBe('');
    expect(sanitize(42)).toBe('42');
  });
});

describe('sanitize: properties', () => {
  it('output contains no control, ESC, bidi or invisible format character', () => {
    fc.assert(
      fc.property(nasty, fc.boolean(), (s, singleLine) => {
        const out = sanitize(s, { singleLine, maxLength: 100_000 });
        for (const cp of codePoints(out)) expect(forbidden(cp, singleLine), `U+${cp.toString(16)} in ${JSON.stringify(out)}`).toBe(false);
        expect(out.includes('\x1b')).toBe(false);
        expect(isSafeText(out)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('printable ASCII passes unchanged', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 500 }), (s) => {
        expect(sanitize(s)).toBe(s);
        expect(sanitize(s, { singleLine: true })).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(nasty, (s) => {
        const once = sanitize(s, { maxLength: 100_000 });
        expect(sanitize(once, { maxLength: 100_000 })).toBe(once);
      }),
      { numRuns: 2000 },
    );
  });

  it('is bounded, also after escaping expands the text', () => {
    fc.assert(
      fc.property(nasty, fc.integer({ min: 16, max: 120 }), (s, max) => {
        const out = sanitize(s, { maxLength: max });
        expect(out.length).toBeLessThanOrEqual(max);
        for (const cp of codePoints(out)) expect(forbidden(cp)).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });
});

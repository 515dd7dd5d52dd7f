// The DLP scanner's decoding layers, against the labelled corpus in
// test/fixtures/dlp: every true positive (each encoding and combination) is
// found in the layer it hides in; no false positive is; nesting past the
// fixed depth and decompression bombs are refused, not passed; adversarial
// inputs cost bounded time; and over real source code (this repository and
// named packages in node_modules, raw and under the new layers) the scanner
// finds nothing.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createScanner, RULE_NAMES } from '../../../../lib/dlp/index.ts';
import { MAX_DEPTH, MAX_INFLATE } from '../../../../lib/dlp/scan.ts';
import { b64, falsePositives, gzip, secrets, truePositives, utf16le } from '../../../fixtures/dlp/corpus.ts';
import { fpCorpus } from '../../../fixtures/dlp/real-source.ts';

const scanner = createScanner();
const github = () => secrets(7).find((s) => s.name === 'github token')!.value;
const nest = (n: number, s: string) => {
  for (let i = 0; i < n; i++) s = b64(s);
  return s;
};

describe('DLP layers: the labelled corpus', () => {
  const tps = truePositives();
  it.each(tps.map((t) => [t.name, t] as const))('finds %s', (_name, t) => {
    for (const where of ['body', 'url'] as const) {
      const f = scanner.scan(t.data, where);
      expect(f, 'a finding').toBeDefined();
      expect(t.rules).toContain(f!.rule);
      expect(f!.layer).toMatch(t.layer!);
      // Only the raw layer's positions are the data's.
      if (f!.layer !== 'raw') expect(f!.range).toBeUndefined();
    }
  });

  const fps = falsePositives();
  it.each(fps.map((f) => [f.name, f] as const))('finds nothing in %s', (_name, f) => {
    expect(scanner.scan(f.data, 'body')).toBeUndefined();
  });

  it('is a corpus of every layer kind, and every finding name is a known rule', () => {
    const layers = new Set(tps.map((t) => String(t.layer)));
    for (const kind of ['base64', 'base32', 'hex', 'url', 'escape', 'utf16', 'utf32', 'gzip', 'zlib', 'zip']) expect([...layers].some((l) => l.includes(kind)), kind).toBe(true);
    for (const t of tps) for (const r of t.rules!) expect(RULE_NAMES).toContain(r);
    expect(fps.length).toBeGreaterThan(40);
  });
});

describe('DLP layers: depth', () => {
  it(`reads ${MAX_DEPTH} layers of any kind, and refuses data nested deeper instead of passing it`, () => {
    expect(MAX_DEPTH).toBeGreaterThanOrEqual(4);
    const t = `token: ${github()}`;
    for (let n = 1; n <= MAX_DEPTH; n++) expect(scanner.scan(nest(n, t), 'body'), `base64 x${n}`).toMatchObject({ rule: 'github-token', layer: Array(n).fill('base64').join('+') });
    expect(scanner.scan(nest(MAX_DEPTH + 1, t), 'body')).toMatchObject({ rule: 'unscannable-nesting' });
    // ...but only when something decodes there: ordinary text nested as deep is not refused for its depth.
    expect(scanner.scan(nest(MAX_DEPTH, 'just some ordinary words, nothing more to it'), 'body')).toBeUndefined();
    // Compression and UTF-16 count as layers too.
    expect(scanner.scan(b64(gzip(b64(utf16le(nest(2, t))))), 'body')).toMatchObject({ rule: 'github-token', layer: 'base64+gzip+base64+utf16+base64+base64' });
  });

  it('finds a secret in a later run of a layer whatever the runs before it decode to', () => {
    const decoys = Array.from({ length: 200 }, (_, i) => b64(`decoy number ${i} of many, ordinary text`)).join(' ');
    expect(scanner.scan(`${decoys} ${nest(3, github())}`, 'body')?.rule).toBe('github-token');
  });
});

describe('DLP layers: compression', () => {
  it('reads gzip, zlib, zstd and zip whatever the headers say, inside other layers too', () => {
    const t = `token=${github()}\n` + 'lorem ipsum dolor sit amet '.repeat(500);
    expect(scanner.scan(gzip(t), 'body')?.layer).toBe('gzip');
    expect(scanner.scan(zlib.deflateSync(t), 'body')?.layer).toBe('zlib');
    expect(scanner.scan(zlib.zstdCompressSync(t), 'body')?.rule).toBe('github-token');
    expect(scanner.scan(`{"upload":"${b64(gzip(t))}"}`, 'body')?.layer).toBe('base64+gzip');
  });

  it('reads what a cut or corrupt stream gives before the damage, as a receiver would', () => {
    const t = `token=${github()}\n` + 'lorem ipsum dolor sit amet '.repeat(2000);
    const gz = gzip(t);
    expect(scanner.scan(gz.subarray(0, gz.length - 30), 'body')?.layer).toBe('gzip');
    const bad = Buffer.from(gz);
    bad[gz.length - 40]! ^= 0x55;
    expect(scanner.scan(bad, 'body')?.layer).toBe('gzip');
  });

  it('refuses a decompression bomb without filling memory', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(MAX_INFLATE * 4));
    const before = process.memoryUsage().rss;
    expect(scanner.scan(bomb, 'body')).toMatchObject({ rule: 'unscannable-compression', layer: 'gzip' });
    expect(scanner.scan(b64(bomb), 'body')).toMatchObject({ rule: 'unscannable-compression', layer: 'base64+gzip' });
    // Bounded by MAX_INFLATE (32 MiB) and its latin1 copy, never the 128 MiB the bomb holds.
    expect(process.memoryUsage().rss - before).toBeLessThan(3 * MAX_INFLATE);
    // Many small streams share the one bound.
    const many = Buffer.concat(Array.from({ length: 40 }, () => zlib.gzipSync(Buffer.alloc(1 << 20, 0x20))));
    expect(scanner.scan(many, 'body')).toMatchObject({ rule: 'unscannable-compression' });
    // Ordinary compressed data well within it is read, not refused.
    expect(scanner.scan(gzip('ordinary text '.repeat(100_000)), 'body')).toBeUndefined();
  });
});

describe('DLP layers: bounded work on adversarial input', () => {
  const MB = 1 << 20;
  const t = github();
  const cases: [string, () => string | Buffer][] = [
    ['long base64-alphabet run', () => 'A'.repeat(2 * MB)],
    ['long base32 run', () => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.repeat(MB / 32)],
    ['percent-encoding of percent-encoding', () => '%2541'.repeat(MB / 5)],
    ['nested base64 of printable text, many copies', () => Array.from({ length: 2000 }, (_, i) => nest(5, `copy ${i} of the decoy text`)).join('\n')],
    ['base64 of hex of base64, many copies', () => Array.from({ length: 2000 }, (_, i) => b64(Buffer.from(b64(`copy ${i} of it`)).toString('hex'))).join(' ')],
    ['escapes of escapes', () => '"' + '\\\\\\\\u0041'.repeat(MB / 10) + '"'],
    ['NULs and UTF-16 fragments', () => Buffer.concat(Array.from({ length: MB / 64 }, (_, i) => Buffer.concat([utf16le('abcdefghijklmnop'), Buffer.alloc(32, i & 1 ? 0 : 0x41)])))],
    ['gzip magic everywhere', () => Buffer.concat(Array.from({ length: MB / 16 }, () => Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])))],
    ['zlib headers at every run', () => Array.from({ length: MB / 32 }, () => 'eJ' + 'x'.repeat(22) + ' ').join('')],
    ['corrupt gzip streams', () => Buffer.concat(Array.from({ length: 300 }, (_, i) => { const g = gzip('some text that compresses '.repeat(300) + i); g[g.length >> 1]! ^= 0xff; return g; }))],
    ['secret after all of the above', () => Buffer.concat([Buffer.from('%2541'.repeat(50_000)), Buffer.from(` ${nest(4, t)} `)])],
  ];
  // How long each takes is bench/dlp's to print (its worst cases); here, that
  // each ends (the test's own timeout catches a blow-up) with the right verdict.
  it.each(cases)('%s: the scan ends with a verdict', (name, make) => {
    const f = scanner.scan(make(), 'body');
    if (name === 'secret after all of the above') expect(f).toMatchObject({ rule: expect.stringMatching(/github/) });
    else if (f) expect(f.rule).toMatch(/^unscannable-/);
  });
});;

describe('DLP layers: false positives over real source code', () => {
  it('finds nothing in this repository and the named packages, raw, gzip-compressed, base64 and UTF-16', () => {
    const r = fpCorpus(scanner, { maxBytes: 6 * (1 << 20), layers: true });
    expect(r.bytes).toBeGreaterThan(4 * (1 << 20));
    expect(r.packages.length).toBeGreaterThanOrEqual(4);
    expect(r.hits).toEqual([]);
  });
});

// A private key: which kinds the scanner catches (the preset alone missed several).
describe('DLP layers: private keys of every kind', () => {
  it.each(secrets(3).filter((s) => s.rules.includes('private-key')).map((s) => [s.name, s] as const))('%s', (_n, s) => {
    expect(scanner.scan(s.value, 'body')).toMatchObject({ rule: 'private-key', layer: 'raw' });
    expect(scanner.scan(JSON.stringify({ key: s.value }), 'body')).toMatchObject({ rule: 'private-key' });
    const f = scanner.scan(`the key:\n${s.value}`, 'body')!;
    expect(`the key:\n${s.value}`.slice(f.range![0], f.range![1])).toContain('PRIVATE');
  });

  it('are generated at run time: the corpus file itself holds no key', () => {
    expect(readFileSync(path.join(import.meta.dirname, '../../../fixtures/dlp/corpus.ts'), 'utf8')).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY-----\n[A-Za-z0-9+/]{40}/);
  });
});

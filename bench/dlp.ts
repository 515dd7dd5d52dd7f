// `npm run bench:dlp`: the DLP scanner alone, on one core. Builds a corpus of
// source files (this repo's .ts files, then node_modules' .js/.mjs/.cjs, then
// its .d.ts, up to ~50 MB in all), read once into memory, and scans it in chunks the size of
// HTTP bodies (64 KiB) with the scanner, as the proxy would. Prints the MB/s
// (median of several passes, after a warm-up pass), the target (>= 200 MB/s
// with every decoding layer), and the findings (there should be ~0: the
// corpus holds no credentials). Then the false positives over real source
// code (this repository and named packages, raw and under the gzip, base64
// and UTF-16 layers: test/fixtures/dlp/real-source.ts), and the time of
// adversarial inputs built to make the layers work hardest (MB/s each).
// The target is reported, never enforced.
//   node bench/dlp.ts [--passes N] [--chunk BYTES] [--max-mb MB]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { notInCorpus, walkFiles } from '../test/helpers/walk.ts';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { createScanner } from '../lib/dlp/index.ts';
import { fpCorpus } from '../test/fixtures/dlp/real-source.ts';

const { values: args } = parseArgs({ options: { passes: { type: 'string' }, chunk: { type: 'string' }, 'max-mb': { type: 'string' } } });
const PASSES = Number(args.passes ?? 7);
const CHUNK = Number(args.chunk ?? 64 * 1024);
const MAX_BYTES = Number(args['max-mb'] ?? 50) * 1024 * 1024;
const TARGET = 200;
if (![PASSES, CHUNK, MAX_BYTES].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('bench: --passes, --chunk and --max-mb must be positive integers');
  process.exit(2);
}

const root = path.resolve(import.meta.dirname, '..');

const parts: Buffer[] = [];
let total = 0;
let files = 0;
const take = (file: string) => {
  if (total >= MAX_BYTES) return false;
  const b = readFileSync(file);
  parts.push(b);
  total += b.length;
  files++;
  return true;
};
for (const f of walkFiles(root, /\.ts$/, (n) => n === 'node_modules' || n === 'dist' || n.startsWith('.'))) if (!take(f)) break;
// True positives (secretlint's examples, dependencies' test suites) are left out: see notInCorpus.
for (const f of walkFiles(path.join(root, 'node_modules'), /\.(c|m)?js$/, notInCorpus)) if (!take(f)) break;
// Type declarations are source files too (this repo's node_modules holds less than 50 MB of JS).
for (const f of walkFiles(path.join(root, 'node_modules'), /\.d\.(c|m)?ts$/, notInCorpus)) if (!take(f)) break;
const corpus = Buffer.concat(parts).subarray(0, MAX_BYTES);
const chunks: Uint8Array[] = [];
for (let i = 0; i < corpus.length; i += CHUNK) chunks.push(corpus.subarray(i, i + CHUNK));
const mb = corpus.length / 1e6;

const scanner = createScanner();
const findings = new Map<string, number>();
function pass(record: boolean): number {
  const t0 = performance.now();
  for (const c of chunks) {
    const f = scanner.scan(c, 'body');
    if (f && record) {
      const k = `${f.rule} (${f.layer})`;
      findings.set(k, (findings.get(k) ?? 0) + 1);
    }
  }
  return performance.now() - t0;
}

console.log(`corpus: ${files} files, ${mb.toFixed(1)} MB, ${chunks.length} chunks of ${CHUNK} bytes`);
pass(true); // warm-up (JIT, regexp tier-up); also collects the findings
const rates: number[] = [];
for (let i = 0; i < PASSES; i++) rates.push(mb / (pass(false) / 1000));
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)]!;
console.log(`passes:  ${rates.map((r) => r.toFixed(0)).join(' ')} MB/s`);
console.log(`dlp scan: ${median.toFixed(1)} MB/s median on one core (target >= ${TARGET} MB/s): ${median >= TARGET ? 'met' : 'NOT met'}`);
const n = [...findings.values()].reduce((a, b) => a + b, 0);
console.log(`findings: ${n}${n ? ` (${[...findings].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''}`);

// False positives over real source code, raw and under the new layers.
const fp = fpCorpus(scanner, { maxBytes: 16 * 1024 * 1024, layers: true });
console.log(`false positives: ${fp.hits.length} in ${fp.files} files, ${(fp.bytes / 1e6).toFixed(1)} MB (this repository and ${fp.packages.join(', ')}; each raw, and its first 64 KiB gzip-compressed, base64 and UTF-16)`);
for (const h of fp.hits) console.log(`  ${h}`);

// Worst cases: inputs built to make the decoding layers work hardest.
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const nest = (n: number, s: string) => {
  for (let i = 0; i < n; i++) s = b64(s);
  return s;
};
const MB = 1 << 20;
const worst: [string, string | Buffer][] = [
  ['one 4 MB base64-alphabet run', 'A'.repeat(4 * MB)],
  ['percent-encoding of percent-encoding (4 MB)', '%2541'.repeat((4 * MB) / 5)],
  ['printable text base64-nested 6 deep, many copies', Array.from({ length: 4000 }, (_, i) => nest(6, `copy ${i} of the decoy text`)).join('\n')],
  ['base64 of hex of base64, many copies', Array.from({ length: 20_000 }, (_, i) => b64(Buffer.from(b64(`copy ${i} of it`)).toString('hex'))).join(' ')],
  ['escaped escapes (4 MB)', '"' + '\\\\u0041'.repeat((4 * MB) / 10) + '"'],
  ['UTF-16 fragments between NULs (4 MB)', Buffer.concat(Array.from({ length: (4 * MB) / 64 }, () => Buffer.concat([Buffer.from('abcdefghijklmnop', 'utf16le'), Buffer.alloc(32)])))],
  ['gzip magic every 16 bytes (4 MB)', Buffer.concat(Array.from({ length: (4 * MB) / 16 }, () => Buffer.from([0x1f, 0x8b, 0x08, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])))],
  ['300 corrupt gzip streams', Buffer.concat(Array.from({ length: 300 }, (_, i) => { const g = zlib.gzipSync('some text that compresses '.repeat(300) + i); g[g.length >> 1]! ^= 0xff; return g; }))],
  ['gzip bomb (refused at 32 MiB out)', zlib.gzipSync(Buffer.alloc(256 * MB))],
];
console.log('worst cases (whole input in one scan):');
for (const [name, data] of worst) {
  const t0 = performance.now();
  const f = scanner.scan(data, 'body');
  const ms = performance.now() - t0;
  console.log(`  ${name}: ${(data.length / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(data.length / 1e6 / (ms / 1000)).toFixed(0)} MB/s)${f ? `, ${f.rule} (${f.layer})` : ''}`);
}

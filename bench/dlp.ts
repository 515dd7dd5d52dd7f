// `npm run bench:dlp`: the DLP scanner alone, on one core. Builds a corpus of
// source files (this repo's .ts files, then node_modules' .js/.mjs/.cjs, then
// its .d.ts, up to ~50 MB in all), read once into memory, and scans it in chunks the size of
// HTTP bodies (64 KiB) with the scanner, as the proxy would. Prints the MB/s
// (median of several passes, after a warm-up pass), the target (>= 100 MB/s),
// and the findings (there should be ~0: the corpus holds no credentials).
// The target is reported, never enforced.
//   node bench/dlp.ts [--passes N] [--chunk BYTES] [--max-mb MB]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { notInCorpus, walkFiles } from '../test/helpers/walk.ts';
import { parseArgs } from 'node:util';
import { createScanner } from '../plugins/egress/dlp/index.ts';

const { values: args } = parseArgs({ options: { passes: { type: 'string' }, chunk: { type: 'string' }, 'max-mb': { type: 'string' } } });
const PASSES = Number(args.passes ?? 7);
const CHUNK = Number(args.chunk ?? 64 * 1024);
const MAX_BYTES = Number(args['max-mb'] ?? 50) * 1024 * 1024;
const TARGET = 100;
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

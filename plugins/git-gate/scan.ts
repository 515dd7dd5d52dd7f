// DLP over a push: every object the push brings that the upstream does not
// already have, i.e. `git rev-list --objects <new tips> --not --all` in the
// push's quarantine (the gate's refs mirror the upstream's). That is every
// pushed commit (headers and message), every blob any of them adds or changes
// (each once), and the entry names of every new tree (a file name can carry a
// secret too). Objects stream from one `cat-file --batch` fed by rev-list;
// an object larger than `maxObjectBytes`, or more than `maxTotalBytes` in
// all, is refused unscanned (fail closed: a push the gate cannot read does
// not leave).
// Each object goes whole to the egress proxy's scanner, with its decoding
// layers: a blob is read through gzip/zlib/zstd/zip compression (by magic
// bytes, a `.gz` file is a gzip stream), UTF-16/32 text, and base64, base32,
// hex, URL and backslash escapes nested to the scanner's depth; a blob that
// decompresses past its bound or nests deeper is refused as unscannable.
import type { DlpScanner } from '../../lib/dlp/types.ts';
import { killTree, runGit, type RunOptions, spawnGit } from './git.ts';

export interface ScanLimits {
  /** Largest single object scanned (default 32 MiB). */
  maxObjectBytes: number;
  /** Most bytes scanned per push (default 512 MiB). */
  maxTotalBytes: number;
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = { maxObjectBytes: 32 * 1024 * 1024, maxTotalBytes: 512 * 1024 * 1024 };

export type ScanOutcome =
  | { ok: true; objects: number; bytes: number }
  | { ok: false; kind: 'secret'; rule: string; oid: string; type: string; path: string | undefined }
  | { ok: false; kind: 'too-large'; oid: string; type: string; path: string | undefined; size: number }
  | { ok: false; kind: 'error'; message: string };

/** The entry names of a raw tree object, one per line. */
export function treeNames(raw: Buffer, hashBytes: number): Buffer {
  const names: Buffer[] = [];
  let off = 0;
  while (off < raw.length) {
    const sp = raw.indexOf(0x20, off);
    const nul = raw.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0) break;
    names.push(raw.subarray(sp + 1, nul), Buffer.from('\n'));
    off = nul + 1 + hashBytes;
  }
  return Buffer.concat(names);
}

export async function scanPush(gitDir: string, tips: string[], scanner: DlpScanner, limits: ScanLimits, run: RunOptions): Promise<ScanOutcome> {
  if (tips.length === 0) return { ok: true, objects: 0, bytes: 0 };
  const revList = spawnGit([`--git-dir=${gitDir}`, 'rev-list', '--objects', ...tips, '--not', '--all'], run);
  const catFile = spawnGit([`--git-dir=${gitDir}`, 'cat-file', '--batch=%(objectname) %(objecttype) %(objectsize) %(rest)'], run);
  revList.stdin!.end();
  revList.stdout!.pipe(catFile.stdin!);
  catFile.stdin!.on('error', () => {});
  let revErr = '';
  let catErr = '';
  revList.stderr!.on('data', (b: Buffer) => (revErr += b.toString()));
  catFile.stderr!.on('data', (b: Buffer) => (catErr += b.toString()));
  const revDone = new Promise<number | null>((r) => revList.once('close', (code) => r(code)));
  const catDone = new Promise<number | null>((r) => catFile.once('close', (code) => r(code)));

  const outcome = await new Promise<ScanOutcome>((resolve) => {
    let settled = false;
    const finish = (o: ScanOutcome) => {
      if (settled) return;
      settled = true;
      if (!o.ok) {
        killTree(revList);
        killTree(catFile);
      }
      resolve(o);
    };
    revList.once('error', (e) => finish({ ok: false, kind: 'error', message: `git rev-list: ${e.message}` }));
    catFile.once('error', (e) => finish({ ok: false, kind: 'error', message: `git cat-file: ${e.message}` }));

    let chunks: Buffer[] = [];
    let have = 0;
    let header: { oid: string; type: string; size: number; path: string | undefined } | undefined;
    let objects = 0;
    let total = 0;
    const take = (n: number): Buffer => {
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
      const out = all.subarray(0, n);
      const rest = all.subarray(n);
      chunks = rest.length ? [rest] : [];
      have = rest.length;
      return out;
    };
    const pump = () => {
      for (;;) {
        if (!header) {
          // Headers are short; look for the newline in what we have.
          const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, have);
          chunks = all.length ? [all] : [];
          const nl = all.indexOf(0x0a);
          if (nl < 0) return;
          const line = take(nl + 1).toString('utf8').slice(0, -1);
          const m = /^(\S+) (\S+) (\d+) ?(.*)$/.exec(line);
          if (!m) return finish({ ok: false, kind: 'error', message: `cannot read pushed object: ${line.slice(0, 100)}` });
          const [, oid, type, sizeText, rest] = m;
          const size = Number(sizeText);
          const path = rest ? rest : undefined;
          if (type !== 'tree' && size > limits.maxObjectBytes) return finish({ ok: false, kind: 'too-large', oid: oid!, type: type!, path, size });
          total += size;
          if (total > limits.maxTotalBytes) return finish({ ok: false, kind: 'too-large', oid: oid!, type: type!, path, size: total });
          header = { oid: oid!, type: type!, size, path };
        }
        if (have < header.size + 1) return;
        const data = take(header.size + 1).subarray(0, header.size);
        const h = header;
        header = undefined;
        objects++;
        const body = h.type === 'tree' ? treeNames(data, h.oid.length / 2) : data;
        const f = scanner.scan(body, 'body');
        if (f) return finish({ ok: false, kind: 'secret', rule: f.rule, oid: h.oid, type: h.type, path: h.path });
      }
    };
    catFile.stdout!.on('data', (b: Buffer) => {
      if (settled) return;
      chunks.push(b);
      have += b.length;
      pump();
    });
    catFile.stdout!.once('end', () => {
      void Promise.all([revDone, catDone]).then(([rc, cc]) => {
        if (rc !== 0) return finish({ ok: false, kind: 'error', message: `the pushed history is incomplete or unreadable: ${revErr.trim().split('\n').pop() ?? rc}` });
        if (cc !== 0) return finish({ ok: false, kind: 'error', message: `cannot read pushed objects: ${catErr.trim().split('\n').pop() ?? cc}` });
        if (header || have) return finish({ ok: false, kind: 'error', message: 'truncated object stream' });
        finish({ ok: true, objects, bytes: total });
      });
    });
  });
  await Promise.all([revDone, catDone]);
  return outcome;
}

/** The oldest new commit that brings `oid` (for a refusal message); the object itself when it is a commit. */
export async function commitOf(gitDir: string, tips: string[], oid: string, type: string, run: RunOptions): Promise<string | undefined> {
  if (type === 'commit') return oid;
  const r = await runGit(
    [`--git-dir=${gitDir}`, 'log', '--format=%H', '--no-ext-diff', '--no-textconv', '--no-renames', `--find-object=${oid}`, ...tips, '--not', '--all'],
    { ...run, timeoutMs: 60_000 },
  );
  const lines = r.stdout.toString().trim().split('\n').filter(Boolean);
  return lines.at(-1);
}

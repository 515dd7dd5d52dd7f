// Files of a tree in a stable order: the corpus of the DLP false-positive
// test and of bench/dlp.
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** Files under `dir` whose name matches `re`, depth first, sorted; `skip` prunes directories by name. */
export function* walkFiles(dir: string, re: RegExp, skip: (name: string) => boolean): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!skip(e.name)) yield* walkFiles(p, re, skip);
    } else if (e.isFile() && re.test(e.name)) yield p;
  }
}

/**
 * Directories of node_modules left out of a "no secrets here" corpus:
 * @secretlint's bundle documents its rules with example credentials, and
 * dependencies' own test suites hold example URLs with passwords. Both are
 * true positives; what ships and runs is scanned.
 */
export const notInCorpus = (name: string) => name === '@secretlint' || name === 'test' || name === 'tests' || name === '__tests__';

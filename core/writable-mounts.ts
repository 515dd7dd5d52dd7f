// The record of host directories bottles had mounted read-write, and when.
//
// Why: in `workspace: mount` the agent writes straight into a host directory.
// The files `bottle` itself runs or trusts from there (its config and every
// module that config imports) must not be the agent's. Files that exist when
// the bottle starts are mounted read-only over the workspace, but a NEW
// config file (a `bottle.config.ts` where there was none, or a higher-ranked
// `.bottlerc`) or an edited module the config imports cannot be stopped that
// way. So each bottle notes its writable host dirs and the time span it had
// them (`<state>/writable-mounts.jsonl`, outside every workspace), and the
// config loader refuses any file it would run or read whose status-change
// time (ctime: set by the kernel on every write, rename or chmod, and not
// settable by the writer) falls inside such a span. `touch`ing a file after
// reading it moves its ctime out of every span: that is how a user accepts it.
import { appendFileSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const FILE = 'writable-mounts.jsonl';
/** Spans kept; older ones are dropped (a file changed that long ago and never since is accepted). */
const MAX_SPANS = 5000;
/** Slack before a span's start, on filesystems that keep ctime in whole seconds. */
const SLACK_MS = 1000;

export interface WritableSpan {
  slug: string;
  /** Absolute host directory (or file) the guest could write. */
  dir: string;
  /** Epoch ms before the guest could first write it. */
  from: number;
  /** Epoch ms after the guest was gone; undefined while the bottle runs or was never cleaned up. */
  to?: number;
  /** The dir's identity, so a workspace moved or renamed afterwards is still recognised. */
  dev?: number;
  ino?: number;
}

type Line = { slug: string; dirs: string[]; ids?: Array<[number, number] | null>; from: number } | { slug: string; to: number };

export const writableMountsPath = (root: string) => path.join(root, FILE);

/** Notes that `slug` is about to get `dirs` read-write. */
export function recordWritableMounts(root: string, slug: string, dirs: readonly string[], now = Date.now()): void {
  if (dirs.length === 0) return;
  const abs = dirs.map((d) => path.resolve(d));
  const ids = abs.map((d) => {
    const st = statSync(d, { throwIfNoEntry: false });
    return st ? ([st.dev, st.ino] as [number, number]) : null;
  });
  append(root, { slug, dirs: abs, ids, from: now });
}

/** Notes that `slug`'s guest is gone (called when its state dir is removed: teardown, `down`, `gc`). */
export function endWritableMounts(root: string, slug: string, now = Date.now()): void {
  const spans = readWritableSpans(root);
  if (!spans.some((s) => s.slug === slug && s.to === undefined)) return;
  append(root, { slug, to: now });
}

export function readWritableSpans(root: string): WritableSpan[] {
  let text: string;
  try {
    text = readFileSync(writableMountsPath(root), 'utf8');
  } catch {
    return [];
  }
  const spans: WritableSpan[] = [];
  const open = new Map<string, WritableSpan[]>();
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    let line: Partial<Line & { dirs: unknown; to: unknown; from: unknown }>;
    try {
      line = JSON.parse(raw) as typeof line;
    } catch {
      continue; // a torn last line after a crash
    }
    if (typeof line.slug !== 'string') continue;
    if (Array.isArray(line.dirs) && typeof line.from === 'number') {
      const ids = Array.isArray((line as { ids?: unknown }).ids) ? ((line as { ids: unknown[] }).ids) : [];
      const mine: WritableSpan[] = line.dirs.flatMap((dir, i) => {
        if (typeof dir !== 'string') return [];
        const id = ids[i];
        const span: WritableSpan = { slug: line.slug!, dir, from: line.from as number };
        if (Array.isArray(id) && typeof id[0] === 'number' && typeof id[1] === 'number') Object.assign(span, { dev: id[0], ino: id[1] });
        return [span];
      });
      spans.push(...mine);
      open.set(line.slug, mine);
    } else if (typeof line.to === 'number') {
      for (const s of open.get(line.slug) ?? []) s.to = line.to;
      open.delete(line.slug);
    }
  }
  return spans;
}

/**
 * The span in which `file` was last changed by a bottle that could write it
 * (its `dir` as it is now, should the workspace have moved since),
 * if any. A symlink counts twice: the link (the agent could have made it
 * point at any file of the host) and what it points to.
 */
export function agentWritableChange(file: string, spans: readonly WritableSpan[]): WritableSpan | undefined {
  if (spans.length === 0) return undefined;
  const abs = path.resolve(file);
  // Where each span's dir is now: at its path, or wherever it was moved (same dev and inode above the file).
  const here = spans.flatMap((s) => {
    const root = rootOf(abs, s);
    return root === undefined ? [] : [{ ...s, dir: root }];
  });
  // A directory on the way that is a link the agent made (`lib` -> some old dir of the host) redirects the file.
  for (const s of here) {
    const parts = path.relative(s.dir, abs).split(path.sep).slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = path.join(s.dir, ...parts.slice(0, i));
      if (lstatSync(dir, { throwIfNoEntry: false })?.isSymbolicLink() && changedIn(dir, false, [s])) return s;
    }
  }
  return changedIn(abs, false, here) ?? changedIn(abs, true, here);
}

/** The directory of span `s` as it is now above `abs`: its recorded path, or an ancestor with its dev and inode. */
function rootOf(abs: string, s: WritableSpan): string | undefined {
  const rel = path.relative(s.dir, abs);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) return s.dir;
  if (s.ino === undefined) return undefined;
  for (let d = path.dirname(abs); ; d = path.dirname(d)) {
    const st = lstatSync(d, { throwIfNoEntry: false });
    if (st && st.ino === s.ino && st.dev === s.dev) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/** The span of `spans` containing `abs` in which its status changed (of the link itself unless `follow`). */
function changedIn(abs: string, follow: boolean, spans: readonly WritableSpan[]): WritableSpan | undefined {
  let ctime: number;
  let slack: number;
  try {
    const ns = (follow ? statSync(abs, { bigint: true }) : lstatSync(abs, { bigint: true })).ctimeNs;
    ctime = Number(ns / 1_000_000n);
    // Whole seconds: the filesystem keeps no finer time, so a change just before a start may read as during it.
    slack = ns % 1_000_000_000n === 0n ? SLACK_MS : 0;
  } catch {
    return undefined;
  }
  return spans.find((s) => {
    const rel = path.relative(s.dir, abs);
    const inside = rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
    return inside && ctime >= s.from - slack && (s.to === undefined || ctime <= s.to);
  });
}

function append(root: string, line: Line): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const file = writableMountsPath(root);
  appendFileSync(file, JSON.stringify(line) + '\n', { mode: 0o600 });
  compact(file);
}

/** Keeps the file bounded: past MAX_SPANS starts, the oldest CLOSED spans go; an open one (a bottle still running, or not cleaned up) always stays. */
function compact(file: string): void {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  if (lines.length <= MAX_SPANS * 2) return;
  const parsed = lines.map((l) => {
    try {
      return JSON.parse(l) as { slug?: unknown; to?: unknown };
    } catch {
      return {};
    }
  });
  const closed = new Set(parsed.filter((l) => typeof l.to === 'number').map((l) => l.slug));
  const keepFrom = lines.length - MAX_SPANS;
  const kept = lines.filter((_, i) => i >= keepFrom || !closed.has(parsed[i]!.slug));
  writeFileSync(file, kept.join('\n') + '\n', { mode: 0o600 });
}

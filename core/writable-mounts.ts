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
}

type Line = { slug: string; dirs: string[]; from: number } | { slug: string; to: number };

export const writableMountsPath = (root: string) => path.join(root, FILE);

/** Notes that `slug` is about to get `dirs` read-write. */
export function recordWritableMounts(root: string, slug: string, dirs: readonly string[], now = Date.now()): void {
  if (dirs.length === 0) return;
  append(root, { slug, dirs: dirs.map((d) => path.resolve(d)), from: now });
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
      const mine = line.dirs.filter((d): d is string => typeof d === 'string').map((dir) => ({ slug: line.slug!, dir, from: line.from as number }));
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
 * The span in which `file` was last changed by a bottle that could write it,
 * if any. A symlink counts twice: the link (the agent could have made it
 * point at any file of the host) and what it points to.
 */
export function agentWritableChange(file: string, spans: readonly WritableSpan[]): WritableSpan | undefined {
  if (spans.length === 0) return undefined;
  const abs = path.resolve(file);
  for (const follow of [false, true]) {
    let ctime: number;
    let slack: number;
    try {
      const ns = (follow ? statSync(abs, { bigint: true }) : lstatSync(abs, { bigint: true })).ctimeNs;
      ctime = Number(ns / 1_000_000n);
      // Whole seconds: the filesystem keeps no finer time, so a change just before a start may read as during it.
      slack = ns % 1_000_000_000n === 0n ? SLACK_MS : 0;
    } catch {
      continue;
    }
    const hit = spans.find((s) => {
      const rel = path.relative(s.dir, abs);
      const inside = rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
      return inside && ctime >= s.from - slack && (s.to === undefined || ctime <= s.to);
    });
    if (hit) return hit;
  }
  return undefined;
}

function append(root: string, line: Line): void {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const file = writableMountsPath(root);
  appendFileSync(file, JSON.stringify(line) + '\n', { mode: 0o600 });
  compact(file);
}

/** Keeps the file bounded: past MAX_SPANS starts, the oldest closed spans go. */
function compact(file: string): void {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  if (lines.length <= MAX_SPANS * 2) return;
  writeFileSync(file, lines.slice(-MAX_SPANS).join('\n') + '\n', { mode: 0o600 });
}

// What `bottle selftest` prints: one line per attempt with its verdict, a
// summary line, or the same as one JSON document (--json). Everything shown
// went through sanitize(): the details quote what the guest and its doors said.
import { sanitize } from '../../lib/sanitize.ts';
import { exitCodeOf, type Attempt, type Verdict } from './verdicts.ts';

const LABEL: Record<Verdict, string> = { refused: 'refused', 'got-through': 'GOT THROUGH', skipped: 'skipped', inconclusive: 'UNJUDGED' };

export interface SelftestReport {
  ok: boolean;
  slug: string;
  agent: string;
  bottle: string;
  counts: Record<Verdict, number>;
  attempts: Attempt[];
}

const clean = (s: string, max: number) => sanitize(s, { singleLine: true, maxLength: max });

export function buildReport(meta: { slug: string; agent: string; bottle: string }, attempts: readonly Attempt[]): SelftestReport {
  const counts: Record<Verdict, number> = { refused: 0, 'got-through': 0, skipped: 0, inconclusive: 0 };
  for (const a of attempts) counts[a.verdict]++;
  return {
    ok: exitCodeOf(attempts) === 0,
    ...meta,
    counts,
    attempts: attempts.map((a) => ({ ...a, title: clean(a.title, 200), detail: clean(a.detail, 600) })),
  };
}

/** `refused      network  tcp to 172.17.0.1:40999: ENETUNREACH ...` */
export function formatLine(a: Attempt): string {
  return `${LABEL[a.verdict].padEnd(11)} ${a.group.padEnd(11)} ${clean(a.title, 200)}: ${clean(a.detail, 600)}`;
}

export function summaryLine(r: SelftestReport): string {
  const c = r.counts;
  const total = r.attempts.length;
  const parts = [`${c.refused} refused`];
  if (c['got-through']) parts.push(`${c['got-through']} GOT THROUGH`);
  if (c.inconclusive) parts.push(`${c.inconclusive} could not be judged`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  const head = `bottle selftest: ${total} attempt${total === 1 ? '' : 's'}: ${parts.join(', ')}`;
  if (r.ok) return `${head}; every attempt was refused (audit: bottle logs ${r.slug})`;
  const bad = r.attempts.filter((a) => a.verdict === 'got-through' || a.verdict === 'inconclusive').map((a) => a.title);
  const which = bad.length ? `; not refused: ${bad.slice(0, 6).map((t) => clean(t, 80)).join(', ')}${bad.length > 6 ? `, and ${bad.length - 6} more` : ''}` : '; nothing was refused';
  return `${head}${which} (audit: bottle logs ${r.slug})`;
}

export function formatText(r: SelftestReport): string {
  return `${r.attempts.map(formatLine).join('\n')}\n${summaryLine(r)}\n`;
}

export function formatJson(r: SelftestReport): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}

// `bottle logs [SLUG] [--json] [--follow]`: a bottle's audit trail, live
// (in its state dir) or ended (kept in logs/). Every field the agent could
// have written is neutralised before it reaches the terminal.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BottleError } from '../../core/errors.ts';
import { auditLogPath, bottlesDir, logsDir, stateRoot } from '../../core/state.ts';
import { safeJson, sanitize } from '../../lib/sanitize.ts';

interface Found {
  slug: string;
  file: string;
  live: boolean;
}

/** Every bottle with an audit trail, newest last. */
function trails(root: string): Found[] {
  const out: Found[] = [];
  const add = (slug: string, file: string, live: boolean) => {
    if (existsSync(file)) out.push({ slug, file, live });
  };
  for (const slug of safeList(bottlesDir(root))) add(slug, path.join(bottlesDir(root), slug, 'audit.jsonl'), true);
  for (const f of safeList(logsDir(root))) if (f.endsWith('.audit.jsonl')) add(f.slice(0, -'.audit.jsonl'.length), path.join(logsDir(root), f), false);
  return out.sort((a, b) => statSync(a.file).mtimeMs - statSync(b.file).mtimeMs);
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Fields shown after the time, plugin and type, in this order; any others follow. */
const FIRST = ['host', 'method', 'path', 'status', 'rule', 'remote', 'ref', 'kind', 'subject', 'id', 'approved', 'reason', 'outcome', 'exitCode'];
const SKIP = new Set(['time', 'slug', 'plugin', 'type']);

/** One readable line: `12:03:04  egress  egress.deny  host=x.test status=403 reason="..."`. */
export function formatRecord(rec: Record<string, unknown>): string {
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 19) : '--:--:--';
  const keys = [...FIRST.filter((k) => k in rec), ...Object.keys(rec).filter((k) => !FIRST.includes(k) && !SKIP.has(k))];
  const fields = keys.map((k) => {
    const v = rec[k];
    const text = sanitize(typeof v === 'string' ? v : JSON.stringify(v), { singleLine: true, maxLength: 300 });
    return `${k}=${/[\s"=]/.test(text) || text === '' ? `"${text.replace(/"/g, '\\"')}"` : text}`;
  });
  return [time, sanitize(String(rec.plugin ?? 'bottle'), { singleLine: true, maxLength: 40 }).padEnd(10), sanitize(String(rec.type ?? '?'), { singleLine: true, maxLength: 60 }).padEnd(18), fields.join(' ')].join('  ').trimEnd();
}

function print(line: string, json: boolean): void {
  if (!line.trim()) return;
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return; // a torn last line while the bottle writes it: skipped
  }
  process.stdout.write(json ? `${safeJson(rec)}\n` : `${formatRecord(rec)}\n`);
}

export async function logsCommand(slug: string | undefined, opts: { json?: boolean; follow?: boolean }, signal?: AbortSignal): Promise<number> {
  const root = stateRoot();
  const all = trails(root);
  const found = slug ? all.filter((t) => t.slug === slug).pop() : all.at(-1);
  if (!found) {
    throw new BottleError(slug ? `no audit trail for a bottle named "${slug}"` : 'no bottle has an audit trail yet', {
      code: 'USAGE',
      hint: slug ? '`bottle ps` lists live bottles; ended ones are kept in ' + logsDir(root) : 'run a bottle first',
    });
  }
  let offset = 0;
  let rest = '';
  const drain = (file: string) => {
    const text = readFileSync(file);
    if (text.length <= offset) return;
    const chunk = rest + text.subarray(offset).toString('utf8');
    offset = text.length;
    const lines = chunk.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) print(l, Boolean(opts.json));
  };
  let file = found.file;
  drain(file);
  if (!opts.follow) {
    print(rest, Boolean(opts.json));
    return 0;
  }
  // Follow: until the bottle ends (its trail moves to logs/ with a bottle.end record) or we are stopped.
  const kept = auditLogPath(root, found.slug);
  while (!signal?.aborted) {
    if (!existsSync(file)) {
      if (!existsSync(kept)) break;
      // Moved at teardown: read the rest from where it is kept.
      file = kept;
    }
    drain(file);
    if (file === kept && !existsSync(found.file)) break;
    await sleep(200, undefined, { ref: true }).catch(() => {});
  }
  print(rest, Boolean(opts.json));
  return 0;
}

// The audit file is bounded whatever the guest does: the same decision
// repeated is counted, not written each time; every decision still shows
// with its count; a hard cap stops the rest; the bottle's end is always there.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../../core/audit-log.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function log() {
  const dir = mkdtempSync(path.join(tmpdir(), 'audit-'));
  dirs.push(dir);
  const file = path.join(dir, 'audit.jsonl');
  return { audit: new AuditLog(dir), records: () => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>), bytes: () => statSync(file).size };
}
const deny = (host: string, i: number) => ({ time: `t${i}`, slug: 's', type: 'egress.deny', plugin: 'egress', host, method: 'GET', path: `/${i}`, reason: 'not allowed', status: 403 });

describe('audit log', () => {
  it('a refusal repeated 40,000 times is a few records with the counts, not 40,000 lines', () => {
    const { audit, records, bytes } = log();
    for (let i = 0; i < 40_000; i++) audit.write(deny('example.test', i));
    audit.write({ type: 'bottle.end', slug: 's', outcome: 'success' });
    const recs = records();
    expect(bytes()).toBeLessThan(20_000);
    expect(recs.filter((r) => r.type === 'egress.deny')).toHaveLength(20);
    const repeated = recs.filter((r) => r.type === 'audit.repeated');
    expect(repeated.every((r) => r.of === 'egress.deny' && r.host === 'example.test' && r.reason === 'not allowed')).toBe(true);
    expect(repeated.reduce((n, r) => n + (r.repeated as number), 0)).toBe(40_000 - 20);
    expect(repeated.at(-1)!.total).toBe(40_000);
    expect(recs.at(-1)!.type).toBe('bottle.end');
  });

  it('distinct decisions are each written in full', () => {
    const { audit, records } = log();
    audit.write(deny('a.test', 1));
    audit.write(deny('b.test', 2));
    audit.write({ ...deny('a.test', 3), type: 'egress.allow', status: 200 });
    expect(records().map((r) => `${r.type} ${r.host}`)).toEqual(['egress.deny a.test', 'egress.deny b.test', 'egress.allow a.test']);
  });

  it('a new host on every request stops at the size cap, saying so once; the end is still written', () => {
    const { audit, records, bytes } = log();
    for (let i = 0; i < 120_000; i++) audit.write(deny(`h${i}-${'x'.repeat(100)}.test`, i));
    audit.write({ type: 'bottle.end', slug: 's', outcome: 'success' });
    expect(bytes()).toBeLessThan(17 * 1024 * 1024);
    const recs = records();
    expect(recs.filter((r) => r.type === 'audit.truncated')).toHaveLength(1);
    expect(recs.at(-1)!.type).toBe('bottle.end');
  });
});

// `bottle logs`: a bottle's audit trail, live or ended, readable and with
// the agent's text neutralised; --json as written; --follow until the end.
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN } from '../../helpers/cli.ts';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
function stateRoot(): string {
  const r = mkdtempSync(path.join(tmpdir(), 'logs-'));
  roots.push(r);
  mkdirSync(path.join(r, 'bottles'));
  mkdirSync(path.join(r, 'logs'));
  return r;
}
const line = (o: object) => `${JSON.stringify(o)}\n`;
const logs = (root: string, args: string[]) => execa(process.execPath, [BIN, 'logs', ...args], { env: { BOTTLE_STATE_HOME: root }, reject: false });

describe('bottle logs', () => {
  it('shows the newest trail, one readable line a record, with escapes and bidi marks neutralised', async () => {
    const root = stateRoot();
    const old = path.join(root, 'logs', 'old-aaaaa.audit.jsonl');
    writeFileSync(old, line({ time: '2026-12-01T10:00:00.000Z', slug: 'old-aaaaa', type: 'bottle.start' }));
    utimesSync(old, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
    writeFileSync(
      path.join(root, 'logs', 'new-bbbbb.audit.jsonl'),
      line({ time: '2026-12-02T10:00:01.000Z', slug: 'new-bbbbb', plugin: 'egress', type: 'egress.deny', host: 'evil.test', method: 'GET', path: '/x', status: 403, reason: 'not allowed \u001b]0;pwned\u0007 \u202eevil' }),
    );
    const r = await logs(root, []);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^10:00:01 {2}egress {6}egress\.deny {9}host=evil\.test method=GET path=\/x status=403 reason="not allowed .*pwned.* .*evil"$/);
    expect(r.stdout).not.toMatch(/[\u001b\u0007\u202e]/);
    expect(r.stdout).toContain('pwned');
  });

  it('--json prints the records as written; a slug picks the bottle; an unknown one is a usage error', async () => {
    const root = stateRoot();
    const recs = [{ time: 't1', slug: 'a-11111', type: 'bottle.start' }, { time: 't2', slug: 'a-11111', type: 'bottle.end', outcome: 'success' }];
    writeFileSync(path.join(root, 'logs', 'a-11111.audit.jsonl'), recs.map(line).join(''));
    writeFileSync(path.join(root, 'logs', 'b-22222.audit.jsonl'), line({ time: 't3', slug: 'b-22222', type: 'bottle.start' }));
    const r = await logs(root, ['a-11111', '--json']);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(recs);
    const missing = await logs(root, ['nope-33333']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('no audit trail for a bottle named "nope-33333"');
  });

  it('--follow shows new records of a live bottle and ends when its trail is kept at teardown', async () => {
    const root = stateRoot();
    const dir = path.join(root, 'bottles', 'live-ccccc');
    mkdirSync(dir);
    const live = path.join(dir, 'audit.jsonl');
    writeFileSync(live, line({ time: '2026-12-02T10:00:00.000Z', type: 'bottle.start' }));
    const follow = logs(root, ['live-ccccc', '--follow']);
    await sleep(600);
    appendFileSync(live, line({ time: '2026-12-02T10:00:02.000Z', plugin: 'egress', type: 'egress.allow', host: 'ok.test', status: 200 }));
    await sleep(600);
    appendFileSync(live, line({ time: '2026-12-02T10:00:03.000Z', type: 'bottle.end', outcome: 'success' }));
    renameSync(live, path.join(root, 'logs', 'live-ccccc.audit.jsonl'));
    rmSync(dir, { recursive: true });
    const r = await follow;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split(/\s+/)[2])).toEqual(['bottle.start', 'egress.allow', 'bottle.end']);
  }, 20_000);
});

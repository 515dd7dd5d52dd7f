// The human's side of supervise, through the real CLI: listing (also
// following with --watch), approving and denying, wrong IDs as usage errors.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { ownerToken } from '../../../core/owner.ts';
import { createQueue, queueDir } from '../../../plugins/supervise/queue.ts';
import { BIN } from '../../helpers/cli.ts';

function bottleState(slug: string) {
  const root = mkdtempSync(path.join(tmpdir(), 'bottle-approvals-'));
  const dir = path.join(root, 'bottles', slug);
  mkdirSync(dir, { recursive: true });
  // Owned by this (live) process, as a running bottle's would be.
  writeFileSync(path.join(dir, 'owner.json'), JSON.stringify({ slug, owner: ownerToken(), created: new Date().toISOString() }));
  return { root, queue: createQueue({ dir: queueDir(dir), slug, pollMs: 50 }) };
}

const cli = (root: string, ...args: string[]) => execa(process.execPath, [BIN, ...args], { env: { BOTTLE_STATE_HOME: root }, reject: false });

describe('bottle approvals / approve / deny', () => {
  it('lists pending requests, neutralised, and answers them', async () => {
    const { root, queue } = bottleState('demo-abcde');
    const req = queue.createRequest({ kind: 'egress', subject: 'pypi.org', reason: 'deps \u001b[2J\u202eevil', timeoutMs: 60_000 });
    const waiting = queue.waitForAnswer(req.id);
    const list = await cli(root, 'approvals', '--json');
    expect(list.exitCode).toBe(0);
    const [item] = JSON.parse(list.stdout);
    expect(item).toMatchObject({ id: req.id, slug: 'demo-abcde', kind: 'egress', subject: 'pypi.org' });
    expect(list.stdout).not.toMatch(/\\u001b|\\u202e/);
    const human = await cli(root, 'approvals');
    expect(human.stdout).toContain(`bottle approve ${req.id}`);

    const ok = await cli(root, 'deny', req.id, '--reason', 'not now');
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain(`denied ${req.id}`);
    expect(await waiting).toMatchObject({ outcome: 'denied', reason: 'not now' });
    const twice = await cli(root, 'approve', req.id);
    expect(twice.exitCode).toBe(1);
    expect(twice.stderr).toContain('already denied');
    expect((await cli(root, 'approvals', '--json')).stdout.trim()).toBe('[]');
    queue.close();
  });

  it('a malformed or unknown id is a usage error', async () => {
    const { root, queue } = bottleState('demo-fghij');
    expect((await cli(root, 'approve', 'bad id')).exitCode).toBe(2);
    expect((await cli(root, 'approve', 'abcdefghjk')).exitCode).toBe(2);
    queue.close();
  });

  it('--watch follows new requests until interrupted', async () => {
    const { root, queue } = bottleState('demo-klmno');
    const watch = execa(process.execPath, [BIN, 'approvals', '--watch', '--json'], { env: { BOTTLE_STATE_HOME: root }, reject: false });
    let out = '';
    watch.stdout!.on('data', (d) => (out += String(d)));
    await sleep(1000);
    const req = queue.createRequest({ kind: 'ask', subject: 'May I?', reason: '', timeoutMs: 60_000 });
    for (let i = 0; i < 50 && !out.includes(req.id); i++) await sleep(100);
    expect(out).toContain(req.id);
    watch.kill('SIGINT');
    expect((await watch).exitCode).toBe(0);
    queue.close();
  });
});

describe('agent text never reaches the terminal raw', () => {
  // An OSC window title, a screen clear, colours, a C1 CSI, a bidi override and a zero-width space.
  const hostile = 'pypi.org\u001b]0;pwned\u0007\u001b[2J\u001b[31mred\u009b1m\u202egnp.exe\u200b';
  const raw = /[\u001b\u0007\u009b\u202e\u200b]/;

  it('approve, deny and approvals --json show it neutralised', async () => {
    const { root, queue } = bottleState('demo-esc01');
    const a = queue.createRequest({ kind: 'egress', subject: hostile, reason: hostile, timeoutMs: 60_000 });
    const b = queue.createRequest({ kind: 'egress', subject: hostile, reason: hostile, timeoutMs: 60_000 });
    const answered = [queue.waitForAnswer(a.id), queue.waitForAnswer(b.id)];
    const list = await cli(root, 'approvals', '--json');
    expect(list.stdout).not.toMatch(raw);
    // Still the same data to a parser.
    expect(JSON.stringify(JSON.parse(list.stdout))).toBeTruthy();
    expect((await cli(root, 'approvals')).stdout).not.toMatch(raw);
    const approved = await cli(root, 'approve', a.id);
    expect(approved.exitCode).toBe(0);
    expect(approved.stdout).toContain(`approved ${a.id}`);
    expect(approved.stdout).toContain('␛]0;pwned');
    expect(approved.stdout).not.toMatch(raw);
    const denied = await cli(root, 'deny', b.id, '--reason', 'no');
    expect(denied.exitCode).toBe(0);
    expect(denied.stdout).not.toMatch(raw);
    await Promise.all(answered);
    queue.close();
  });
});

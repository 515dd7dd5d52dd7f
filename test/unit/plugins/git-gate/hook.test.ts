// The pre-receive hook's channel to the gate: the real script (sh + curl)
// reaches the control socket, and the socket judges only pushes the gate
// started, with a quarantine directory of the expected shape.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HookContext, type HookServer, parseUpdates, startHookServer, TOKEN_ENV } from '../../../../plugins/git-gate/hook.ts';

const A = 'a'.repeat(40);
const Z = '0'.repeat(40);
let dir: string;
let hooks: HookServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bottle-hook-test-'));
  hooks = await startHookServer({ socketPath: join(dir, 'hook.sock'), hookPath: join(dir, 'pre-receive') });
});
afterAll(async () => {
  await hooks?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the hook script as receive-pack would. */
function runHook(env: Record<string, string>, stdin: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const c = spawn('/bin/sh', [join(dir, 'pre-receive')], { env: { PATH: process.env.PATH!, ...env } });
    let out = '';
    c.stdout.on('data', (b: Buffer) => (out += b.toString()));
    c.stderr.on('data', (b: Buffer) => (out += b.toString()));
    c.once('close', (code) => resolve({ code, out }));
    c.stdin.end(stdin);
  });
}

function post(headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: join(dir, 'hook.sock'), method: 'POST', path: '/pre-receive', headers }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('pre-receive hook channel', () => {
  it('the script and its socket are private to the user', () => {
    expect(statSync(join(dir, 'pre-receive')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'hook.sock')).mode & 0o077).toBe(0);
  });

  it('passes the self-test with the real script', async () => {
    await expect(hooks.selfTest()).resolves.toBeUndefined();
  });

  it('hands a registered push to its judge and relays the verdict', async () => {
    const seen: HookContext[] = [];
    const reg = hooks.register('/repo/objects', async (ctx) => {
      seen.push(ctx);
      return ctx.updates[0]!.ref.endsWith('/ok') ? { ok: true, lines: ['fine'] } : { ok: false, lines: ['git-gate: refused: no'] };
    });
    const env = { [TOKEN_ENV]: reg.token, GIT_QUARANTINE_PATH: '/repo/objects/tmp_objdir-incoming-Ab12Cd' };
    const good = await runHook(env, `${Z} ${A} refs/heads/ok\n`);
    expect(good).toEqual({ code: 0, out: 'fine\n' });
    const bad = await runHook(env, `${Z} ${A} refs/heads/no\n`);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toContain('git-gate: refused: no');
    expect(seen[0]).toEqual({ quarantine: '/repo/objects/tmp_objdir-incoming-Ab12Cd', updates: [{ old: Z, new: A, ref: 'refs/heads/ok' }] });
    // A push that only deletes has no quarantine.
    await runHook({ [TOKEN_ENV]: reg.token }, `${A} ${Z} refs/heads/ok\n`);
    expect(seen[2]!.quarantine).toBeUndefined();
    reg.release();
    const after = await runHook(env, `${Z} ${A} refs/heads/ok\n`);
    expect(after.code).not.toBe(0);
    expect(after.out).toContain('not one the gate started');
  });

  it('refuses unknown tokens, strange quarantines and unreadable updates', async () => {
    expect((await post({ 'x-gate-push': 'guess' }, '')).status).toBe(403);
    const reg = hooks.register('/repo/objects', async () => ({ ok: true, lines: [] }));
    expect((await post({ 'x-gate-push': reg.token, 'x-gate-quarantine': '../../etc' }, '')).status).toBe(403);
    expect((await post({ 'x-gate-push': reg.token, 'x-gate-quarantine': 'incoming-x' }, 'not an update\n')).status).toBe(403);
    expect((await post({ 'x-gate-push': reg.token, 'x-gate-quarantine': 'incoming-x' }, `${Z} ${A} refs/heads/x\n`)).status).toBe(200);
    reg.release();
  });

  it('parses ref updates', () => {
    expect(parseUpdates(`${Z} ${A} refs/heads/a\n${A} ${Z} refs/heads/b\n`)).toEqual([
      { old: Z, new: A, ref: 'refs/heads/a' },
      { old: A, new: Z, ref: 'refs/heads/b' },
    ]);
    expect(parseUpdates('x y z\n')).toBeUndefined();
  });
});

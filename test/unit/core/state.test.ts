// The bottle's state dir: where its doors live (a short fallback when the
// path would not fit a socket), and the host processes it recorded, ended
// when the state dir goes (teardown, `bottle down`, `bottle gc`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SOCKET_PATH } from '../../../core/doors.ts';
import { recordHostProcess } from '../../../core/host-processes.ts';
import { createDoorsDir, createStateDir, doorsDirFor, removeStateDir } from '../../../core/state.ts';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});
const root = (name = 'state-') => {
  const r = mkdtempSync(path.join(tmpdir(), name));
  roots.push(r);
  return r;
};

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('doors dir', () => {
  it('lives in the state dir, and moves to a short private dir when a socket path there would be too long', () => {
    const short = root();
    expect(doorsDirFor(short, 'demo-abc12')).toBe(path.join(short, 'bottles', 'demo-abc12', 'doors'));
    const deep = path.join(root(), 'x'.repeat(80));
    const moved = doorsDirFor(deep, 'demo-abc12');
    expect(moved).toBe(path.join(tmpdir(), 'claude-bottle-doors-demo-abc12'));
    expect(path.join(moved, 'a-long-door-name-here.sock').length).toBeLessThanOrEqual(MAX_SOCKET_PATH);
  });

  it('is made owner-only, refused when something is already there, and removed with the state dir', () => {
    const deep = path.join(root(), 'y'.repeat(80));
    const slug = `t-${process.pid}`;
    createStateDir(deep, { slug, owner: '1:1', created: 'now' });
    const dir = createDoorsDir(deep, slug);
    expect(existsSync(dir)).toBe(true);
    expect(() => createDoorsDir(deep, slug)).toThrow(/exists already/);
    removeStateDir(deep, slug);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('host processes', () => {
  it('a recorded process is ended when the state dir is removed', async () => {
    const r = root();
    const dir = createStateDir(r, { slug: 'demo-x', owner: '1:1', created: 'now' });
    // As ssh -f leaves it: detached, not our child any more as far as anyone can tell.
    const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    child.unref();
    recordHostProcess(dir, child.pid!, 'ssh master');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    removeStateDir(r, 'demo-x');
    await exited;
    expect(alive(child.pid!)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  it('a record whose pid now belongs to another process is left alone', () => {
    const r = root();
    const dir = createStateDir(r, { slug: 'demo-y', owner: '1:1', created: 'now' });
    // This very process, recorded with a start time it never had: a reused pid.
    mkdirSync(path.join(dir, 'procs'));
    writeFileSync(path.join(dir, 'procs', `${process.pid}.json`), JSON.stringify({ pid: process.pid, token: `${process.pid}:1`, label: 'stale' }));
    removeStateDir(r, 'demo-y');
    expect(alive(process.pid)).toBe(true);
  });
});

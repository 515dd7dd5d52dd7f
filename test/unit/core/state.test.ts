// The bottle's state dir: where its doors live (a short fallback when the
// path would not fit a socket), and the host processes it recorded, ended
// when the state dir goes (teardown, `bottle down`, `bottle gc`).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SOCKET_PATH } from '../../../core/doors.ts';
import { recordHostProcess } from '../../../core/host-processes.ts';
import type { BottleError } from '../../../core/errors.ts';
import { Kernel } from '../../../core/kernel.ts';
import { createDoorsDir, createStateDir, doorsDirFor, exposedState, listStateDirs, removeStateDir } from '../../../core/state.ts';
import { builtinPlugins } from '../../../plugins/index.ts';
import { FakeBackend } from '../../helpers/fake-backend.ts';
import { resolve } from '../../helpers/plan.ts';

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

describe('what a workspace may not contain', () => {
  it('names the state root, the doors or the temp dir when a host path holds them, through symlinks too', () => {
    const base = root();
    const project = path.join(base, 'project');
    const stateRoot = path.join(project, '.bottle-state');
    mkdirSync(stateRoot, { recursive: true });
    expect(exposedState(project, stateRoot, 'demo-x')).toBe(`the bottle state dir ${stateRoot}`);
    // Not yet created: still refused (the state dir is made after planning).
    expect(exposedState(project, path.join(project, 'later', 'state'), 'demo-x')).toMatch(/the bottle state dir/);
    symlinkSync(project, path.join(base, 'link'));
    expect(exposedState(path.join(base, 'link'), stateRoot, 'demo-x')).toMatch(/the bottle state dir/);
    expect(exposedState('/', path.join(base, 'elsewhere'), 'demo-x')).toMatch(/the bottle state dir|the temp dir/);
    expect(exposedState(tmpdir(), '/nonexistent/state', 'demo-x')).toMatch(/the temp dir/);
    // A sibling, or a dir inside the state root, exposes nothing of it.
    expect(exposedState(path.join(base, 'other'), stateRoot, 'demo-x')).toBeUndefined();
    expect(exposedState(path.join(base, 'project-2'), stateRoot, 'demo-x')).toBeUndefined();
  });

  it('a bottle whose mounted or copied workspace holds the state dir is refused at plan time with exit 2', async () => {
    const base = root();
    const stateRoot = path.join(base, '.bottle-state');
    for (const workspace of ['mount', 'copy'] as const) {
      const config = resolve({ agents: { demo: { bottle: 'dev' } }, bottles: { dev: { workspace } } });
      const k = new Kernel({ config, configName: 'bottle.config.json', configDir: base, cwd: base, backend: new FakeBackend(), builtins: builtinPlugins(), stateRoot, slug: 'demo-abc12', hostEnv: { ANTHROPIC_API_KEY: 'sk-test' } });
      const e = await k.plan().then(() => undefined, (err: BottleError) => err);
      expect(e?.message).toMatch(/contains the bottle state dir/);
      expect(e?.code).toBe('CONFIG');
      expect(e?.exitCode).toBe(2);
      expect(e?.message).toBe(`bottle.config.json: bottles.dev.workspace: ${workspace}: ${base} contains the bottle state dir ${stateRoot}; the agent could read and change it`);
    }
  });
});

describe('state dirs as found by ps, down and gc', () => {
  it('take the slug from the directory, never from what owner.json claims', () => {
    const r = root();
    const dir = createStateDir(r, { slug: 'demo-z', owner: '1:1', created: 'now' });
    writeFileSync(path.join(dir, 'owner.json'), JSON.stringify({ slug: '../../../victim', owner: '1:1', created: 'now' }));
    expect(listStateDirs(r)).toEqual([{ slug: 'demo-z', owner: '1:1', created: 'now' }]);
  });

  it('a host-process record without a real start time is never signalled', async () => {
    const r = root();
    const dir = createStateDir(r, { slug: 'demo-w', owner: '1:1', created: 'now' });
    const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    child.unref();
    mkdirSync(path.join(dir, 'procs'));
    writeFileSync(path.join(dir, 'procs', `${child.pid}.json`), JSON.stringify({ pid: child.pid, token: `${child.pid}:0`, label: 'planted' }));
    removeStateDir(r, 'demo-w');
    await new Promise((res) => setTimeout(res, 200));
    expect(alive(child.pid!)).toBe(true);
    child.kill('SIGKILL');
  });
});

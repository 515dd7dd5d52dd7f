// Nothing is left behind: after SIGINT during provisioning, after a failing
// plugin, and (through `bottle gc`) after a kill -9 of `bottle` itself.
// `bottle ps` and `bottle down` find and remove a live bottle.
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, alive, BIN, bottle, leftovers, project, stateDirs, TEST_IMAGE, type Project } from '../helpers/cli.ts';

const hasTmux = execaSync('tmux', ['-V'], { reject: false }).exitCode === 0;

/** A bottle.config.mjs with an in-house plugin tapping `provision`. */
function configWithPlugin(p: Project, agent: string, provisionBody: string): void {
  writeFileSync(
    path.join(p.dir, 'bottle.config.mjs'),
    `import { writeFileSync } from 'node:fs';
export default {
  image: ${JSON.stringify(TEST_IMAGE)},
  agents: { ${JSON.stringify(agent)}: { bottle: 'dev' } },
  bottles: { dev: { workspace: 'none' } },
  plugins: [{
    name: 'probe',
    apply(hooks) {
      hooks.provision.tapPromise('probe', async (ctx) => { ${provisionBody} });
    },
  }],
};
`,
  );
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Whether a container is running (undefined when it is gone). */
function running(id: string): boolean | undefined {
  const r = execaSync('docker', ['inspect', '--format', '{{.State.Running}}', id], { reject: false });
  return r.exitCode === 0 ? r.stdout.trim() === 'true' : undefined;
}


describe.skipIf(!dockerAvailable)('nothing left behind', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('SIGINT during provisioning: exit 130, no container, network or state dir', async () => {
    p = project();
    const agent = agentName('sigint');
    const marker = path.join(p.dir, 'provisioning');
    // The tap ignores the abort signal on purpose: the kernel must not wait for it.
    configWithPlugin(p, agent, `writeFileSync(${JSON.stringify(marker)}, ctx.guest.id); await new Promise((r) => setTimeout(r, 120000));`);
    const child = bottle(p, ['run', '--', 'true']);
    await until('provisioning to start', () => existsSync(marker));
    expect(leftovers(agent).containers).toHaveLength(1);
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('a failing plugin: exit 1, the plugin named, nothing left', async () => {
    p = project();
    const agent = agentName('fail');
    configWithPlugin(p, agent, `throw new Error('the disk is full');`);
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('plugin "probe" failed in provision: the disk is full');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('kill -9 of bottle: the guest stops within 5 s (its lifeline closed), and `bottle gc` removes what is left', async () => {
    p = project();
    const agent = agentName('kill');
    writeFileSync(path.join(p.dir, 'bottle.config.json'), JSON.stringify({ image: TEST_IMAGE, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'none' } } }));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    await until('the agent to run', () => {
      const { containers } = leftovers(agent);
      return containers.length === 1 && stateDirs(p).length === 1;
    });
    await sleep(1000);
    child.kill('SIGKILL');
    const killedAt = Date.now();
    // Not `await child`: the orphaned `docker exec` keeps its output pipe open.
    await until('bottle to die', () => !alive(child.pid!));
    // Nothing runs unsupervised: the guest's init lost its lifeline and stopped the guest.
    await until('the guest to stop', () => running(leftovers(agent).containers[0]!) === false, 10_000);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(leftovers(agent).containers).toHaveLength(1);
    expect(stateDirs(p)).toHaveLength(1);

    const gc = await bottle(p, ['gc']);
    expect(gc.exitCode).toBe(0);
    expect(gc.stdout).toContain(`removed ${agent}-`);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
    await child;
  });

  it.skipIf(!hasTmux)('SIGHUP (the terminal closed under it) tears down completely', async () => {
    p = project();
    const agent = agentName('hup');
    writeFileSync(path.join(p.dir, 'bottle.config.json'), JSON.stringify({ image: TEST_IMAGE, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'none' } } }));
    const session = `bottle-hup-${process.pid}`;
    const env = Object.entries(p.env).map(([k, v]) => `${k}=${v}`);
    // A real terminal: progress and the agent's TTY on it, then the window closes.
    execaSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', '-c', p.dir, 'env', ...env, process.execPath, BIN, 'run', '--', 'sleep', '300']);
    try {
      await until('the agent to run', () => stateDirs(p).length === 1 && leftovers(agent).containers.length === 1);
      await sleep(500);
      execaSync('tmux', ['kill-session', '-t', session]);
      await until('the bottle to be torn down', () => leftovers(agent).containers.length === 0 && stateDirs(p).length === 0, 20_000);
      expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    } finally {
      execaSync('tmux', ['kill-session', '-t', session], { reject: false });
    }
  });

  it('ps lists a running bottle and down removes it; the run then ends', async () => {
    p = project();
    const agent = agentName('down');
    writeFileSync(path.join(p.dir, 'bottle.config.json'), JSON.stringify({ image: TEST_IMAGE, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'none' } } }));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    await until('the agent to run', () => stateDirs(p).length === 1 && leftovers(agent).containers.length === 1);
    const ps = await bottle(p, ['ps', '--json']);
    expect(ps.exitCode).toBe(0);
    const mine = (JSON.parse(ps.stdout) as Array<{ slug: string; agent: string; ownerAlive: boolean }>).filter((b) => b.agent === agent);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.ownerAlive).toBe(true);

    const down = await bottle(p, ['down', mine[0]!.slug]);
    expect(down.exitCode).toBe(0);
    expect(down.stdout).toContain(`removed ${mine[0]!.slug}`);
    const r = await child;
    expect(r.exitCode).not.toBe(0);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });
});

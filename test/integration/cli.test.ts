// The CLI around a bottle: plan has no side effects, a TTY reaches the agent
// when there is one, SIGTERM tears down, doctor says what is wrong.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { builtinPlugins } from '../../plugins/index.ts';
import { agentName, BIN, bottle, leftovers, project, simpleConfig, stateDirs, type Project } from '../helpers/cli.ts';

describe.skipIf(!dockerAvailable)('bottle CLI', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('plan --json shows the resolved plan and creates nothing', async () => {
    p = project();
    const agent = agentName('plan');
    p.config(simpleConfig(agent, { workspace: 'copy', env: { A: 'b' } }));
    const r = await bottle(p, ['plan', '--json']);
    expect(r.exitCode).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({
      agent,
      bottle: 'dev',
      image: expect.any(String),
      env: { A: 'b' },
      exec: { argv: ['claude', '--dangerously-skip-permissions'], user: 'node', workdir: '/home/node/workspace' },
      plugins: builtinPlugins().map((b) => b.name),
    });
    expect(plan.slug).toMatch(new RegExp(`^${agent}-[a-z0-9]{5}$`));
    expect(plan.files[0]).toEqual({ guestPath: '/home/node/workspace', owner: 'node', source: p.dir, plugin: 'workspace' });
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('an image that is not on this machine: exit 1, says so and what to do, never pulls, leaves nothing', async () => {
    p = project();
    const agent = agentName('noimg');
    p.config({ ...simpleConfig(agent, { workspace: 'none' }), image: 'claude-bottle-test-absent:never' });
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('the image "claude-bottle-test-absent:never" is not on this machine');
    expect(r.stderr).toContain('bottle image build');
    expect(r.stderr).not.toMatch(/pull/i);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('in CI, progress is one line per step that did work; after the run, one line on refused requests', async () => {
    p = project();
    const agent = agentName('sum');
    p.config(simpleConfig(agent, { workspace: 'none', egress: { allow: [], dlp: false } }));
    const curl = (h: string) => `curl -s -o /dev/null -x "$HTTP_PROXY" http://${h}/x`;
    const r = await bottle(p, ['run', '--', 'sh', '-c', [curl('a.test'), curl('a.test'), curl('b.test')].join('; ')], { BOTTLE_QUIET: '', CI: 'true' });
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter(Boolean);
    const slug = stateDirs(p)[0] ?? /bottle logs (\S+)/.exec(r.stderr)?.[1];
    expect(lines.at(-1)).toBe(`bottle: 3 requests refused: a.test (2), b.test (1); allow them with bottles.dev.egress.allow; details: bottle logs ${slug}`);
    // Each step line did work: 20 ms or more. No start lines, no line per idle tap.
    const steps = lines.filter((l) => /^[✓✗…] /.test(l));
    expect(steps.length).toBeLessThanOrEqual(6);
    for (const l of steps) expect(l).toMatch(/^✓ .* \((\d{2,} ms|\d+\.\d s)\)$/);
    expect(lines).toContain('  config: bottle.config.json');
    // The details are there.
    const logs = await bottle(p, ['logs', slug!]);
    expect(logs.stdout.split('\n').filter((l) => l.includes('egress.deny'))).toHaveLength(3);
  });

  it('gives the agent a TTY when bottle has one, and plain pipes when not', async () => {
    p = project();
    p.config(simpleConfig(agentName('tty'), { workspace: 'none' }));
    const piped = await bottle(p, ['run', '--', 'sh', '-c', 'tty || true']);
    expect(piped.stdout).toBe('not a tty');
    // `script` gives bottle a pseudo-terminal, as a person's terminal would.
    const cmd = [process.execPath, BIN, 'run', '-q', '--', 'tty'].map((a) => `'${a}'`).join(' ');
    const r = await execa('script', ['-qec', cmd, '/dev/null'], { cwd: p.dir, env: p.env, reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it('SIGTERM while the agent runs: exit 143 and nothing left', async () => {
    p = project();
    const agent = agentName('term');
    p.config(simpleConfig(agent, { workspace: 'none' }));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    for (let i = 0; i < 600 && leftovers(agent).containers.length === 0; i++) await sleep(100);
    await sleep(1500);
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('doctor passes here and names what is missing', async () => {
    p = project();
    p.config(simpleConfig(agentName('doc'), {}));
    const ok = await bottle(p, ['doctor']);
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/✓ docker engine: server /);
    expect(ok.stdout).toMatch(/✓ agent image: /);
    p.config({ ...simpleConfig(agentName('doc'), {}), image: 'claude-bottle-no-such:never' });
    const bad = await bottle(p, ['doctor']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('✗ agent image: claude-bottle-no-such:never not found');
    expect(bad.stdout).toContain('fix: build or pull claude-bottle-no-such:never');
    const noEngine = await bottle(p, ['doctor'], { BOTTLE_DOCKER: path.join(p.dir, 'no-docker-here') });
    expect(noEngine.exitCode).toBe(1);
    expect(noEngine.stdout).toContain('✗ docker CLI');
  });

  it('down --all removes every bottle; down of an unknown slug is a usage error', async () => {
    p = project();
    const agent = agentName('downall');
    writeFileSync(path.join(p.dir, 'bottle.config.json'), JSON.stringify(simpleConfig(agent, { workspace: 'none' })));
    const child = bottle(p, ['run', '--', 'sleep', '300']);
    for (let i = 0; i < 600 && stateDirs(p).length === 0; i++) await sleep(100);
    const unknown = await bottle(p, ['down', 'no-such-bottle']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('no bottle named "no-such-bottle"');
    const all = await bottle(p, ['down', '--all']);
    expect(all.exitCode).toBe(0);
    await child;
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });
});

// The example in-house plugin (examples/dotfiles) through a real bottle: its
// files land in /home/node owned by node with their modes, its setup command
// runs as node, its audit events are kept; a missing dotfiles dir fails at
// plan time (exit 2) before anything exists, and a failing setup command
// stops the bottle (exit 1, the plugin named) and leaves nothing behind.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, ROOT, stateDirs, TEST_IMAGE, type Project, auditEvents } from '../helpers/cli.ts';

const PLUGIN = pathToFileURL(path.join(ROOT, 'examples/dotfiles/dotfiles.ts')).href;

/** A bottle.config.ts (Node strips its types) using the example plugin with these options. */
function configWithDotfiles(p: Project, agent: string, options: { dir: string; setup?: string | string[] }): void {
  writeFileSync(
    path.join(p.dir, 'bottle.config.ts'),
    `import { dotfiles } from ${JSON.stringify(PLUGIN)};

export default {
  image: ${JSON.stringify(TEST_IMAGE)},
  agents: { ${JSON.stringify(agent)}: { bottle: 'dev' } },
  bottles: { dev: { workspace: 'none' } },
  plugins: [dotfiles(${JSON.stringify(options)})],
};
`,
  );
}

/** A dotfiles dir beside the project dir: a .bashrc (0640) and a nested .config/tool/conf (0600, in a 0700 dir). */
function makeDotfiles(p: Project, marker: string): string {
  const dir = path.join(path.dirname(p.dir), 'dotfiles');
  mkdirSync(path.join(dir, '.config/tool'), { recursive: true });
  writeFileSync(path.join(dir, '.bashrc'), `# ${marker}\nexport FROM_DOTFILES=1\n`);
  writeFileSync(path.join(dir, '.config/tool/conf'), 'key = value\n');
  chmodSync(path.join(dir, '.bashrc'), 0o640);
  chmodSync(path.join(dir, '.config/tool/conf'), 0o600);
  chmodSync(path.join(dir, '.config/tool'), 0o700);
  return dir;
}


describe.skipIf(!dockerAvailable)('example plugin: dotfiles', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('installs the dotfiles owned by node with their modes, and runs the setup command as node', async () => {
    p = project();
    const agent = agentName('dotfiles');
    const marker = `dotfiles-marker-${agent}`;
    makeDotfiles(p, marker);
    // Relative to the config file, as a user would write it.
    configWithDotfiles(p, agent, { dir: '../dotfiles', setup: 'echo "$(id -un) $(id -u) $HOME $(pwd)" > .setup-ran; cat .config/tool/conf >> .setup-ran' });

    const r = await bottle(p, ['run', '--', 'sh', '-c',
      `grep -c ${marker} ~/.bashrc; cd ~ && stat -c '%U:%G %a %n' .bashrc .config/tool .config/tool/conf .setup-ran; cat .setup-ran`]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      '1',
      'node:node 640 .bashrc',
      'node:node 700 .config/tool',
      'node:node 600 .config/tool/conf',
      'node:node 644 .setup-ran',
      'node 1000 /home/node /home/node',
      'key = value',
    ]);

    const events = auditEvents(p);
    expect(events.map((e) => e.type)).toEqual(['bottle.start', 'dotfiles.installed', 'dotfiles.setup', 'agent.exit', 'bottle.end']);
    expect(events[1]).toMatchObject({ plugin: 'dotfiles', files: ['/home/node/.bashrc', '/home/node/.config'] });
    expect(events[2]).toMatchObject({ plugin: 'dotfiles', exitCode: 0 });
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('bottle plan shows the dotfiles with no side effects', async () => {
    p = project();
    const agent = agentName('dfplan');
    const dir = makeDotfiles(p, 'plan');
    configWithDotfiles(p, agent, { dir });
    const r = await bottle(p, ['plan', '--json']);
    expect(r.exitCode).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: Array<{ guestPath: string; source: string; owner: string; plugin: string }> }).files;
    expect(files.filter((f) => f.plugin === 'dotfiles')).toEqual([
      { guestPath: '/home/node/.bashrc', owner: 'node', source: path.join(dir, '.bashrc'), plugin: 'dotfiles' },
      { guestPath: '/home/node/.config', owner: 'node', source: path.join(dir, '.config'), plugin: 'dotfiles' },
    ]);
    expect(existsSync(p.stateRoot)).toBe(false);
  });

  it('a missing dotfiles dir fails at plan time with exit 2, before any container exists', async () => {
    p = project();
    const agent = agentName('dfmissing');
    configWithDotfiles(p, agent, { dir: '../no-such-dotfiles', setup: 'true' });
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`bottle.config.ts: plugins: dotfiles({ dir: "../no-such-dotfiles" }): ${path.join(path.dirname(p.dir), 'no-such-dotfiles')} does not exist`);
    expect(r.stderr).toContain('[plugin dotfiles, plan]');
    expect(r.stderr).toContain('hint:');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
    // Nothing was created at all: no state dir, so no audit log either.
    expect(existsSync(p.stateRoot)).toBe(false);
  });

  it('a failing setup command stops the bottle with exit 1, names the plugin, and leaves nothing', async () => {
    p = project();
    const agent = agentName('dfsetup');
    makeDotfiles(p, 'setup-fails');
    configWithDotfiles(p, agent, { dir: '../dotfiles', setup: ['sh', '-c', 'echo no-such-tool >&2; exit 3'] });
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo the agent ran']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).not.toContain('the agent ran');
    expect(r.stderr).toContain('plugin "dotfiles" failed in provision: setup command `sh -c echo no-such-tool >&2; exit 3` failed in the guest (exit 3): no-such-tool');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
    const events = auditEvents(p);
    expect(events.map((e) => e.type)).toEqual(['bottle.start', 'dotfiles.installed', 'dotfiles.setup', 'bottle.end']);
    expect(events[2]).toMatchObject({ exitCode: 3 });
    expect(events[3]).toMatchObject({ outcome: 'error', exitCode: 1 });
  });
});

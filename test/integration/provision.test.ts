// Provisioning in a real guest: prompt, skills and git identity land with the
// right owners and modes; the copied workspace's git status matches the
// host's; a bad skill stops everything at plan time.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, stateDirs, TEST_IMAGE, type Project } from '../helpers/cli.ts';

function makeSkill(root: string, name: string): void {
  mkdirSync(path.join(root, name, 'scripts', 'deep'), { recursive: true });
  writeFileSync(path.join(root, name, 'SKILL.md'), `---\nname: ${name}\ndescription: a test skill\n---\nbody of ${name}\n`);
  writeFileSync(path.join(root, name, 'scripts', 'deep', 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o750 });
}

describe.skipIf(!dockerAvailable)('provisioning in a real guest', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('prompt, skills and git user: content, owners and modes', async () => {
    p = project();
    const agent = agentName('prov');
    const skills = path.join(p.dir, '..', 'skills');
    makeSkill(skills, 'alpha');
    makeSkill(skills, 'beta');
    p.config({
      image: TEST_IMAGE,
      skillsDir: skills,
      agents: { [agent]: { bottle: 'dev', prompt: 'You are a careful agent.', skills: ['alpha', 'beta'] } },
      bottles: { dev: { workspace: 'none', git: { user: { name: 'Bottle Bot', email: 'bot@example.com' } } } },
    });
    const script = [
      'stat -c "%U:%G %a" /home/node/.claude-bottle-prompt.txt',
      'cat /home/node/.claude-bottle-prompt.txt; echo',
      'stat -c "%U:%G" /home/node/.claude /home/node/.claude/skills /home/node/.claude/skills/alpha',
      'stat -c "%U %a %n" /home/node/.claude/skills/beta/scripts/deep/run.sh',
      'head -2 /home/node/.claude/skills/alpha/SKILL.md | tail -1',
      'git config --global user.name; git config --global user.email',
    ].join('; ');
    const r = await bottle(p, ['run', '--', 'sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'node:node 600',
      'You are a careful agent.',
      'node:node',
      'node:node',
      'node:node',
      'node 750 /home/node/.claude/skills/beta/scripts/deep/run.sh',
      'name: alpha',
      'Bottle Bot',
      'bot@example.com',
    ]);
  });

  it('the copied workspace is git-clean exactly when the host is', async () => {
    p = project();
    p.config({ image: TEST_IMAGE, agents: { [agentName('gitws')]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copy' } } });
    const git = (...a: string[]) => execaSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: p.dir });
    writeFileSync(path.join(p.dir, '.gitignore'), 'build/\n');
    writeFileSync(path.join(p.dir, 'tool.sh'), '#!/bin/sh\n');
    chmodSync(path.join(p.dir, 'tool.sh'), 0o755);
    mkdirSync(path.join(p.dir, 'build'));
    writeFileSync(path.join(p.dir, 'build', 'out.o'), 'ignored');
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'first');
    git('remote', 'add', 'origin', 'ssh://git@example.invalid/app.git');
    const status = async () => {
      const r = await bottle(p, ['run', '--', 'sh', '-c', 'stat -c %U .git/config; git status --porcelain; git remote get-url origin']);
      expect(r.exitCode).toBe(0);
      return r.stdout;
    };
    expect(git('status', '--porcelain').stdout).toBe('');
    expect(await status()).toBe('node\nssh://git@example.invalid/app.git');

    writeFileSync(path.join(p.dir, 'tool.sh'), '#!/bin/sh\necho changed\n');
    writeFileSync(path.join(p.dir, 'new.txt'), 'untracked');
    expect(git('status', '--porcelain').stdout).toBe(' M tool.sh\n?? new.txt');
    expect(await status()).toBe('node\n M tool.sh\n?? new.txt\nssh://git@example.invalid/app.git');
  });

  it('a missing skill fails at plan time: exit 2, nothing created', async () => {
    p = project();
    const agent = agentName('badskill');
    p.config({ image: TEST_IMAGE, skillsDir: p.dir, agents: { [agent]: { bottle: 'dev', skills: ['nope'] } }, bottles: { dev: {} } });
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`bottle.config.json: agents.${agent}.skills[0]: no skill "nope" in ${p.dir}`);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });
});

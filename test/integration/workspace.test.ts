// Workspace modes in a real guest: copy (everything, .git included, owned by
// node, the host untouched), mount (shared with the host), none (empty).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, project, simpleConfig, type Project } from '../helpers/cli.ts';

describe.skipIf(!dockerAvailable)('workspace modes', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('copy: the directory is copied in with .git, owned by node; guest changes stay in the guest', async () => {
    p = project();
    const agent = agentName('copy');
    p.config(simpleConfig(agent, { workspace: 'copy' }));
    mkdirSync(path.join(p.dir, 'src/deep'), { recursive: true });
    writeFileSync(path.join(p.dir, 'src/deep/file.txt'), 'deep content\n');
    writeFileSync(path.join(p.dir, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    const git = (...a: string[]) => execaSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...a], { cwd: p.dir });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'init');
    const r = await bottle(p, ['run', '--', 'sh', '-c',
      'cat src/deep/file.txt; ./run.sh; stat -c "%U %a" run.sh src/deep/file.txt .git/HEAD; git log --format=%s; echo changed > src/deep/file.txt']);
    expect(r.stderr).not.toContain('error');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['deep content', 'ran', 'node 755', 'node 644', 'node 644', 'init']);
    expect(readFileSync(path.join(p.dir, 'src/deep/file.txt'), 'utf8')).toBe('deep content\n');
  });

  it('mount: the guest works on the host directory itself', async () => {
    p = project();
    const agent = agentName('mount');
    p.config(simpleConfig(agent, { workspace: 'mount' }));
    writeFileSync(path.join(p.dir, 'in.txt'), 'from host\n');
    // The guest runs as uid 1000; let it write here whoever the host user is.
    execaSync('chmod', ['0777', p.dir]);
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'cat in.txt; echo from guest > out.txt']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('from host');
    expect(readFileSync(path.join(p.dir, 'out.txt'), 'utf8')).toBe('from guest\n');
  });

  it('none: the workspace is empty', async () => {
    p = project();
    const agent = agentName('none');
    p.config(simpleConfig(agent, { workspace: 'none' }));
    writeFileSync(path.join(p.dir, 'secret.txt'), 'not for the guest\n');
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'ls -A | wc -l']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe('0');
    expect(existsSync(path.join(p.dir, 'secret.txt'))).toBe(true);
  });
});

// `workspace: mount` as an attacker uses it: the agent plants code where the
// host's git and the next `bottle` would run it (core.fsmonitor and friends
// in .git/config, a hook, a `commondir` redirect, a new config file that
// outranks the user's, an edit to a module the config imports), then the host
// runs git and bottle as a user would. Nothing planted may run.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execa, execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, project, simpleConfig, type Project } from '../helpers/cli.ts';

/** Every file the planted code would create (in the workspace, by relative path, as host git and node run there). */
const PWNED = ['pwned-fsmonitor', 'pwned-pager', 'pwned-hook', 'pwned-commondir', 'pwned-config', 'pwned-import', 'pwned-alias'];

const plant = [
  // the guest's git still works, on a repository of its own
  `git -c user.name=a -c user.email=a@a commit -q --allow-empty -m 'from the bottle' && echo "guest commit ok"`,
  // 1. the repository's own config and hooks
  `git config core.fsmonitor 'touch pwned-fsmonitor; false' && echo "config written" || echo "config refused"`,
  `git config core.pager 'touch pwned-pager; cat' ; git config alias.st '!touch pwned-alias'`,
  `mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch pwned-hook\\n' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit && echo "hook written" || echo "hook refused"`,
  // 2. a redirect of the whole common dir to a repository the agent makes
  `mkdir -p evil && git init -q evil && git -C evil config core.fsmonitor 'touch pwned-commondir; false'`,
  `printf '../evil/.git\\n' > .git/commondir && echo "commondir written" || echo "commondir refused"`,
  // 3. bottle's config: the user's (read-only), a new one that outranks it, a module it imports
  `echo '{}' > bottle.config.json && echo "json written" || echo "json refused"`,
  `printf 'import { writeFileSync } from "node:fs";\\nwriteFileSync("pwned-config", "");\\nexport default {};\\n' > bottle.config.ts && echo "ts written" || echo "ts refused"`,
  `(printf 'import { writeFileSync } from "node:fs";\\nwriteFileSync("pwned-import", "");\\n' >> helper.mjs) 2>/dev/null && echo "helper written" || echo "helper refused"`,
  `echo edited > tracked.txt`,
].join('\n');

describe.skipIf(!dockerAvailable)('workspace: mount keeps host-run files out of the agent reach', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  const hostGit = (...a: string[]) => execa('git', ['-c', 'user.name=h', '-c', 'user.email=h@h', ...a], { cwd: p.dir, reject: false, env: { GIT_PAGER: '', PAGER: '' } });

  it('planted git config, hooks, commondir and config files never run on the host', async () => {
    p = project();
    const agent = agentName('mguard');
    // The user's config is .mjs importing a helper of theirs, both in the workspace.
    writeFileSync(path.join(p.dir, 'helper.mjs'), 'export const image = ' + JSON.stringify(simpleConfig(agent).image) + ';\n');
    writeFileSync(path.join(p.dir, 'bottle.config.mjs'), `import { image } from './helper.mjs';\nexport default ${JSON.stringify(simpleConfig(agent, { workspace: 'mount' }))};\nvoid image;\n`);
    // A lower-ranked file the agent will try to overwrite.
    writeFileSync(path.join(p.dir, 'bottle.config.json'), '{"note": "kept"}\n');
    writeFileSync(path.join(p.dir, 'tracked.txt'), 'original\n');
    execaSync('git', ['init', '-q'], { cwd: p.dir });
    await hostGit('add', '.');
    await hostGit('commit', '-qm', 'init');
    const configBefore = readFileSync(path.join(p.dir, '.git/config'), 'utf8');
    const headBefore = (await hostGit('rev-parse', 'HEAD')).stdout;
    // The guest runs as uid 1000; let it write here whoever the host user is.
    execaSync('chmod', ['-R', 'a+rwX', p.dir]);

    const r = await bottle(p, ['run', '--', 'sh', '-c', plant]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('guest commit ok');
    expect(r.stdout).toContain('json refused');
    // The module the config imports is read-only too: the loader knew it.
    expect(r.stdout).toContain('helper refused');

    // The agent's edit shows on the host; its repository writes do not.
    expect(readFileSync(path.join(p.dir, 'tracked.txt'), 'utf8')).toBe('edited\n');
    expect(readFileSync(path.join(p.dir, '.git/config'), 'utf8')).toBe(configBefore);
    expect(existsSync(path.join(p.dir, '.git/commondir'))).toBe(false);
    expect(existsSync(path.join(p.dir, '.git/hooks/pre-commit'))).toBe(false);
    expect(readFileSync(path.join(p.dir, 'bottle.config.json'), 'utf8')).toBe('{"note": "kept"}\n');

    // The host uses git as usual.
    const status = await hostGit('status', '--porcelain');
    expect(status.exitCode).toBe(0);
    expect(status.stdout).toContain('tracked.txt');
    expect((await hostGit('log', '-1', '--format=%s')).stdout).toBe('init');
    expect((await hostGit('rev-parse', 'HEAD')).stdout).toBe(headBefore);
    await hostGit('st');
    await hostGit('-c', 'core.pager=', 'log', '-p');
    const commit = await hostGit('commit', '-qam', 'review the agent edit');
    expect(commit.exitCode).toBe(0);

    // The next bottle on the host refuses the config the agent wrote, and runs none of it.
    const plan = await bottle(p, ['plan']);
    expect(plan.exitCode).toBe(2);
    expect(plan.stderr).toContain('bottle.config.ts');
    expect(plan.stderr).toMatch(/could have written it/);
    // With it removed, the user's own config (and the helper it imports, untouched) loads again.
    execaSync('rm', [path.join(p.dir, 'bottle.config.ts')]);
    const plan2 = await bottle(p, ['plan']);
    expect(plan2.stderr).toBe('');
    expect(plan2.exitCode).toBe(0);

    for (const f of PWNED) expect(existsSync(path.join(p.dir, f)), f).toBe(false);
    expect(existsSync(path.join(p.dir, 'evil', 'pwned-commondir'))).toBe(false);
  });

  it('a workspace without .git: the agent cannot make one on the host; the placeholder goes away', async () => {
    p = project();
    const agent = agentName('mguard-nogit');
    p.config(simpleConfig(agent, { workspace: 'mount' }));
    chmodSync(p.dir, 0o777);
    const r = await bottle(p, ['run', '--', 'sh', '-c',
      `git init -q . && git config core.fsmonitor 'touch pwned-fsmonitor; false' && echo "guest repo ok"; ls -ld .git | cut -c1-10`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('guest repo ok');
    expect(existsSync(path.join(p.dir, '.git'))).toBe(false);
    mkdirSync(path.join(p.dir, 'sub'));
    const status = await execa('git', ['status'], { cwd: p.dir, reject: false });
    expect(status.exitCode).not.toBe(0); // still not a repository
    expect(existsSync(path.join(p.dir, 'pwned-fsmonitor'))).toBe(false);
  });
});

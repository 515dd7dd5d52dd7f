// Attacks on issue 11's mount guard with real bottles: a hostile agent
// (uid 1000) in `workspace: mount` plants code where the host's next `bottle`
// would run it, then the host user runs bottle as usual. Each test asserts
// the SAFE behaviour.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, afterEach, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, alive, bottle, leftovers, project, simpleConfig, stateDirs, type Project } from '../helpers/cli.ts';

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const planted = (marker: string) => `import { writeFileSync } from "node:fs";\\nwriteFileSync(${JSON.stringify(marker)}, "pwned");\\nexport const x = 1;\\n`;

describe.skipIf(!dockerAvailable)('mount guard: what the next bottle on the host runs', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('an in-house plugin that imports a module of the workspace lazily (at plan time) never runs the agent\'s version', async () => {
    p = project();
    const agent = agentName('atk11-lazy');
    const pwned = path.join(p.dir, 'pwned-lazy');
    writeFileSync(path.join(p.dir, 'lazy.mjs'), 'export const x = 1;\n');
    // The user's config (read-only in the bottle) has a plugin that loads its helper only when it plans.
    writeFileSync(path.join(p.dir, 'bottle.config.mjs'), [
      `const lazy = { name: 'lazy', apply(hooks) { hooks.plan.tapPromise('lazy', async () => { await import('./lazy.mjs'); }); } };`,
      `export default { ...${JSON.stringify(simpleConfig(agent, { workspace: 'mount' }))}, plugins: [lazy], disable: ['skills', 'prompt'] };`,
      '',
    ].join('\n'));
    chmodSync(p.dir, 0o777);
    chmodSync(path.join(p.dir, 'lazy.mjs'), 0o666);
    // The host path of the marker: a real agent reads the bind's source in /proc/self/mountinfo.
    const r2 = await bottle(p, ['run', '--', 'sh', '-c', `printf '${planted(pwned)}' > lazy.mjs && echo planted`]);
    expect(r2.stdout, r2.stderr).toContain('planted');
    const plan = await bottle(p, ['plan']);
    expect(existsSync(pwned), `bottle plan ran the agent's lazy.mjs (exit ${plan.exitCode}): ${plan.stderr}`).toBe(false);
    expect(plan.exitCode, plan.stderr).toBe(2);
  });

  it('kill -9 of bottle mid-run, `bottle gc`, then `bottle plan`: the config the agent planted is still refused (the module the config imports cannot even be changed)', async () => {
    p = project();
    const agent = agentName('atk11-kill');
    const pwned = path.join(p.dir, 'pwned-kill');
    writeFileSync(path.join(p.dir, 'helper.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(p.dir, 'bottle.config.mjs'), `import { x } from './helper.mjs';\nvoid x;\nexport default ${JSON.stringify(simpleConfig(agent, { workspace: 'mount' }, { disable: ['skills', 'prompt'] }))};\n`);
    chmodSync(p.dir, 0o777);
    chmodSync(path.join(p.dir, 'helper.mjs'), 0o666);
    const child = bottle(p, ['run', '--', 'sh', '-c', `(printf 'x' >> helper.mjs) 2>/dev/null || echo helper-read-only > /dev/stderr; printf '${planted(pwned)}' > bottle.config.ts; sleep 300`]);
    void child.then((r) => { if (r.exitCode) console.error(r.stderr); });
    await until('the agent to run', () => leftovers(agent).containers.length === 1 && stateDirs(p).length === 1);
    await sleep(3000);
    child.kill('SIGKILL');
    await until('bottle to die', () => !alive(child.pid!));
    // While the bottle's state is left over, the span is open: refused.
    const planOpen = await bottle(p, ['plan']);
    expect(planOpen.exitCode).toBe(2);
    expect(planOpen.stderr).toContain('bottle.config.ts');
    expect(planOpen.stderr).toContain('bottle down');
    expect(readFileSync(path.join(p.dir, 'helper.mjs'), 'utf8')).toBe('export const x = 1;\n');
    await sleep(5000); // the guest stops on its own (lifeline)
    const gc = await bottle(p, ['gc']);
    expect(gc.exitCode).toBe(0);
    const plan = await bottle(p, ['plan']);
    expect(plan.exitCode).toBe(2);
    expect(plan.stderr).toContain('bottle.config.ts');
    expect(existsSync(pwned)).toBe(false);
    void child.catch(() => {});
  });
});

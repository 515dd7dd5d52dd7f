// `bottle run -- CMD` in a real bottle: runs as node in the workspace, returns
// the command's exit code, and leaves nothing behind.
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, bottle, leftovers, project, simpleConfig, stateDirs, type Project } from '../helpers/cli.ts';

describe.skipIf(!dockerAvailable)('bottle run', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  it('runs the command as node in /home/node/workspace and exits with its code', async () => {
    p = project();
    const agent = agentName('run');
    p.config(simpleConfig(agent, { workspace: 'none' }));
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'id -un; id -u; pwd; echo to-stderr >&2; exit 7']);
    expect(r.stdout.split('\n')).toEqual(['node', '1000', '/home/node/workspace']);
    expect(r.stderr).toContain('to-stderr');
    expect(r.exitCode).toBe(7);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('passes the bottle env to the command', async () => {
    p = project();
    const agent = agentName('env');
    p.config(simpleConfig(agent, { workspace: 'none', env: { GREETING: 'hello bottle' } }));
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo "$GREETING"']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('hello bottle');
  });

  it('keeps the audit trail of the bottle after removing its state dir', async () => {
    p = project();
    const agent = agentName('audit');
    p.config(simpleConfig(agent, { workspace: 'none' }));
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(0);
    const events = auditEvents(p);
    expect(events.map((e) => e.type)).toEqual(['bottle.start', 'agent.exit', 'bottle.end']);
    expect(events[2]).toMatchObject({ outcome: 'success', exitCode: 0 });
  });

  it('fails with exit 1 and a hint when the image does not exist, leaving nothing', async () => {
    p = project();
    const agent = agentName('noimg');
    p.config({ ...simpleConfig(agent, { workspace: 'none' }), image: 'claude-bottle-no-such-image:never' });
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('claude-bottle-no-such-image:never');
    expect(r.stderr).toContain('bottle image build');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });
});

// The three example in-house plugins (examples/) through real bottles, as a
// user runs them: a bottle.config.ts that imports the example's file, the
// real `bottle` CLI, the real agent image.
//
// - dotfiles: its files land in /home/node owned by node with their modes,
//   its setup command runs as node, its audit events are kept; a missing
//   directory is exit 2 before anything exists; a failing setup command stops
//   the bottle (exit 1, the plugin named) and leaves nothing behind.
// - conditional-host: with the switch variable set, the guest's request to
//   the extra host gets past the allowlist (the proxy then refuses it at the
//   dial: it is this machine's own name, so nothing leaves); without it, the
//   allowlist's 403; a wrong type for its key and a disabled egress are exit 2.
// - host-daemon (kv): the guest reaches the store on 127.0.0.1:<port>, each
//   request is audited, and when the bottle ends (however) the store is
//   closed, saved, and its socket is gone; another plugin's entry, given
//   through kv's api in plan, is in the store.
//
// Traffic: loopback and the bottles' own doors only.
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, bottle, leftovers, project, ROOT, simpleConfig, stateDirs, type Project } from '../helpers/cli.ts';

const example = (file: string) => path.join(ROOT, 'examples', file);
const DOTFILES = pathToFileURL(example('dotfiles/dotfiles.ts')).href;
const CONDITIONAL = pathToFileURL(example('conditional-host/conditional-host.ts')).href;
const KV = pathToFileURL(example('host-daemon/kv-store.ts')).href;

/** This machine's own name: in its /etc/hosts, so resolving it sends no query out; the proxy never dials what it resolves to. */
const HOST = hostname().toLowerCase();

/**
 * A bottle.config.ts (Node strips its types) that imports `factory` from the
 * example `url` and lists `plugins` (code, e.g. `[dotfiles()]`) beside `config`.
 */
function writeConfig(p: Project, imports: Array<{ url: string; factory: string }>, config: object, plugins: string): void {
  writeFileSync(
    path.join(p.dir, 'bottle.config.ts'),
    `${imports.map((i) => `import { ${i.factory} } from ${JSON.stringify(i.url)};`).join('\n')}

export default {
  ...${JSON.stringify(config)},
  plugins: ${plugins},
};
`,
  );
}

/** `bottle plan --json`, parsed. */
async function planJson(p: Project, args: string[] = [], env: Record<string, string> = {}) {
  const r = await bottle(p, ['plan', '--json', ...args], env);
  expect(r.stderr).toBe('');
  expect(r.exitCode).toBe(0);
  return JSON.parse(r.stdout) as {
    doors: Array<{ name: string; guest: string; socket: string; plugin: string }>;
    files: Array<{ guestPath: string; source: string; owner: string; plugin: string }>;
    env: Record<string, string>;
    daemons: Array<{ name: string; plugin: string; description: string }>;
    plugins: string[];
  };
}

describe.skipIf(!dockerAvailable)('example: dotfiles', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  const configWith = (agent: string, dotfiles: object) =>
    writeConfig(p, [{ url: DOTFILES, factory: 'dotfiles' }], simpleConfig(agent, { workspace: 'none' }, { dotfiles }), '[dotfiles()]');

  /** A dotfiles dir beside the project dir: a .bashrc (0640) and a nested .config/tool/conf (0600, in a 0700 dir). */
  function makeDotfiles(marker: string, dir = path.join(path.dirname(p.dir), 'dotfiles')): string {
    mkdirSync(path.join(dir, '.config/tool'), { recursive: true });
    writeFileSync(path.join(dir, '.bashrc'), `# ${marker}\nexport FROM_DOTFILES=1\n`);
    writeFileSync(path.join(dir, '.config/tool/conf'), 'key = value\n');
    chmodSync(path.join(dir, '.bashrc'), 0o640);
    chmodSync(path.join(dir, '.config/tool/conf'), 0o600);
    chmodSync(path.join(dir, '.config/tool'), 0o700);
    return dir;
  }

  it('installs the dotfiles owned by node with their modes, and runs the setup command as node', async () => {
    p = project();
    const agent = agentName('dotfiles');
    const marker = `dotfiles-marker-${agent}`;
    makeDotfiles(marker);
    // Relative to the config file, as a user would write it.
    configWith(agent, { dir: '../dotfiles', setup: 'echo "$(id -un) $(id -u) $HOME $(pwd)" > .setup-ran; cat .config/tool/conf >> .setup-ran' });

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

  it("the example's own bottle.config.ts plans the dotfiles (from ~), with no side effects; a wrong type is exit 2", async () => {
    p = project();
    const home = path.join(path.dirname(p.dir), 'home');
    const dir = makeDotfiles('plan', path.join(home, 'dotfiles'));
    const plan = await planJson(p, ['--config', example('dotfiles/bottle.config.ts')], { HOME: home });
    expect(plan.plugins).toContain('dotfiles');
    expect(plan.files.filter((f) => f.plugin === 'dotfiles')).toEqual([
      { guestPath: '/home/node/.bashrc', owner: 'node', source: path.join(dir, '.bashrc'), plugin: 'dotfiles' },
      { guestPath: '/home/node/.config', owner: 'node', source: path.join(dir, '.config'), plugin: 'dotfiles' },
    ]);
    expect(existsSync(p.stateRoot)).toBe(false);

    configWith(agentName('dftype'), { dir: dir, setup: 42 });
    const bad = await bottle(p, ['plan']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('bottle.config.ts: dotfiles.setup:');
  });

  it('a missing dotfiles dir fails at plan time with exit 2, before any container exists', async () => {
    p = project();
    const agent = agentName('dfmissing');
    configWith(agent, { dir: '../no-such-dotfiles', setup: 'true' });
    const r = await bottle(p, ['run', '--', 'true']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`bottle.config.ts: dotfiles.dir: ${path.join(path.dirname(p.dir), 'no-such-dotfiles')} does not exist`);
    expect(r.stderr).toContain('[plugin dotfiles, plan]');
    expect(r.stderr).toContain('hint:');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    // Nothing was created at all: no state dir, so no audit log either.
    expect(existsSync(p.stateRoot)).toBe(false);
  });

  it('a failing setup command stops the bottle with exit 1, names the plugin, and leaves nothing', async () => {
    p = project();
    const agent = agentName('dfsetup');
    makeDotfiles('setup-fails');
    configWith(agent, { dir: '../dotfiles', setup: ['sh', '-c', 'echo no-such-tool >&2; exit 3'] });
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

describe.skipIf(!dockerAvailable)('example: conditional-host', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  /** A bottle with a proxy (nothing allowed of its own) and the plugin's key naming this machine. */
  const configWith = (agent: string, bottleKeys: object, extra: Record<string, unknown> = {}) =>
    writeConfig(p, [{ url: CONDITIONAL, factory: 'conditionalHost' }], simpleConfig(agent, { workspace: 'none', egress: { allow: [], dlp: false }, ...bottleKeys }, extra), '[conditionalHost()]');
  const fetchHost = ['sh', '-c', `curl -s -m 20 http://${HOST}/; echo "curl exit $?"`];

  it('with the switch set, the guest gets past the allowlist to the extra host (refused only at the dial)', async () => {
    p = project();
    const agent = agentName('condon');
    configWith(agent, { extraHost: HOST });
    const r = await bottle(p, ['run', '--', ...fetchHost], { EXTRA_HOST_ON: '1' });
    expect(r.exitCode).toBe(0);
    // Allowed by name; what the name resolves to (this machine) is never dialled: a different refusal.
    expect(r.stdout).toContain(`egress to "${HOST}" is refused: it is (or resolves to) a local, private or otherwise forbidden address`);
    expect(r.stdout).not.toContain('is not allowed');
    const events = auditEvents(p);
    expect(events.find((e) => e.type === 'conditional-host.allowed')).toMatchObject({ plugin: 'conditional-host', host: HOST, switch: 'EXTRA_HOST_ON' });
    expect(events.find((e) => e.type === 'egress.deny')).toMatchObject({ host: HOST, reason: expect.stringMatching(/^forbidden address/) });
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('without the switch (or with another switch named), the allowlist refuses the host', async () => {
    p = project();
    const agent = agentName('condoff');
    // The switch is named by the config: EXTRA_HOST_ON alone does nothing here.
    configWith(agent, { extraHost: HOST, extraHostSwitch: 'MY_SWITCH' });
    const r = await bottle(p, ['run', '--', ...fetchHost], { EXTRA_HOST_ON: '1', MY_SWITCH: '' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`claude-bottle: egress to "${HOST}" is not allowed`);
    expect(r.stdout).not.toContain('forbidden address');
    const events = auditEvents(p);
    expect(events.some((e) => e.type === 'conditional-host.allowed')).toBe(false);
    expect(events.find((e) => e.type === 'egress.deny')).toMatchObject({ host: HOST });
  });

  it("the example's own bottle.config.ts plans one more allowed host with the switch, none without", async () => {
    p = project();
    const config = example('conditional-host/bottle.config.ts');
    const proxy = async (env: Record<string, string>) => (await planJson(p, ['--config', config], env)).daemons.find((d) => d.name === 'egress')?.description;
    // registry.npmjs.org from the config, api.example.com from the plugin; the claude plugin's route.
    expect(await proxy({ EXTRA_HOST_ON: '1' })).toContain('2 allowed pattern(s), 1 route(s)');
    expect(await proxy({ EXTRA_HOST_ON: '' })).toContain('1 allowed pattern(s), 1 route(s)');
    expect(existsSync(p.stateRoot)).toBe(false);
  });

  it('a wrong type for its key is exit 2 naming the key; so is a pattern that is not a host', async () => {
    p = project();
    configWith(agentName('condtype'), { extraHost: 42 });
    let r = await bottle(p, ['plan']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bottle.config.ts: bottles.dev.extraHost: expected string, got number');

    configWith(agentName('condurl'), { extraHost: 'https://api.example.com/' });
    r = await bottle(p, ['plan'], { EXTRA_HOST_ON: '1' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bottle.config.ts: bottles.dev.extraHost: a host name or `*.example.com`, without scheme, port or path');
  });

  it('with egress disabled, the config is refused with both plugins named (exit 2)', async () => {
    p = project();
    configWith(agentName('condnoegress'), { extraHost: HOST }, { disable: ['egress', 'claude'] });
    const r = await bottle(p, ['plan'], { EXTRA_HOST_ON: '1' });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('plugin "conditional-host" needs plugin "egress", which is disabled');
  });
});

describe.skipIf(!dockerAvailable)('example: host-daemon (kv)', () => {
  let p: Project;
  afterEach(() => p?.cleanup());

  const configWith = (agent: string, kv: object, plugins = '[kvStore()]') =>
    writeConfig(p, [{ url: KV, factory: 'kvStore' }], simpleConfig(agent, { workspace: 'none', kv }), plugins);
  const savedTo = () => path.join(path.dirname(p.dir), 'kv.json');

  it('the guest reaches the store on 127.0.0.1:<port>; each request is audited; at the end it is closed, saved and its socket gone', async () => {
    p = project();
    const agent = agentName('kv');
    configWith(agent, { seed: { greeting: 'hello from the host' }, saveTo: '../kv.json', maxValueBytes: 16 });
    const script = [
      'echo "url $KV_URL"',
      'echo "seeded $(curl -s $KV_URL/kv/greeting)"',
      `echo "put $(curl -s -X PUT --data-binary 'from the guest' http://127.0.0.1:7070/kv/note)"`,
      'echo "get $(curl -s http://127.0.0.1:7070/kv/note)"',
      `echo "missing $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7070/kv/nothing)"`,
      `echo "big $(head -c 100 /dev/zero | tr '\\0' x | curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary @- http://127.0.0.1:7070/kv/big)"`,
      `echo "keys $(curl -s http://127.0.0.1:7070/kv/ | tr '\\n' ,)"`,
    ].join('\n');
    const r = await bottle(p, ['run', '--', 'sh', '-c', script]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      'url http://127.0.0.1:7070',
      'seeded hello from the host',
      'put stored',
      'get from the guest',
      'missing 404',
      'big 413',
      'keys greeting,note,',
    ]);

    const events = auditEvents(p);
    const kv = events.filter((e) => e.plugin === 'kv');
    expect(kv.map((e) => [e.type, e.key ?? null])).toEqual([
      ['kv.started', null],
      ['kv.get', 'greeting'],
      ['kv.put', 'note'],
      ['kv.get', 'note'],
      ['kv.get', 'nothing'],
      ['kv.refused', 'big'],
      ['kv.list', null],
      ['kv.stopped', null],
    ]);
    expect(kv[0]).toMatchObject({ guest: 'http://127.0.0.1:7070', entries: 1 });
    expect(kv[5]).toMatchObject({ reason: 'too large', status: 413 });
    expect(kv[7]).toMatchObject({ entries: 2, savedTo: savedTo() });
    // Stopped by its undo, after the agent and before the bottle's end.
    const types = events.map((e) => e.type);
    expect(types.indexOf('agent.exit')).toBeLessThan(types.indexOf('kv.stopped'));
    expect(types.at(-1)).toBe('bottle.end');
    // No value in the audit trail: the store's contents are the agent's.
    expect(JSON.stringify(events)).not.toContain('from the guest');

    expect(existsSync(String(kv[0]!.socket))).toBe(false);
    expect(JSON.parse(readFileSync(savedTo(), 'utf8'))).toEqual({ greeting: 'hello from the host', note: 'from the guest' });
    expect(statSync(savedTo()).mode & 0o777).toBe(0o600);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it("another plugin's entry (api.use('kv') from plan) is in the store; a bottle that fails after the store started still closes and saves it", async () => {
    p = project();
    const agent = agentName('kvfail');
    // Another in-house plugin, inline: it contributes an entry in plan, and its provision fails (after kv's preStart).
    const other = `{
      name: 'other',
      dependencies: ['kv'],
      apply(hooks, api) {
        hooks.plan.tap({ name: 'other', stage: -100 }, () => api.use('kv').set('from-plugin', 'set in plan'));
        hooks.provision.tapPromise('other', async () => { throw new Error('boom'); });
      },
    }`;
    configWith(agent, { seed: { a: '1' }, saveTo: '../kv.json' }, `[kvStore(), ${other}]`);
    const r = await bottle(p, ['run', '--', 'echo', 'the agent ran']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('plugin "other" failed in provision: boom');
    expect(r.stdout).not.toContain('the agent ran');
    const kv = auditEvents(p).filter((e) => e.plugin === 'kv');
    expect(kv.map((e) => e.type)).toEqual(['kv.started', 'kv.stopped']);
    expect(kv[0]).toMatchObject({ entries: 2 });
    expect(existsSync(String(kv[0]!.socket))).toBe(false);
    expect(JSON.parse(readFileSync(savedTo(), 'utf8'))).toEqual({ 'from-plugin': 'set in plan', a: '1' });
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it("the example's own bottle.config.ts plans the door, the daemon and $KV_URL; a port another door has is exit 2", async () => {
    p = project();
    const plan = await planJson(p, ['--config', example('host-daemon/bottle.config.ts')]);
    expect(plan.doors.filter((d) => d.plugin === 'kv')).toEqual([expect.objectContaining({ name: 'kv', guest: '127.0.0.1:7070', socket: expect.stringMatching(/\/doors\/kv\.sock$/) })]);
    expect(plan.daemons.find((d) => d.plugin === 'kv')?.description).toContain(`saved to ${example('host-daemon/kv-store.json')}`);
    expect(plan.env.KV_URL).toBe('http://127.0.0.1:7070');
    expect(existsSync(p.stateRoot)).toBe(false);

    writeConfig(p, [{ url: KV, factory: 'kvStore' }], simpleConfig(agentName('kvport'), { workspace: 'none', supervise: true, kv: { port: 8767 } }), '[kvStore()]');
    const r = await bottle(p, ['plan']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bottle.config.ts: bottles.dev.kv.port: door "kv": port 8767 is already door "supervise" of plugin "supervise"');
  });
});

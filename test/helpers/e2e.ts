// For the e2e tier: the real Claude Code in a bottle, talking to a mock API
// on this host. The guest has no network, only doors, so an in-house plugin
// in the project's bottle.config.mjs asks for a door of its own, relays it to
// the mock's port on the host, and points ANTHROPIC_BASE_URL at the door.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, TEST_IMAGE, type Project } from './cli.ts';

/** What Claude Code needs to run headless against a mock, and nothing else. */
export const CLAUDE_ENV: Record<string, string> = {
  ANTHROPIC_API_KEY: 'sk-ant-mock-not-a-real-key',
  IS_SANDBOX: '1',
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  DISABLE_AUTOUPDATER: '1',
  DISABLE_TELEMETRY: '1',
  // One retry, not ten with back-off: a mock that cannot be reached (or a
  // scripted API error) fails the run in seconds instead of minutes.
  CLAUDE_CODE_MAX_RETRIES: '1',
};

export interface ClaudeAgent {
  prompt?: string;
  skills?: string[];
  env?: Record<string, string>;
  workspace?: 'copy' | 'mount' | 'none';
}

/**
 * Writes bottle.config.mjs in the project: one agent in bottle `dev` on the
 * test image, `skillsDir: '../skills'` (next to the project dir, so skills
 * reach the guest only through the skills plugin, never with the workspace),
 * CLAUDE_ENV plus `env`, and the plugin that aims Claude Code at the mock
 * listening on `port` on the host.
 */
export function writeClaudeConfig(p: Project, agent: string, port: number, a: ClaudeAgent = {}): void {
  const config = {
    image: TEST_IMAGE,
    skillsDir: '../skills',
    agents: { [agent]: { bottle: 'dev', prompt: a.prompt ?? '', skills: a.skills ?? [] } },
    bottles: { dev: { workspace: a.workspace ?? 'copy', env: { ...CLAUDE_ENV, ...a.env } } },
    // This bottle talks to the mock through a door of its own, with a key of its own in the guest:
    // the claude plugin (the host's credential at the proxy) is tested in claude-tui.test.ts.
    disable: ['claude'],
  };
  const doors = pathToFileURL(path.join(ROOT, 'core/doors.ts')).href;
  const src = `// Written by test/helpers/e2e.ts.
import net from 'node:net';
import { closeServer, listenOnDoor } from ${JSON.stringify(doors)};
const config = ${JSON.stringify(config, null, 2)};
let door;
config.plugins = [
  {
    name: 'mock-api',
    apply(hooks) {
      hooks.plan.tapPromise('mock-api', async (_draft, ctx) => {
        door = ctx.door({ name: 'mock-api', port: 8099, description: 'the mock Messages API on the host' });
      });
      hooks.preStart.tapPromise('mock-api', async (ctx) => {
        const live = new Set();
        const server = net.createServer((guest) => {
          const mock = net.connect(${port}, '127.0.0.1');
          for (const s of [guest, mock]) { live.add(s); s.on('close', () => live.delete(s)); s.on('error', () => { guest.destroy(); mock.destroy(); }); }
          guest.pipe(mock).pipe(guest);
        });
        await listenOnDoor(server, door.socketPath);
        ctx.onUndo('close the mock door', () => closeServer(server, live));
      });
      hooks.exec.tapPromise('mock-api', async (spec) => {
        spec.env.ANTHROPIC_BASE_URL = door.url;
        return spec;
      });
    },
  },
];
export default config;
`;
  writeFileSync(path.join(p.dir, 'bottle.config.mjs'), src);
}

/** Creates `<project>/../skills/<name>/SKILL.md` with the front matter Claude Code lists skills by. */
export function writeSkill(p: Project, name: string, description: string, body = ''): void {
  const dir = path.join(p.dir, '..', 'skills', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'SKILL.md'), `---\nname: ${name}\ndescription: ${description}\n---\n\n${body}\n`);
}

/**
 * Writes bottle.config.json for Claude Code behind the egress proxy, as users
 * run it: `ANTHROPIC_BASE_URL=https://api.anthropic.com`, and a route for that
 * host that injects the real key from the host's ANTHROPIC_API_KEY and sends
 * the traffic to the mock on this machine. The guest gets a placeholder.
 * `bottle` extends the bottle (its `env` is merged).
 */
export function writeRoutedClaudeConfig(p: Project, agent: string, mockPort: number, bottle: { env?: Record<string, string>; [key: string]: unknown } = {}): void {
  const { ANTHROPIC_API_KEY: _placeholder, ...env } = CLAUDE_ENV;
  const { env: extraEnv, ...rest } = bottle;
  const config = {
    image: TEST_IMAGE,
    agents: { [agent]: { bottle: 'dev' } },
    bottles: {
      dev: {
        workspace: 'none',
        env: { ...env, ANTHROPIC_BASE_URL: 'https://api.anthropic.com', ...extraEnv },
        egress: { routes: [{ host: 'api.anthropic.com', inject: { header: 'x-api-key', env: 'ANTHROPIC_API_KEY' }, upstream: `http://127.0.0.1:${mockPort}` }] },
        ...rest,
      },
    },
  };
  writeFileSync(path.join(p.dir, 'bottle.config.json'), JSON.stringify(config, null, 2));
}

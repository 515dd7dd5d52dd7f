// What a newcomer gets: `bottle run` with a credential exported, and the real
// Claude Code is at its prompt in a terminal (tmux) with no first-run
// question; a message reaches the model (the mock) with the host's real
// credential, which the guest never holds. API key and OAuth token alike.
// The scripted model then has Claude read a file holding a token: the
// session goes on, the mock gets the marker and never the token.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, BIN, leftovers, project, stateDirs, TEST_IMAGE, type Project } from '../helpers/cli.ts';
import { startMockAnthropic, toolNames, toolResults, type MockAnthropic } from '../helpers/mock-anthropic.ts';

const AWS = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');

const hasTmux = execaSync('tmux', ['-V'], { reject: false }).exitCode === 0;
/** What Claude Code's first-run prompts say; none may ever show. */
const FIRST_RUN = [/text style/i, /use this API key/i, /security notes/i, /trust the files/i, /Bypass Permissions mode/i, /Select login method/i];
const screen = (session: string) => execaSync('tmux', ['capture-pane', '-t', session, '-p'], { reject: false }).stdout;

async function until(what: string, session: string, ok: (s: string) => boolean, ms = 90_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = screen(session);
    for (const re of FIRST_RUN) expect(s, `a first-run prompt showed:\n${s}`).not.toMatch(re);
    if (ok(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the screen:\n${s}`);
    await sleep(300);
  }
}

describe.skipIf(!dockerAvailable || !hasTmux)('Claude Code out of the box, in a terminal', () => {
  let p: Project | undefined;
  let api: MockAnthropic | undefined;
  let session = '';
  afterEach(async () => {
    if (session) execaSync('tmux', ['kill-session', '-t', session], { reject: false });
    // The bottle tears down on the closed terminal's SIGHUP.
    for (let i = 0; i < 100 && p && stateDirs(p).length; i++) await sleep(200);
    await api?.close();
    p?.cleanup();
    p = api = undefined;
  });

  for (const [name, env, header, expected] of [
    ['an API key', 'ANTHROPIC_API_KEY', 'x-api-key', (v: string) => v],
    ['a `claude setup-token` token', 'CLAUDE_CODE_OAUTH_TOKEN', 'authorization', (v: string) => `Bearer ${v}`],
  ] as const) {
    it(`with ${name}: at the prompt with no question, and the model gets the real credential`, async () => {
      const marker = `PONG-${Math.random().toString(36).slice(2, 8)}`;
      const done = `DONE-${Math.random().toString(36).slice(2, 8)}`;
      api = await startMockAnthropic({
        script: (req) => {
          const text = JSON.stringify(req.body ?? '');
          if (!toolNames(req.body).includes('Bash')) return undefined;
          if (toolResults(req.body).length) return { text: done };
          if (text.includes('READ-CREDS')) return { toolUse: { id: 'toolu_tui_creds', name: 'Bash', input: { command: 'cat creds.txt', description: 'read the credentials' } } };
          return text.includes('PING-TUI') ? { text: marker } : undefined;
        },
      });
      p = project('bottle-e2e-tui-');
      const agent = agentName('tui');
      writeFileSync(path.join(p.dir, 'creds.txt'), `aws_access_key_id = ${AWS}\n`);
      // The default agent (claude); api.anthropic.com's traffic goes to the mock, as a user's gateway would take it.
      p.config({ image: TEST_IMAGE, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copy', egress: { routes: [{ host: 'api.anthropic.com', upstream: api.url }] } } } });
      const secret = `${env === 'ANTHROPIC_API_KEY' ? 'sk-ant-api03' : 'sk-ant-oat01'}-e2e-${Math.random().toString(36).slice(2)}`;
      const vars = { ...p.env, ANTHROPIC_API_KEY: undefined, [env]: secret };
      // `env -u NAME` must come before the assignments.
      const envArgs = [...Object.entries(vars).flatMap(([k, v]) => (v === undefined ? ['-u', k] : [])), ...Object.entries(vars).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]))];
      session = `bottle-tui-${process.pid}-${env.length}`;
      execaSync('tmux', ['new-session', '-d', '-s', session, '-x', '120', '-y', '40', '-c', p.dir, 'env', ...envArgs, process.execPath, BIN, 'run']);
      await until('the prompt', session, (s) => /bypass permissions on/.test(s) && /❯/.test(s));
      execaSync('tmux', ['send-keys', '-t', session, 'say PING-TUI please', 'Enter']);
      await until("the model's answer", session, (s) => s.includes(marker));
      // A secret in the conversation: redacted on the way, and the session goes on.
      execaSync('tmux', ['send-keys', '-t', session, 'READ-CREDS now', 'Enter']);
      await until('the answer after the tool call', session, (s) => s.includes(done));
      const sent = JSON.stringify(api.requests.map((q) => q.body));
      expect(sent).not.toContain(AWS.slice(4, -2));
      expect(sent).toMatch(/\[(REDACTED:)?aws-access/);
      const toApi = api.requests;
      expect(toApi.length).toBeGreaterThan(0);
      for (const q of toApi) expect(q.headers[header], `${q.method} ${q.url}`).toBe(expected(secret));
      expect(leftovers(agent).containers).toHaveLength(1);
    }, 180_000);
  }
});

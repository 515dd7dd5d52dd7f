// Claude Code in a bottle talks to https://api.anthropic.com through the
// egress proxy: the route sends that host's traffic to a scripted mock on
// this machine and injects the real key. The mock sees the real key; the
// guest (env, /proc, files) never holds it.
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, type Project } from '../helpers/cli.ts';
import { writeRoutedClaudeConfig } from '../helpers/e2e.ts';
import { startMockAnthropic, toolNames, toolResults, type MockAnthropic } from '../helpers/mock-anthropic.ts';

const REAL_KEY = ['sk-ant-api03', Math.random().toString(36).slice(2), 'e2e-real'].join('-');
const TOOL_ID = 'toolu_e2e_lookforkey';
// Looks everywhere the agent could: every process's environment, its own env, its files.
// The key's tail comes in two halves, so that only the whole key would match.
const COMMAND = `t="$KEYA$KEYB"; if grep -rqs -- "$t" /proc/*/environ /home/node /etc /tmp /run 2>/dev/null || env | grep -q -- "$t"; then echo KEY-FOUND; else echo KEY-ABSENT; fi; echo "placeholder:$ANTHROPIC_API_KEY" | cut -c1-32`;

describe.skipIf(!dockerAvailable)('claude through the egress proxy', () => {
  let p: Project | undefined;
  let api: MockAnthropic | undefined;
  afterEach(async () => {
    await api?.close();
    p?.cleanup();
    p = api = undefined;
  });

  it('the mock sees the real key; the guest never does', async () => {
    api = await startMockAnthropic({
      host: '127.0.0.1',
      script: (req) => {
        if (!toolNames(req.body).includes('Bash')) return undefined;
        if (toolResults(req.body).length) return { text: 'done' };
        return { toolUse: { id: TOOL_ID, name: 'Bash', input: { command: COMMAND, description: 'look for the key' } } };
      },
    });
    p = project('bottle-e2e-egress-');
    const agent = agentName('egress');
    // The key's tail in two halves, for the grep; the key itself is never written into the guest.
    writeRoutedClaudeConfig(p, agent, api.port, { env: { KEYA: REAL_KEY.slice(-20, -10), KEYB: REAL_KEY.slice(-10) } });
    const r = await bottle(p, ['run', '--', 'claude', '-p', 'Look for the key.', '--dangerously-skip-permissions'], { ANTHROPIC_API_KEY: REAL_KEY });
    const why = `${api.requests.map((q) => `${q.method} ${q.url} key=${String(q.headers['x-api-key']).slice(0, 12)}`).join('\n')}\n${r.stdout}\n${r.stderr}`;
    expect(r.exitCode, why).toBe(0);
    const main = api.requests.filter((q) => toolNames(q.body).includes('Bash'));
    expect(main.length, why).toBeGreaterThanOrEqual(2);
    for (const q of api.requests) expect(q.headers['x-api-key'], why).toBe(REAL_KEY);
    const result = toolResults(main.find((q) => toolResults(q.body).length)!.body)[0]!;
    expect(result.text, why).toContain('KEY-ABSENT');
    expect(result.text, why).toContain('placeholder:bottle-placeholder-');
    expect(r.stdout).not.toContain(REAL_KEY);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  }, 180_000);
});

// The real Claude Code in a bottle asks a human through supervise: the
// scripted model calls mcp__supervise__request_egress; the request shows in
// `bottle approvals --json`; `bottle approve` answers; the tool result the
// model gets says approved, and the proxy lets the host through where it
// refused it before. Then the same with `deny` (the reason reaches the
// model) and with a timeout.
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, type Project } from '../helpers/cli.ts';
import { writeRoutedClaudeConfig } from '../helpers/e2e.ts';
import { allToolResults, startMockAnthropic, toolNames, type MockAnthropic, type RecordedRequest } from '../helpers/mock-anthropic.ts';

/** This machine's own name (from its /etc/hosts: no DNS query leaves): allowable by name, refused at the dial. */
const HOST = hostname().toLowerCase();
const CURL = `curl -s -m 10 --noproxy '' -x "$HTTP_PROXY" http://${HOST}/ | head -c 100`;

// The model's turns, by how many tool results it has seen.
const STEPS = [
  { id: 'toolu_before', name: 'Bash', input: { command: CURL, description: 'try the host' } },
  { id: 'toolu_req_ok', name: 'mcp__supervise__request_egress', input: { host: HOST, reason: 'the tests run a server there' } },
  { id: 'toolu_after', name: 'Bash', input: { command: CURL, description: 'try again' } },
  { id: 'toolu_req_no', name: 'mcp__supervise__request_egress', input: { host: 'denied.test', reason: 'just curious' } },
  { id: 'toolu_ask', name: 'mcp__supervise__ask', input: { question: 'May I delete the build cache?' } },
];

describe.skipIf(!dockerAvailable)('claude asks a human through supervise', () => {
  let p: Project | undefined;
  let api: MockAnthropic | undefined;
  afterEach(async () => {
    await api?.close();
    p?.cleanup();
    p = api = undefined;
  });

  it('approve, deny and timeout reach the model; an approved host is let through at once', async () => {
    api = await startMockAnthropic({
      host: '127.0.0.1',
      script: (req: RecordedRequest) => {
        if (!toolNames(req.body).includes('Bash')) return undefined;
        const step = STEPS[allToolResults(req.body).length];
        return step ? { toolUse: step } : { text: 'all done' };
      },
    });
    p = project('bottle-e2e-supervise-');
    const agent = agentName('sup');
    writeRoutedClaudeConfig(p, agent, api.port, { supervise: { timeoutSeconds: 10 } });
    const run = bottle(p, ['run', '--', 'claude', '-p', `Get to ${HOST}.`, '--dangerously-skip-permissions'], { ANTHROPIC_API_KEY: 'sk-ant-e2e-supervise' });
    let finished = false;
    void run.then(() => (finished = true));
    const seen: Array<{ id: string; subject: string; kind: string }> = [];
    while (!finished) {
      const r = await bottle(p, ['approvals', '--json']);
      for (const q of r.exitCode === 0 && r.stdout.trim() ? (JSON.parse(r.stdout) as Array<{ id: string; subject: string; kind: string }>) : []) {
        if (seen.some((s) => s.id === q.id)) continue;
        seen.push(q);
        if (q.subject === HOST) await bottle(p, ['approve', q.id]);
        if (q.subject === 'denied.test') await bottle(p, ['deny', q.id, '--reason', 'not on this project']);
        // The ask is left unanswered: it must time out.
      }
      await sleep(300);
    }
    const r = await run;
    const last = api.requests.filter((q) => toolNames(q.body).includes('Bash')).at(-1);
    const results = last ? allToolResults(last.body) : [];
    const why = `${results.map((x) => `${x.tool_use_id}: ${x.text.slice(0, 120)}`).join('\n')}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    expect(r.exitCode, why).toBe(0);
    // Claude Code defers MCP tools (they are not in `tools` up front); that they ran is what counts.
    expect(seen.map((s) => s.subject), why).toEqual(expect.arrayContaining([HOST, 'denied.test']));
    const text = (id: string) => results.find((x) => x.tool_use_id === id)?.text ?? '';
    expect(text('toolu_before'), why).toContain('is not allowed');
    expect(text('toolu_req_ok'), why).toMatch(/^approved/);
    expect(text('toolu_after'), why).not.toContain('is not allowed');
    expect(text('toolu_req_no'), why).toMatch(/denied.*not on this project/);
    expect(text('toolu_ask'), why).toMatch(/timed out/);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  }, 240_000);
});

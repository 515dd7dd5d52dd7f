// The real Claude Code binary in a real bottle, talking to a scripted mock of
// the Messages API on this host (reached through a door of the test's own). Everything is checked on what reaches the mock, not on Claude's
// output: the agent's prompt is in the system prompt, its skill is listed,
// and a Bash tool call the "model" makes runs inside the guest as node.
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, stateDirs, type Project } from '../helpers/cli.ts';
import { CLAUDE_ENV, writeClaudeConfig, writeSkill } from '../helpers/e2e.ts';
import { allText, startMockAnthropic, systemText, toolNames, toolResults, type MockAnthropic, type RecordedRequest } from '../helpers/mock-anthropic.ts';

const PROMPT_MARKER = `PROMPT-MARKER-${Math.random().toString(36).slice(2, 10)}`;
const SKILL = 'marker-skill';
const SKILL_MARKER = `SKILL-DESC-MARKER-${Math.random().toString(36).slice(2, 10)}`;
const TOOL_ID = 'toolu_e2e_whoami';
// Each line only the guest can produce: the agent user, its uid, the bottle's
// hostname, its workdir, and the mark its forwarder leaves once every door is bound.
const COMMAND = 'id -un; id -u; hostname; pwd; test -e /run/claude-bottle-ready && echo ready';
const FINAL = 'E2E-FINAL-ANSWER';

/** The main loop's requests: the ones offering Claude Code's Bash tool. */
const isMainLoop = (r: RecordedRequest) => toolNames(r.body).includes('Bash');

/** One line per recorded request, for failure messages. */
function summary(api: MockAnthropic, run: { stdout: string; stderr: string }): string {
  const lines = api.requests.map((r) => `${r.method} ${r.url} model=${r.body?.model} stream=${r.body?.stream} tools=${toolNames(r.body).length} -> ${JSON.stringify(r.answer)}`);
  // claude -p reports API errors on stdout; the progress lines are left out.
  const stderr = run.stderr.split('\n').filter((l) => !/^[✓…] /.test(l)).join('\n');
  return `mock saw ${api.requests.length} request(s):\n${lines.join('\n')}\n--- stdout ---\n${run.stdout}\n--- stderr ---\n${stderr}`;
}

describe.skipIf(!dockerAvailable)('claude in a bottle, against a mock API', () => {
  let p: Project | undefined;
  let api: MockAnthropic | undefined;
  let run: ReturnType<typeof bottle> | undefined;
  afterEach(async () => {
    run?.kill('SIGTERM'); // only does something when the test timed out
    await run;
    await api?.close();
    p?.cleanup();
    p = api = run = undefined;
  });

  it('gets the prompt and the skill to the model and runs its Bash tool call in the guest as node', async () => {
    api = await startMockAnthropic({
      script: (req) => {
        if (!isMainLoop(req)) return undefined; // side requests: the default short text
        if (toolResults(req.body).length) return { text: FINAL };
        return { toolUse: { id: TOOL_ID, name: 'Bash', input: { command: COMMAND, description: 'Report who and where I am' } } };
      },
    });
    p = project('bottle-e2e-');
    const agent = agentName('claude');
    writeSkill(p, SKILL, `${SKILL_MARKER} use this skill when asked about markers`, 'Say the marker.');
    writeClaudeConfig(p, agent, api.port, { prompt: `${PROMPT_MARKER} Be brief.`, skills: [SKILL] });

    run = bottle(p, ['run', '--', 'claude', '-p', 'Report who and where you are.', '--dangerously-skip-permissions'], { BOTTLE_QUIET: '' });
    const r = await run;
    const why = summary(api, r);

    // (d) Claude finished normally and the bottle is gone.
    expect(r.exitCode, why).toBe(0);
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);

    const main = api.requests.filter(isMainLoop);
    expect(main.length, why).toBeGreaterThanOrEqual(2);
    for (const req of main) {
      expect(req.headers['x-api-key'], why).toBe(CLAUDE_ENV.ANTHROPIC_API_KEY);
      // (a) The agent's prompt is appended to the system prompt itself.
      expect(systemText(req.body), why).toContain(PROMPT_MARKER);
      // (b) The skill is listed to the model, by name and description.
      const text = allText(req.body);
      expect(text, why).toContain(SKILL);
      expect(text, why).toContain(SKILL_MARKER);
    }

    // (c) The scripted Bash call ran in the guest, and its output came back
    // to the model as the tool result of the next request.
    const answered = main.filter((q) => toolResults(q.body).length > 0);
    expect(answered.length, why).toBeGreaterThanOrEqual(1);
    const results = toolResults(answered[0]!.body);
    expect(results, why).toHaveLength(1);
    expect(results[0]).toMatchObject({ tool_use_id: TOOL_ID, is_error: false });
    expect(results[0]!.text.trim().split('\n')).toEqual(['node', '1000', 'bottle', '/home/node/workspace', 'ready']);

    // The loop closed: the scripted final answer is what Claude printed.
    expect(r.stdout).toContain(FINAL);
  }, 120_000);
});

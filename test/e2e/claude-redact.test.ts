// A session that survives a secret: the agent reads a file holding a token,
// the next request to the model carries it, and the proxy replaces it by a
// marker instead of refusing (which would end the session: every later
// request carries the history). The mock never receives the token, does
// receive the marker, and the session ends with the model's answer.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, bottle, project, TEST_IMAGE, type Project } from '../helpers/cli.ts';
import { startMockAnthropic, toolNames, toolResults, type MockAnthropic } from '../helpers/mock-anthropic.ts';

const AWS = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');
const FINAL = 'REDACT-E2E-DONE';

describe.skipIf(!dockerAvailable)('a secret in the conversation', () => {
  let p: Project | undefined;
  let api: MockAnthropic | undefined;
  afterEach(async () => {
    await api?.close();
    p?.cleanup();
    p = api = undefined;
  });

  it('is redacted on the way to the model, and the session goes on', async () => {
    api = await startMockAnthropic({
      script: (req) => {
        if (!toolNames(req.body).includes('Bash')) return undefined;
        if (toolResults(req.body).length) return { text: FINAL };
        return { toolUse: { id: 'toolu_redact', name: 'Bash', input: { command: 'cat creds.txt', description: 'read the credentials' } } };
      },
    });
    p = project('bottle-e2e-redact-');
    const agent = agentName('redact');
    writeFileSync(path.join(p.dir, 'creds.txt'), `aws_access_key_id = ${AWS}\n`);
    p.config({ image: TEST_IMAGE, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copy', egress: { routes: [{ host: 'api.anthropic.com', upstream: api.url }] } } } });
    const r = await bottle(p, ['run', '--', 'claude', '-p', 'Read creds.txt and tell me what is in it.']);
    const sent = JSON.stringify(api.requests.map((q) => q.body));
    const why = `${r.stdout}\n${r.stderr}\n${api.requests.map((q) => `${q.method} ${q.url}`).join('\n')}`;
    expect(r.exitCode, why).toBe(0);
    expect(r.stdout).toContain(FINAL);
    // The tool result reached the model with the marker in place of the key, and the key never.
    expect(sent).not.toContain(AWS.slice(4, -2));
    expect(sent).toMatch(/\[(REDACTED:)?aws-access/);
    const redactions = auditEvents(p).filter((e) => e.type === 'egress.redact');
    expect(redactions.length).toBeGreaterThan(0);
    expect(redactions[0]).toMatchObject({ host: 'api.anthropic.com', rule: 'aws-access-key-id' });
    expect(JSON.stringify(auditEvents(p))).not.toContain(AWS.slice(4, -2));
  }, 180_000);
});

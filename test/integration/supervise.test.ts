// Supervise from inside a real bottle: the agent's MCP calls wait for a
// human; `bottle approvals --json` shows them (neutralised), `bottle approve`
// changes the running proxy at once, `bottle deny` gives the agent the
// reason, an unanswered request times out, a flood is limited, and nothing
// in the guest's reach can approve. The "agent" here is curl speaking MCP.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, TEST_IMAGE, type Project } from '../helpers/cli.ts';

interface Pending {
  id: string;
  kind: string;
  subject: string;
  reason: string;
  text: string;
}

/** This machine's own name: in its /etc/hosts, so resolving it sends nothing out. */
const HOST = hostname().toLowerCase();

const MCP = `
url=http://127.0.0.1:8767/mcp
mcp() { curl -s -m 60 -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -H "mcp-session-id: $sid" -d "$1" $url; }
sid=$(curl -s -D - -o /dev/null -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \\
  -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}' $url \\
  | tr -d '\\r' | awk 'tolower($1)=="mcp-session-id:" {print $2}')
mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
call() { mcp "{\\"jsonrpc\\":\\"2.0\\",\\"id\\":$1,\\"method\\":\\"tools/call\\",\\"params\\":{\\"name\\":\\"$2\\",\\"arguments\\":$3}}"; }
verdict() { grep -o '\\(approved\\|denied\\|timed out\\|rate limited\\).\\{0,240\\}' | head -1; }
`;

describe.skipIf(!dockerAvailable)('supervise from inside a bottle', () => {
  let p: Project;
  let agent: string;
  let out = new Map<string, string>();
  const seen: Pending[] = [];
  let answered: string[] = [];

  beforeAll(async () => {
    p = project('bottle-supervise-');
    agent = agentName('sup');
    p.config({
      image: TEST_IMAGE,
      agents: { [agent]: { bottle: 'dev' } },
      bottles: { dev: { workspace: 'none', supervise: { timeoutSeconds: 6 }, egress: { allow: [], dlp: false } } },
    });
    const script = [
      MCP,
      // The host's own name (resolved from its /etc/hosts, no DNS query leaves): allowable by name, refused at the dial.
      `echo "before $(curl -s -m 10 -x "$HTTP_PROXY" http://${HOST}/ | head -c 80)"`,
      `echo "status $(call 2 bottle_status '{}' | grep -o 'supervise' | head -1)"`,
      `echo "local $(call 6 request_egress '{"host":"localhost","reason":"loopback"}' | grep -o 'this machine' | head -1)"`,
      `echo "egress $(call 3 request_egress '{"host":"${HOST}","reason":"need it \\u001b[31mred\\u001b[0m \\u202eevil"}' | verdict)"`,
      `echo "after $(curl -s -m 10 -x "$HTTP_PROXY" http://${HOST}/ | head -c 80)"`,
      `echo "denied $(call 4 request_egress '{"host":"other.test","reason":"more"}' | verdict)"`,
      `echo "timeout $(call 5 ask '{"question":"anyone there?"}' | verdict)"`,
      // A flood: five wait, the sixth is refused at once.
      `for i in 1 2 3 4 5; do call 1$i request_egress "{\\"host\\":\\"flood$i.test\\",\\"reason\\":\\"flood\\"}" >/dev/null & done; sleep 1`,
      `echo "flood $(call 20 request_egress '{"host":"flood6.test","reason":"flood"}' | verdict)"`,
      'wait',
      // Nothing the guest reaches can approve.
      `echo "approve-endpoint $(curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:8767/approve)"`,
      `echo "tools $(call 30 nope '{}' | grep -o 'approve' | head -1)none"`,
    ].join('\n');
    const run = bottle(p, ['run', '--', 'bash', '-c', script]);
    let finished = false;
    void run.then(() => (finished = true));
    // The human: answers the host request and the other.test one, leaves the rest.
    const done = new Set<string>();
    while (!finished) {
      const r = await bottle(p, ['approvals', '--json']);
      if (r.exitCode === 0 && r.stdout.trim()) {
        for (const q of JSON.parse(r.stdout) as Pending[]) {
          if (done.has(q.id)) continue;
          done.add(q.id);
          seen.push(q);
          if (q.subject === HOST) answered.push((await bottle(p, ['approve', q.id])).stdout);
          if (q.subject === 'other.test') answered.push((await bottle(p, ['deny', q.id, '--reason', 'not today'])).stdout);
        }
      }
      await sleep(300);
    }
    const r = await run;
    expect(r.exitCode, r.stderr).toBe(0);
    out = new Map(r.stdout.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
  }, 300_000);

  afterAll(() => p?.cleanup());

  it('bottle_status answers', () => {
    expect(out.get('status')).toBe('supervise');
  });

  it('an approved host is added to the running proxy at once; this machine cannot even be asked for', () => {
    expect(out.get('local')).toBe('this machine');
    expect(seen.some((q) => q.subject === 'localhost')).toBe(false);
    expect(out.get('before')).toContain('is not allowed');
    expect(out.get('egress')).toMatch(/^approved/);
    // Allowed now; what stops it is the loopback refusal, no longer the allowlist.
    expect(out.get('after')).not.toContain('is not allowed');
    expect(out.get('after')).toMatch(/is refused|could not reach/);
    expect(answered.join('')).toContain('approved');
  });

  it('a denial gives the agent the human\'s reason; an unanswered request times out', () => {
    expect(out.get('denied')).toMatch(/^denied.*not today/);
    expect(out.get('timeout')).toMatch(/^timed out/);
  });

  it('a flood is limited', () => {
    expect(out.get('flood')).toMatch(/^rate limited/);
  });

  it('shows request text with escapes and bidi marks neutralised', () => {
    const req = seen.find((q) => q.subject === HOST)!;
    expect(req.reason).toContain('need it');
    for (const q of seen) expect(q.text + q.reason).not.toMatch(/[\u001b\u202a-\u202e\u2066-\u2069]/);
  });

  it('nothing the guest reaches can approve', () => {
    expect(out.get('approve-endpoint')).toBe('404');
    expect(out.get('tools')).toBe('none');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  });
});

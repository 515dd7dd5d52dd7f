// The supervise MCP server on 127.0.0.1, driven by the official SDK client
// over Streamable HTTP (what Claude Code's `--transport http` speaks), with
// the human answering through the queue on disk as `bottle approve` does.
import http from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Relay, startRelay } from '../../../helpers/relay.ts';
import { answerRequest, listPending, type PendingView } from '../../../../plugins/supervise/queue.ts';
import { egressTarget, pushRef, startSupervise, type SuperviseAudit, type SuperviseOptions, type SuperviseServer } from '../../../../plugins/supervise/server.ts';

let root: string;
let stateDir: string;
let sup: SuperviseServer;
/** The server as the guest reaches it: through a relay standing in for the forwarder. */
let relay: Relay;
let url: string;
let sockN = 0;
let client: Client;
let audits: SuperviseAudit[];
let egressAdded: string[];
let pushesAllowed: string[];

const SLUG = 'dev';

async function start(extra: Partial<SuperviseOptions> = {}): Promise<void> {
  sup = await startSupervise({
    socketPath: path.join(stateDir, `s${sockN++}.sock`),
    stateDir,
    slug: SLUG,
    status: () => ({ egress: { allow: ['api.github.com'], routes: [{ host: 'api.anthropic.com', inject: 'x-api-key' }] }, git: { push: ['claude/*'], protected: ['main'] } }),
    onEgressApproved: (h) => void egressAdded.push(h),
    onPushApproved: (r) => void pushesAllowed.push(r),
    onAudit: (e) => void audits.push(e),
    timeoutMs: 5000,
    pollMs: 50,
    ...extra,
  });
  relay = await startRelay(sup.socketPath);
  url = `http://127.0.0.1:${relay.port}/mcp`;
  client = new Client({ name: 'test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
}

/** The first pending request, once it shows up for the human. */
async function nextPending(): Promise<PendingView> {
  for (let i = 0; i < 200; i++) {
    const [p] = listPending(root);
    if (p) return p;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no pending request appeared');
}

/** Status of a raw request (fetch would not send a Host header of ours). */
function post(port: number, p: string, headers: Record<string, string>, body?: string, method = 'POST'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end(body);
  });
}

const textOf = (r: Awaited<ReturnType<Client['callTool']>>) => (r.content as { type: string; text: string }[]).map((c) => c.text).join('\n');

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'supervise-server-'));
  stateDir = path.join(root, 'bottles', SLUG);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  audits = [];
  egressAdded = [];
  pushesAllowed = [];
});

afterEach(async () => {
  await client?.close().catch(() => {});
  await relay?.close();
  await sup?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('supervise server', () => {
  it('listens on its door only (owner-only), never replacing what is not a socket', async () => {
    await start();
    expect(statSync(sup.socketPath).isSocket()).toBe(true);
    expect(statSync(sup.socketPath).mode & 0o777).toBe(0o600);
    const file = path.join(stateDir, 'plain-file');
    writeFileSync(file, 'x');
    await expect(startSupervise({ socketPath: file, stateDir, slug: SLUG, status: () => ({}), onEgressApproved() {}, onPushApproved() {}, onAudit() {} })).rejects.toThrow(/not a socket/);
  });

  it('lists the four tools, each described for a model', async () => {
    await start();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['ask', 'bottle_status', 'request_egress', 'request_push']);
    for (const t of tools) expect(t.description!.length).toBeGreaterThan(200);
    const egress = tools.find((t) => t.name === 'request_egress')!;
    expect(egress.inputSchema.required).toEqual(['host', 'reason']);
    expect(egress.description).toMatch(/human/);
    expect(egress.description).toMatch(/minutes/);
    expect(egress.description).toMatch(/approved/);
    expect(tools.find((t) => t.name === 'ask')!.inputSchema.required).toEqual(['question']);
  });

  it('bottle_status returns the policy and this bottle\'s pending requests', async () => {
    await start();
    const r = await client.callTool({ name: 'bottle_status', arguments: {} });
    const body = JSON.parse(textOf(r));
    expect(body.egress.allow).toEqual(['api.github.com']);
    expect(body.git).toEqual({ push: ['claude/*'], protected: ['main'] });
    expect(body.supervise).toMatchObject({ limits: { maxPending: 5, perHour: 30 }, pending: [] });
  });

  it('request_egress approved by the human: the host is added before the call returns', async () => {
    await start();
    const call = client.callTool({ name: 'request_egress', arguments: { host: 'https://PyPI.org/simple/', reason: 'pip install -r requirements.txt' } });
    const p = await nextPending();
    expect(p).toMatchObject({ slug: SLUG, kind: 'egress', subject: 'pypi.org', reason: 'pip install -r requirements.txt' });
    expect(egressAdded).toEqual([]);
    answerRequest(root, p.id, { approved: true });
    const r = await call;
    expect(r.isError).toBeFalsy();
    expect(textOf(r)).toMatch(/^approved: pypi\.org is now allowed for this bottle's life/);
    expect(egressAdded).toEqual(['pypi.org']);
    expect(audits.map((a) => a.type)).toEqual(['supervise.request', 'supervise.answer']);
    expect(audits[1]).toMatchObject({ id: p.id, kind: 'egress', subject: 'pypi.org', approved: true });
  });

  it('request_egress denied: the human reason comes back, nothing is added', async () => {
    await start();
    const call = client.callTool({ name: 'request_egress', arguments: { host: 'evil.example', reason: 'need it' } });
    const p = await nextPending();
    answerRequest(root, p.id, { approved: false, reason: 'not on this project' });
    const r = await call;
    expect(textOf(r)).toMatch(/^denied: .*evil\.example.*Their reason: "not on this project"/);
    expect(egressAdded).toEqual([]);
    expect(audits.at(-1)).toMatchObject({ type: 'supervise.answer', approved: false, reason: 'not on this project' });
  });

  it('a request nobody answers times out', async () => {
    await start({ timeoutMs: 300 });
    const r = await client.callTool({ name: 'request_egress', arguments: { host: 'pypi.org', reason: 'deps' } });
    expect(textOf(r)).toMatch(/^timed out: nobody answered/);
    expect(egressAdded).toEqual([]);
    expect(audits.map((a) => a.type)).toEqual(['supervise.request', 'supervise.timeout']);
    expect(listPending(root)).toEqual([]);
  });

  it('request_push approved: a one-time exception for the full ref', async () => {
    await start();
    const call = client.callTool({ name: 'request_push', arguments: { ref: 'feature/x', reason: 'the PR branch' } });
    const p = await nextPending();
    expect(p.subject).toBe('refs/heads/feature/x');
    answerRequest(root, p.id, { approved: true });
    expect(textOf(await call)).toMatch(/^approved: a one-time exception for the next push of refs\/heads\/feature\/x/);
    expect(pushesAllowed).toEqual(['refs/heads/feature/x']);
  });

  it('ask returns the human answer text', async () => {
    await start();
    const call = client.callTool({ name: 'ask', arguments: { question: 'Drop the legacy table?', context: 'it has 0 rows' } });
    const p = await nextPending();
    expect(p).toMatchObject({ kind: 'ask', subject: 'Drop the legacy table?', reason: 'it has 0 rows' });
    answerRequest(root, p.id, { approved: false, reason: 'keep it, rename it to legacy_old' });
    expect(textOf(await call)).toMatch(/^denied \(no\)\. The human's answer: "keep it, rename it to legacy_old"/);
  });

  it('refuses invalid hosts and refs without queueing anything', async () => {
    await start();
    for (const host of ['127.0.0.1', '10.0.0.1', '*', 'exa mple.com', 'a..b']) {
      const r = await client.callTool({ name: 'request_egress', arguments: { host, reason: 'x' } });
      expect(r.isError, host).toBe(true);
      expect(textOf(r)).toMatch(/^not requested: /);
    }
    for (const ref of ['refs/tags/v1', 'a..b', '-x', 'x.lock', 'bad ref']) {
      const r = await client.callTool({ name: 'request_push', arguments: { ref, reason: 'x' } });
      expect(r.isError, ref).toBe(true);
    }
    expect(listPending(root)).toEqual([]);
    expect(audits).toEqual([]);
  });

  it('a flood is rate limited, and audited as such', async () => {
    await start({ limits: { maxPending: 2, perHour: 30 }, timeoutMs: 2000 });
    const calls = Array.from({ length: 5 }, (_, i) => client.callTool({ name: 'ask', arguments: { question: `q${i}` } }));
    const limited: SuperviseAudit[] = [];
    for (let i = 0; i < 100 && limited.length < 3; i++) {
      limited.splice(0, limited.length, ...audits.filter((a) => a.type === 'supervise.limited'));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(limited).toHaveLength(3);
    const pending = listPending(root);
    expect(pending).toHaveLength(2);
    for (const p of pending) answerRequest(root, p.id, { approved: true, reason: 'yes' });
    const results = await Promise.all(calls);
    const texts = results.map(textOf);
    expect(texts.filter((t) => t.startsWith('rate limited:'))).toHaveLength(3);
    expect(results.filter((r) => r.isError)).toHaveLength(3);
    expect(texts.filter((t) => t.startsWith('approved (yes)'))).toHaveLength(2);
  });

  it('escape sequences in the agent text are neutralised for the human and in the audit', async () => {
    await start();
    const call = client.callTool({ name: 'request_egress', arguments: { host: 'pypi.org', reason: 'deps\x1b[2J\x1b]0;approved\x07\u202eevil\r' } });
    const p = await nextPending();
    expect(p.reason).toBe('deps␛[2J␛]0;approved\\x07\\u{202e}evil\\x0d');
    expect(p.text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    expect(audits[0]!.reason).toBe(p.reason);
    answerRequest(root, p.id, { approved: false });
    await call;
  });

  it('a waiting call reports progress (naming the request) to a client that asks for it', async () => {
    await start({ progressMs: 50 });
    const messages: string[] = [];
    const call = client.callTool({ name: 'ask', arguments: { question: 'q' } }, undefined, { onprogress: (p) => void messages.push(p.message ?? ''), resetTimeoutOnProgress: true });
    const p = await nextPending();
    for (let i = 0; i < 100 && messages.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    answerRequest(root, p.id, { approved: true, reason: 'sure' });
    expect(textOf(await call)).toMatch(/^approved \(yes\)\. The human's answer: "sure"/);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages[0]).toContain(`waiting for the human to answer request ${p.id}`);
  });

  it('an approval that cannot be applied is an error for the agent, and audited', async () => {
    await start({
      onEgressApproved: () => {
        throw new Error('proxy is gone');
      },
    });
    const call = client.callTool({ name: 'request_egress', arguments: { host: 'pypi.org', reason: 'deps' } });
    answerRequest(root, (await nextPending()).id, { approved: true });
    const r = await call;
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^approved by the human, but pypi\.org could not be added to the proxy: proxy is gone/);
    expect(audits.at(-1)).toMatchObject({ type: 'supervise.error', kind: 'egress', subject: 'pypi.org', reason: 'proxy is gone' });
  });

  it('serves several clients at once, each in its own session', async () => {
    await start();
    const other = new Client({ name: 'other', version: '1.0.0' });
    await other.connect(new StreamableHTTPClientTransport(new URL(url)));
    const a = client.callTool({ name: 'ask', arguments: { question: 'from a' } });
    const b = other.callTool({ name: 'ask', arguments: { question: 'from b' } });
    for (let i = 0; i < 200 && listPending(root).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    for (const p of listPending(root)) answerRequest(root, p.id, { approved: p.subject === 'from a', reason: p.subject });
    expect(textOf(await a)).toMatch(/^approved \(yes\)\. The human's answer: "from a"/);
    expect(textOf(await b)).toMatch(/^denied \(no\)\. The human's answer: "from b"/);
    await other.close();
  });

  it('a call the client abandons withdraws its request', async () => {
    await start();
    const ac = new AbortController();
    const call = client.callTool({ name: 'ask', arguments: { question: 'still there?' } }, undefined, { signal: ac.signal });
    const p = await nextPending();
    ac.abort();
    await expect(call).rejects.toThrow();
    for (let i = 0; i < 100 && listPending(root).length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(listPending(root)).toEqual([]);
    expect(() => answerRequest(root, p.id, { approved: true })).toThrow(/withdrew/);
    expect(audits.at(-1)).toMatchObject({ type: 'supervise.cancel', id: p.id });
  });

  it('refuses browsers, foreign Host headers, sessionless GET and other paths', async () => {
    await start();
    const init = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    expect(await post(relay.port, '/mcp', { ...headers, origin: 'http://evil.example' }, init)).toBe(403);
    expect(await post(relay.port, '/mcp', { ...headers, host: 'evil.example' }, init)).toBe(403);
    expect(await post(relay.port, '/mcp', { ...headers, host: `attacker.example:${relay.port}` }, init)).toBe(403);
    expect(await post(relay.port, '/other', headers, init)).toBe(404);
    expect(await post(relay.port, '/mcp', { ...headers, 'mcp-session-id': 'nope' }, init)).toBe(404);
    expect(await post(relay.port, '/mcp', { accept: 'text/event-stream' }, undefined, 'GET')).toBe(400);
    expect(await post(relay.port, '/mcp', { ...headers, host: `localhost:${relay.port}` }, init)).toBe(200);
  });

  it('close withdraws the calls still waiting', async () => {
    await start();
    const call = client.callTool({ name: 'ask', arguments: { question: 'q' } });
    const p = await nextPending();
    await sup.close();
    expect(textOf(await call)).toMatch(/^cancelled: /);
    expect(() => answerRequest(root, p.id, { approved: true })).toThrow(/withdrew/);
  });
});

describe('input canonicalisation', () => {
  it.each([
    ['pypi.org', 'pypi.org'],
    ['PyPI.org.', 'pypi.org'],
    ['https://files.pythonhosted.org/packages/x', 'files.pythonhosted.org'],
    ['registry.npmjs.org:443', 'registry.npmjs.org'],
    ['*.cdn.example.com', '*.cdn.example.com'],
    ['8.8.8.8', '8.8.8.8'],
  ])('egress %s -> %s', (input, out) => {
    expect(egressTarget(input)).toBe(out);
  });

  it.each(['169.254.169.254', 'http://[::1]/', 'localhost:', '*.com', 'a/b'])('egress %s is refused', (input) => {
    expect(() => egressTarget(input)).toThrow();
  });

  it.each([
    ['main', 'refs/heads/main'],
    ['refs/heads/feature/x', 'refs/heads/feature/x'],
    ['claude/fix-1.2', 'refs/heads/claude/fix-1.2'],
  ])('push %s -> %s', (input, out) => {
    expect(pushRef(input)).toBe(out);
  });

  it.each(['refs/tags/v1', 'HEAD', '@', 'a..b', 'a//b', '/a', 'a/', 'a.', '.a', 'a/.b', 'x.lock', 'a@{1}', 'a b', 'a~1', '-f', ''])('push %j is refused', (input) => {
    expect(() => pushRef(input)).toThrow();
  });
});

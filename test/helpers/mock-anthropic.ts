// A small scripted stand-in for the Anthropic Messages API, for running the
// real Claude Code against. It records every request and answers
// `POST /v1/messages` (streaming SSE or plain JSON) from a script:
//
//   const api = await startMockAnthropic({
//     script: (req) => hasToolResult(req.body) ? { text: 'done' } : { toolUse: { name: 'Bash', input: { command: 'id' } } },
//   });
//
// A script returns `undefined` for requests it does not care about (Claude
// Code's side requests: titles, topics, quota checks...); those get a short
// text. `POST /v1/messages/count_tokens` gets a rough count; any other path is
// recorded and answered 404 in the API's error format.
import type { ServerResponse } from 'node:http';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The path without the query string, e.g. `/v1/messages`. */
  path: string;
  /** The full request target, query string included (`/v1/messages?beta=true`). */
  url: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; the raw text when it is not JSON; undefined when empty. */
  body: any;
  /** What the mock answered with: a reply, `count_tokens`, or `404`. */
  answer?: Reply | 'count_tokens' | 404;
}

export type Reply =
  | { text: string }
  | { toolUse: { name: string; input: unknown; id?: string } }
  /** An API error: status and error type, e.g. `{ error: { status: 529, type: 'overloaded_error' } }`. */
  | { error: { status: number; type: string; message?: string } };

/** Decides the answer to a `POST /v1/messages`; `history` is every request recorded before this one. */
export type Script = (req: RecordedRequest, history: readonly RecordedRequest[]) => Reply | undefined | Promise<Reply | undefined>;

export interface MockAnthropic {
  port: number;
  /** `http://127.0.0.1:<port>`, for clients on this host. */
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** The recorded `POST /v1/messages` requests only. */
  messages(): RecordedRequest[];
  close(): Promise<void>;
}

export const DEFAULT_TEXT = 'OK.';

export async function startMockAnthropic(opts: { host?: string; port?: number; script?: Script } = {}): Promise<MockAnthropic> {
  const requests: RecordedRequest[] = [];
  const script: Script = opts.script ?? (() => undefined);
  let seq = 0;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const url = req.url ?? '/';
    const rec: RecordedRequest = { method: req.method ?? '', path: url.split('?')[0]!, url, headers: req.headers, body };
    const history = requests.slice();
    requests.push(rec);

    const json = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_mock_${++seq}` });
      res.end(JSON.stringify(payload));
    };

    try {
      if (rec.method === 'POST' && rec.path === '/v1/messages/count_tokens') {
        rec.answer = 'count_tokens';
        return json(200, { input_tokens: Math.max(1, Math.ceil(raw.length / 4)) });
      }
      if (rec.method !== 'POST' || rec.path !== '/v1/messages') {
        rec.answer = 404;
        return json(404, { type: 'error', error: { type: 'not_found_error', message: `mock-anthropic: no ${rec.method} ${rec.path}` } });
      }
      const reply = (await script(rec, history)) ?? { text: DEFAULT_TEXT };
      rec.answer = reply;
      if ('error' in reply) {
        return json(reply.error.status, { type: 'error', error: { type: reply.error.type, message: reply.error.message ?? reply.error.type } });
      }
      const msg = message(reply, body?.model ?? 'claude-mock', ++seq);
      if (body?.stream) return sse(res, msg);
      return json(200, msg);
    } catch (e) {
      json(500, { type: 'error', error: { type: 'api_error', message: `mock-anthropic: ${(e as Error).message}` } });
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    messages: () => requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages'),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

type Block = { type: 'text'; text: string } | { type: 'tool_use'; id: string; name: string; input: unknown };

function message(reply: { text: string } | { toolUse: { name: string; input: unknown; id?: string } }, model: string, n: number) {
  const content: Block[] =
    'text' in reply
      ? [{ type: 'text', text: reply.text }]
      : [{ type: 'tool_use', id: reply.toolUse.id ?? `toolu_mock_${n}`, name: reply.toolUse.name, input: reply.toolUse.input }];
  return {
    id: `msg_mock_${n}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: 'text' in reply ? 'end_turn' : 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
  };
}

/** The message as the streaming event sequence of the Messages API. */
function sse(res: ServerResponse, msg: ReturnType<typeof message>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_${msg.id}` });
  const send = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  send('message_start', { message: { ...msg, content: [], stop_reason: null, usage: { ...msg.usage, output_tokens: 1 } } });
  msg.content.forEach((block, index) => {
    if (block.type === 'text') {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('ping', {});
      send('content_block_delta', { index, delta: { type: 'text_delta', text: block.text } });
    } else {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
      // In two pieces, as the real API splits it.
      const j = JSON.stringify(block.input);
      const cut = Math.floor(j.length / 2);
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: j.slice(0, cut) } });
      send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: j.slice(cut) } });
    }
    send('content_block_stop', { index });
  });
  send('message_delta', { delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: msg.usage.output_tokens } });
  send('message_stop', {});
  res.end();
}

// ---- reading requests -------------------------------------------------------

/** The system prompt of a messages request as one string (string or text blocks). */
export function systemText(body: any): string {
  const s = body?.system;
  if (typeof s === 'string') return s;
  if (Array.isArray(s)) return s.map((b: any) => (typeof b?.text === 'string' ? b.text : '')).join('\n');
  return '';
}

/** Every string in a request body, one per line: system, messages, tool descriptions, wherever a client puts them. */
export function allText(body: any): string {
  const out: string[] = [];
  const walk = (v: any) => {
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(body);
  return out.join('\n');
}

/** Names of the tools a messages request offers. */
export function toolNames(body: any): string[] {
  return Array.isArray(body?.tools) ? body.tools.map((t: any) => String(t?.name)) : [];
}

type ToolResult = { tool_use_id: string; is_error: boolean; text: string };

function resultsOf(message: any): ToolResult[] {
  if (message?.role !== 'user' || !Array.isArray(message.content)) return [];
  return message.content
    .filter((b: any) => b?.type === 'tool_result')
    .map((b: any) => ({
      tool_use_id: String(b.tool_use_id),
      is_error: b.is_error === true,
      text: typeof b.content === 'string' ? b.content : Array.isArray(b.content) ? b.content.map((c: any) => c?.text ?? '').join('\n') : '',
    }));
}

/** The `tool_result` blocks of the last user message, their content flattened to text. */
export function toolResults(body: any): ToolResult[] {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  return resultsOf([...msgs].reverse().find((m) => m?.role === 'user'));
}

/** Every `tool_result` of the conversation so far, in order: how far a scripted exchange has got. */
export function allToolResults(body: any): ToolResult[] {
  return (Array.isArray(body?.messages) ? body.messages : []).flatMap(resultsOf);
}

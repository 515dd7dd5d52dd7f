// The HTTP front of the supervise server: which requests reach an MCP
// session (path, Host, Origin, method, session ID), as pure decisions, and
// the node:http server that applies them.
import http from 'node:http';
import { DOOR_GUEST_HOST } from '../../core/doors.ts';
import type { Session, Sessions } from './sessions.ts';

/** A request turned away before it reaches the MCP transport. */
export interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/** What to do with a request that passed screen(). */
export type Route<S> = { kind: 'refuse'; refusal: Refusal } | { kind: 'existing'; session: S } | { kind: 'new' };

/** The Host names a client may use: the guest's loopback, `localhost`, and any configured. */
export function allowedHostNames(extra: readonly string[] = []): ReadonlySet<string> {
  return new Set([DOOR_GUEST_HOST, 'localhost', ...extra.map((h) => h.toLowerCase())]);
}

/** The host of a Host header, lower-case, without port or brackets. */
export function hostOfHeader(h: string | undefined): string | undefined {
  if (!h) return undefined;
  const v = h.trim().toLowerCase();
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(v) ?? /^([^:]+)(?::\d+)?$/.exec(v);
  return m ? m[1] : undefined;
}

/**
 * Path, Host, Origin and method, in that order; undefined when the request
 * may go on to its session. A request with an `Origin` header (a browser) or
 * a Host naming anything else than the guest's loopback is refused: even if
 * the socket were ever offered on TCP, a web page could not drive the
 * endpoint through DNS rebinding.
 */
export function screen(req: Pick<http.IncomingMessage, 'url' | 'method' | 'headers'>, hostNames: ReadonlySet<string>): Refusal | undefined {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/mcp') return { status: 404, message: 'not found: the MCP endpoint is /mcp' };
  const host = hostOfHeader(req.headers.host);
  if (!host || !hostNames.has(host)) return { status: 403, message: 'forbidden: unexpected Host header' };
  if (req.headers.origin !== undefined) return { status: 403, message: 'forbidden: browser requests are not accepted' };
  if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') return { status: 405, message: 'method not allowed', headers: { allow: 'GET, POST, DELETE' } };
  return undefined;
}

/**
 * The session a screened request belongs to. An unknown session ID is a 404,
 * on which the client starts a new session; only a POST (an `initialize`)
 * may start one, and not once the server is closing.
 */
export function routeSession<S>(method: string | undefined, sessionId: string | string[] | undefined, lookup: (id: string) => S | undefined, closing: boolean): Route<S> {
  if (typeof sessionId === 'string') {
    const session = lookup(sessionId);
    return session ? { kind: 'existing', session } : { kind: 'refuse', refusal: { status: 404, message: 'session not found' } };
  }
  if (method !== 'POST') return { kind: 'refuse', refusal: { status: 400, message: 'bad request: no Mcp-Session-Id header' } };
  if (closing) return { kind: 'refuse', refusal: { status: 503, message: 'shutting down' } };
  return { kind: 'new' };
}

/** A refusal as a JSON-RPC error body (-32001 for 404, as the SDK's own transport answers an unknown session). */
function refuse(res: http.ServerResponse, r: Refusal): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify({ jsonrpc: '2.0', error: { code: r.status === 404 ? -32001 : -32000, message: r.message }, id: null });
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...r.headers }).end(body);
}

export interface FrontOptions {
  hostNames: ReadonlySet<string>;
  sessions: Sessions;
  /** True once close() began: no new sessions. */
  isClosing(): boolean;
}

export interface Front {
  server: http.Server;
  /** POST responses still open (each carries a call's answer): what close() lets finish. */
  readonly posts: Set<Promise<unknown>>;
}

export function createFront(opts: FrontOptions): Front {
  const { hostNames, sessions } = opts;
  const posts = new Set<Promise<unknown>>();

  const server = http.createServer((req, res) => {
    void (async () => {
      const refusal = screen(req, hostNames);
      if (refusal) return refuse(res, refusal);
      const route = routeSession(req.method, req.headers['mcp-session-id'], sessions.get, opts.isClosing());
      if (route.kind === 'refuse') return refuse(res, route.refusal);
      let session: Session;
      if (route.kind === 'existing') session = route.session;
      else {
        session = sessions.open();
        await session.mcp.connect(session.transport);
      }
      session.lastSeen = Date.now();
      if (req.method === 'POST') {
        const finished = new Promise<void>((resolve) => res.once('close', () => resolve()));
        posts.add(finished);
        void finished.then(() => posts.delete(finished));
      }
      try {
        await session.transport.handleRequest(req, res);
      } catch {
        if (!res.headersSent) refuse(res, { status: 500, message: 'internal error' });
        else res.end();
      }
      // A POST without a session that did not initialise one (not an `initialize`) leaves nothing behind.
      if (!session.id) sessions.drop(session);
    })();
  });
  // A call waits for minutes on its SSE stream, which the transport keeps busy with comments every 15 s.
  server.headersTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  return { server, posts };
}

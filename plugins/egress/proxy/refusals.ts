// The proxy's own answers: the texts a guest reads when a request is refused
// or fails, how they are written (on a response or a raw socket), and the
// counter and audit record that go with each.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { DlpFinding } from '../types.ts';
import type { Origin, ProxyContext } from './context.ts';
import { ForbiddenAddressError } from './dial.ts';
import { pathOnly } from './target.ts';

const TEXT = 'text/plain; charset=utf-8';
const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  408: 'Request Timeout',
  413: 'Content Too Large',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
};

/** An error's code, fit for a text or an audit record; messages never are (Node's header errors quote values). */
export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'ERROR';
}

export const notAllowedText = (host: string, hint: string) => `claude-bottle: egress to "${host}" is not allowed; add it to ${hint}`;
export const forbiddenText = (host: string) =>
  `claude-bottle: egress to "${host}" is refused: it is (or resolves to) a local, private or otherwise forbidden address`;

/** A raw HTTP response on a socket that is not (or no longer) an http.ServerResponse; the socket is closed after. */
export function rawReply(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: ${TEXT}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that never reads must not keep the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/** Reply with the proxy's own plain-text answer; closes the connection when the request body was not read. */
export function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${text}\n`;
  const headers: http.OutgoingHttpHeaders = { 'content-type': TEXT, 'content-length': Buffer.byteLength(body) };
  // A body the client is still sending is not worth reading: close instead.
  if (!req.complete && (req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0')) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** A malformed request: 400, counted but not audited (nothing was attempted). */
export function badRequest(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, text: string): void {
  ctx.stats.badRequests++;
  reply(req, res, 400, text);
}

/** A request refused by policy: 403 with `text`, audited with `reason`. */
export function deny(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, host: string, method: string, path: string, reason: string, text: string): void {
  ctx.stats.denied++;
  ctx.audit({ type: 'egress.deny', host, method, path: pathOnly(path), reason, status: 403 });
  reply(req, res, 403, text);
}

/**
 * Methods whose answer is the request itself (TRACE, and IIS's TRACK): never
 * forwarded, whatever the host. An upstream's echo would carry the injected
 * credential back, and nothing an agent needs uses them.
 */
export const ECHO_METHODS: ReadonlySet<string> = new Set(['TRACE', 'TRACK']);

/** A request with an echo method: 405, audited. */
export function refuseMethod(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, host: string, path: string): void {
  ctx.stats.denied++;
  ctx.audit({ type: 'egress.deny', host, method: req.method, path: pathOnly(path), reason: 'method not allowed', status: 405 });
  if (!res.headersSent) res.setHeader('allow', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  reply(req, res, 405, `claude-bottle: ${req.method} is not allowed through the egress proxy (its answer echoes the request)`);
}

/** A CONNECT refused by policy, answered on the raw socket. */
export function denyConnect(ctx: ProxyContext, socket: Duplex, host: string, reason: string, text: string): void {
  ctx.stats.denied++;
  ctx.audit({ type: 'egress.deny', host, method: 'CONNECT', reason, status: 403 });
  rawReply(socket, 403, text);
}

export function refuseDlp(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string, f: DlpFinding): void {
  ctx.stats.dlp++;
  ctx.audit({ type: 'egress.dlp', host: o.host, method: req.method, path: pathOnly(path), rule: f.rule, reason: `${f.where} (${f.layer})`, status: 403 });
  reply(
    req,
    res,
    403,
    `claude-bottle: request to "${o.host}" blocked by DLP: its ${f.where} looks like it carries a secret (rule ${f.rule}). Secrets must not leave the bottle; if this is a false positive, ask the operator to adjust DLP.`,
  );
}

export function refuseOversize(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string): void {
  const maxBody = ctx.settings.maxBody;
  ctx.stats.dlp++;
  ctx.audit({ type: 'egress.dlp', host: o.host, method: req.method, path: pathOnly(path), rule: 'oversize', reason: `body larger than ${maxBody} bytes`, status: 413 });
  reply(
    req,
    res,
    413,
    `claude-bottle: request to "${o.host}" blocked: its body is larger than ${maxBody} bytes, the most DLP scans (dlp.maxBodyBytes); raise it or set dlp.oversize: 'pass' in ${ctx.settings.configName}`,
  );
}

/** The upstream could not be reached or failed: 403 for a forbidden address, 504 for a timeout, 502 otherwise. */
export function upstreamFailed(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, o: Origin, method: string, path: string, err: unknown): void {
  const p = pathOnly(path);
  if (err instanceof ForbiddenAddressError) {
    ctx.stats.denied++;
    ctx.audit({ type: 'egress.deny', host: o.host, method, path: p, reason: `forbidden address (${err.message})`, status: 403 });
    return reply(req, res, 403, forbiddenText(o.host));
  }
  ctx.stats.errors++;
  const code = errorCode(err);
  const status = code === 'ETIMEDOUT' ? 504 : 502;
  ctx.audit({ type: 'egress.error', host: o.host, method, path: p, reason: code, status });
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  reply(req, res, status, `claude-bottle: could not reach "${o.host}": ${code}`);
}

/** A bug or a throwing scanner: answer 500 (or cut the connection) rather than forward anything. */
export function internalError(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, host: string, path: string, err: unknown): void {
  ctx.stats.errors++;
  ctx.audit({ type: 'egress.error', host, method: req.method, path: pathOnly(path), reason: `internal: ${errorCode(err)}`, status: 500 });
  try {
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(500, { 'content-type': TEXT, connection: 'close' });
      res.end('claude-bottle: the egress proxy failed on this request; nothing was sent\n');
    } else res.destroy();
  } catch {
    res.destroy();
  }
}

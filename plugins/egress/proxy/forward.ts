// The request pipeline shared by plain HTTP and intercepted tunnels: check a
// request (DLP on URL, headers and body, before a byte goes upstream), send
// it upstream, and relay the answer with the route's credential masked.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { bodyScan, declaredOversize, decoderFor, judgeBody, type ReadBody, readBody } from './body.ts';
import type { Origin, ProxyContext } from './context.ts';
import { credentialFinding } from './credentials.ts';
import { headerScan, requestHead, responseHead, upstreamHeaders, withoutContentLength } from './headers.ts';
import { MaskStream } from './mask.ts';
import { badRequest, deny, errorCode, forbiddenText, refuseDlp, refuseOversize, upstreamFailed } from './refusals.ts';
import { pathOnly } from './target.ts';

/** A checked request on its way upstream. */
interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  o: Origin;
  method: string;
  /** The guest's path and query; a route upstream's prefix is added when sending. */
  path: string;
  headers: string[];
  /** The body as read and scanned, if it was. */
  body: Buffer | undefined;
  /** (The rest of) the client's body is streamed after `body`. */
  rest: boolean;
}

const noop = () => {};

/** Scan (when DLP is on), then forward `req` to the origin's destination and stream the answer back. */
export async function forward(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string): Promise<void> {
  const method = req.method ?? 'GET';
  const scanner = ctx.scannerFor(o.host);
  if (scanner) {
    const f = scanner.scan(path, 'url') ?? credentialFinding(ctx.credentials.inText(o.host, path, true), 'url');
    if (f) return refuseDlp(ctx, req, res, o, path, f);
  }
  const head = requestHead(req.rawHeaders, o.route?.inject, scanner && headerScan(scanner, ctx.credentials, o.host));
  if (head.bad) return badRequest(ctx, req, res, `claude-bottle: bad request: ${head.bad}`);
  if (head.finding) return refuseDlp(ctx, req, res, o, path, head.finding);
  if (head.contentLength !== undefined && head.chunked) return badRequest(ctx, req, res, 'claude-bottle: bad request: both Content-Length and Transfer-Encoding');
  if (ctx.forbiddenLiteral(o)) return deny(ctx, req, res, o.host, method, path, 'forbidden address', forbiddenText(o.host));
  const hasBody = head.chunked || (head.contentLength !== undefined && head.contentLength !== '0');

  let body: Buffer | undefined;
  let rest = hasBody; // stream (the rest of) the client's body
  // With DLP off a body is never buffered: it streams straight through.
  if (scanner && hasBody) {
    const limits = ctx.settings;
    if (declaredOversize(head.contentLength, limits)) return refuseOversize(ctx, req, res, o, path);
    let read: ReadBody;
    try {
      read = await readBody(req, limits.maxBody);
    } catch {
      res.destroy();
      return;
    }
    const v = judgeBody(read, req.headers['content-encoding'], limits, bodyScan(scanner, ctx.credentials, o.host), o.route?.dlp === 'redact');
    if (v.verdict === 'oversize') return refuseOversize(ctx, req, res, o, path);
    if (v.verdict === 'finding') return refuseDlp(ctx, req, res, o, path, v.finding);
    body = v.body;
    rest = v.rest;
    // The request goes on with each secret replaced by a marker naming its rule; the trail says so (never the secret).
    for (const rule of new Set(v.redacted ?? [])) ctx.audit({ type: 'egress.redact', host: o.host, method, path: pathOnly(path), rule, reason: `${v.redacted!.filter((r) => r === rule).length} replaced in the body` });
  }

  const headers = upstreamHeaders(head, { hostHeader: o.dest.hostHeader, inject: o.route?.inject, method, body, rest });
  dispatch(ctx, { req, res, o, method, path, headers, body, rest }, false);
}

/** Sends the request upstream; `retry` is the one second try of a request whose pooled socket had gone stale. */
function dispatch(ctx: ProxyContext, x: Exchange, retry: boolean): void {
  const { req, res, o, method, path, headers, body, rest } = x;
  const { idleMs, connectMs } = ctx.settings;
  ctx.stats.requests++;
  const d = o.dest;
  const options: https.RequestOptions = {
    agent: d.agent,
    hostname: d.hostname,
    port: d.port,
    method,
    path: d.prefix + path,
    headers,
    setHost: false,
    insecureHTTPParser: false,
    timeout: idleMs,
  };
  if (d.servername) options.servername = d.servername;
  const up = d.secure ? https.request(options) : http.request(options);
  let answered = false;
  const onClientGone = () => {
    if (!res.writableFinished) up.destroy();
  };
  res.once('close', onClientGone);
  if (!retry) {
    // While the upstream works, the client's socket is quiet: the upstream's own timeout answers (504), not the client's idle timer.
    res.on('timeout', noop);
  }

  up.on('socket', (s) => {
    // A connect that hangs is an upstream failure long before the idle timeout.
    if ((s as net.Socket).connecting) {
      const t = setTimeout(() => up.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), connectMs);
      t.unref();
      s.once(d.secure ? 'secureConnect' : 'connect', () => clearTimeout(t));
      s.once('close', () => clearTimeout(t));
    }
  });
  up.on('timeout', () => up.destroy(Object.assign(new Error('upstream timeout'), { code: 'ETIMEDOUT' })));
  up.on('error', (err) => {
    if (answered) {
      res.destroy();
      return;
    }
    // A pooled socket the server closed meanwhile: try once more on a fresh one if nothing was streamed.
    if (!retry && !rest && up.reusedSocket && !res.headersSent && !res.destroyed && (errorCode(err) === 'ECONNRESET' || errorCode(err) === 'EPIPE')) {
      res.off('close', onClientGone);
      ctx.stats.requests--;
      dispatch(ctx, x, true);
      return;
    }
    upstreamFailed(ctx, req, res, o, method, path, err);
  });
  up.on('response', (upRes) => {
    answered = true;
    try {
      respond(ctx, x, upRes);
    } catch {
      upRes.destroy();
      res.destroy();
    }
  });

  if (body) {
    if (rest) {
      up.write(body);
      pipeBody(req, up);
    } else up.end(body);
  } else if (rest) pipeBody(req, up);
  else up.end();
}

function pipeBody(req: http.IncomingMessage, up: http.ClientRequest): void {
  req.on('error', () => up.destroy());
  req.pipe(up);
}

/** Relays the upstream's answer; for a route that injects, decoded and masked on the way. */
function respond(ctx: ProxyContext, x: Exchange, upRes: http.IncomingMessage): void {
  const { req, res, o, method, path } = x;
  if (res.destroyed) {
    upRes.destroy();
    return;
  }
  const secrets = o.secrets;
  const head = responseHead(upRes.rawHeaders, secrets);
  let headers = head.headers;
  let source: Readable = upRes;
  if (secrets) {
    const bodyless = method === 'HEAD' || upRes.statusCode === 204 || upRes.statusCode === 304 || (upRes.statusCode ?? 0) < 200;
    if (head.encoding && !bodyless) {
      // Asked for identity, the upstream compressed anyway: a secret inside would escape the mask.
      const decoder = decoderFor(head.encoding);
      if (!decoder) {
        upRes.destroy();
        return upstreamFailed(ctx, req, res, o, method, path, Object.assign(new Error('encoding'), { code: 'EUNSUPPORTED_ENCODING' }));
      }
      headers = withoutContentLength(headers);
      decoder.on('error', () => res.destroy());
      source = source.pipe(decoder);
    }
    const mask = new MaskStream(secrets);
    mask.on('error', () => res.destroy());
    source = source.pipe(mask);
  }
  upRes.on('error', () => res.destroy());
  upRes.on('close', () => {
    if (!upRes.complete) res.destroy();
  });
  const status = upRes.statusCode ?? 502;
  res.writeHead(status, headers);
  source.pipe(res);
  ctx.audit({ type: 'egress.allow', host: o.host, method, path: pathOnly(path), status });
}

// The request pipeline shared by plain HTTP and intercepted tunnels: check a
// request (DLP on URL and headers before a byte goes upstream; on the body
// read whole when it is small, or as it streams in windows when it is large
// or compressed: see stream-scan.ts), send it upstream, and relay the answer
// with the route's credential masked. Bodies being scanned hold a lease on
// the proxy's memory budget (budget.ts).
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { Readable } from 'node:stream';
import { bodyScan, declaredOversize, decoderFor, judgeBody, type ReadBody, readBody } from './body.ts';
import type { Lease } from './budget.ts';
import type { Origin, ProxyContext } from './context.ts';
import { credentialFinding } from './credentials.ts';
import { headerScan, requestHead, responseHead, upstreamHeaders, withoutContentLength } from './headers.ts';
import { MaskStream } from './mask.ts';
import { badRequest, deny, errorCode, forbiddenText, internalError, refuseDlp, refuseOversize, upstreamFailed } from './refusals.ts';
import { type BodyFilter, CompressedFilter, DECODER_LAG, decoderHold, type FilterResult, PlainFilter } from './stream-scan.ts';
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
  /** The body is scanned as it streams, through this (after `body`, when set: what was read before). */
  filter?: BodyFilter;
  /** The memory this request's body holds, given back once the body is sent or dropped. */
  lease?: Lease;
  /** The proxy stopped the upstream request itself (a finding mid-body): its error is not an upstream failure. */
  halted?: boolean;
}

/** More than one chunk of a socket read (64 KiB) may sit past a read limit. */
const CHUNK_SLACK = 64 * 1024;

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
  if (!scanner || !hasBody) {
    const headers = upstreamHeaders(head, { hostHeader: o.dest.hostHeader, inject: o.route?.inject, method, body, rest });
    return dispatch(ctx, { req, res, o, method, path, headers, body, rest }, false);
  }
  const limits = ctx.settings;
  const mem = limits.memory;
  if (declaredOversize(head.contentLength, limits)) return refuseOversize(ctx, req, res, o, path);
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  const compressed = encoding !== undefined && encoding !== '' && encoding !== 'identity';
  if (compressed && !DECODABLE.has(encoding)) return refuseDlp(ctx, req, res, o, path, { rule: 'unscannable-encoding', where: 'body', layer: encoding });
  const scan = bodyScan(scanner, ctx.credentials, o.host);
  const redact = o.route?.dlp === 'redact';

  // How the body is judged, and the memory that takes. An identity body up
  // to `wholeBody` is read whole and judged as one piece, as always (a
  // redaction then checks the JSON around it); a larger one, and every
  // compressed one, is scanned as it streams, in windows.
  const whole = Math.min(limits.maxBody, mem.wholeBody);
  const declared = head.contentLength === undefined ? undefined : Number(head.contentLength);
  const mayStream = limits.maxBody > mem.wholeBody;
  const windows = 2 * (mem.window + mem.overlap) + 2 * CHUNK_SLACK;
  let need: number;
  let streamNow = false;
  if (compressed) {
    streamNow = true;
    // The windows, the decoder, and the compressed chunks held until their text is cleared.
    need = windows + decoderHold(encoding) + mem.window + mem.overlap + DECODER_LAG;
  } else if (declared !== undefined && declared > whole && mayStream) {
    streamNow = true;
    need = windows;
  } else if (declared !== undefined) need = Math.min(declared, whole) + CHUNK_SLACK;
  else need = whole + CHUNK_SLACK + (mayStream ? mem.window + mem.overlap + CHUNK_SLACK : 0);

  // Over the budget, the request waits without being read (the guest's
  // socket fills and TCP holds it back), then gives up with 503.
  const gone = new AbortController();
  const onGone = () => gone.abort();
  res.once('close', onGone);
  const lease = await ctx.budget.acquire(need, mem.waitMs, gone.signal);
  res.off('close', onGone);
  if (!lease) return refuseBusy(ctx, req, res, o, method, path);
  if (res.destroyed) return lease.release();
  let handed = false;
  try {
    const filterLimits = { maxBody: limits.maxBody, oversize: limits.oversize, window: mem.window, overlap: mem.overlap, redact };
    let filter: BodyFilter | undefined;
    if (streamNow) filter = compressed ? new CompressedFilter(encoding, scan, filterLimits) : new PlainFilter(scan, filterLimits);
    else {
      let read: ReadBody;
      try {
        read = await readBody(req, whole);
      } catch {
        res.destroy();
        return;
      }
      if (read.more && mayStream) {
        // Longer than a whole body, and DLP scans further: the part read goes first through the stream's scan.
        filter = new PlainFilter(scan, filterLimits);
        body = read.body;
      } else {
        const v = judgeBody(read, encoding, limits, scan, redact);
        if (v.verdict === 'oversize') return refuseOversize(ctx, req, res, o, path);
        if (v.verdict === 'finding') return refuseDlp(ctx, req, res, o, path, v.finding);
        body = v.body;
        rest = v.rest;
        auditRedactions(ctx, o, method, path, v.redacted);
      }
    }
    const headers = upstreamHeaders(head, { hostHeader: o.dest.hostHeader, inject: o.route?.inject, method, body: filter ? undefined : body, rest: filter ? true : rest });
    handed = true;
    dispatch(ctx, { req, res, o, method, path, headers, body, rest: filter ? true : rest, filter, lease }, false);
  } finally {
    if (!handed) lease.release();
  }
}

const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

/** The request goes on with each secret replaced by a marker naming its rule; the trail says so (never the secret). */
function auditRedactions(ctx: ProxyContext, o: Origin, method: string, path: string, redacted: readonly string[] | undefined): void {
  for (const rule of new Set(redacted ?? [])) ctx.audit({ type: 'egress.redact', host: o.host, method, path: pathOnly(path), rule, reason: `${redacted!.filter((r) => r === rule).length} replaced in the body` });
}

/** The memory budget is spent on other requests' bodies and did not free up in time: 503, try again. */
function refuseBusy(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse, o: Origin, method: string, path: string): void {
  ctx.stats.errors++;
  ctx.audit({ type: 'egress.error', host: o.host, method, path: pathOnly(path), reason: 'busy: the memory budget for request bodies is spent', status: 503 });
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const mib = Math.round(ctx.settings.memory.budget / (1024 * 1024));
  const text = `claude-bottle: the egress proxy is busy: other requests' bodies being scanned for secrets fill its memory budget (${mib} MiB); retry in a moment\n`;
  // The body was not read: the connection closes after the answer.
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'retry-after': String(RETRY_AFTER_S) };
  if (!req.complete) headers.connection = 'close';
  res.writeHead(503, headers);
  res.end(text);
}

const RETRY_AFTER_S = 2;

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
  if (x.lease) {
    const release = x.lease.release;
    up.once('finish', release);
    up.once('close', release);
    res.once('close', release);
  }
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
    if (x.halted) return;
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

  if (x.filter) pumpBody(ctx, x, up, x.filter, body);
  else if (body) {
    if (rest) {
      up.write(body);
      pipeBody(req, up);
    } else up.end(body);
  } else if (rest) pipeBody(req, up);
  else up.end();
}

/**
 * Sends the body through `filter` as the guest sends it: each chunk in, what
 * the filter clears out to the upstream, the guest read no faster than the
 * upstream takes it. On a finding (or an oversize body) the upstream request
 * is aborted, incomplete, and the guest gets the refusal it would have got
 * for a body read whole; what the guest still sends is read and dropped.
 */
function pumpBody(ctx: ProxyContext, x: Exchange, up: http.ClientRequest, filter: BodyFilter, first: Buffer | undefined): void {
  const { req, res, o, method, path } = x;
  let stopped = false;
  // One step at a time, in order: 'end' may come while the last chunk's step is still writing.
  let chain = Promise.resolve();
  const queue = (chunk: Buffer | undefined, resume = true) => {
    chain = chain.then(() => step(chunk, resume)).catch(fail);
    return chain;
  };
  const onData = (c: Buffer) => {
    req.pause();
    void queue(c);
  };
  const onEnd = () => void queue(undefined);
  const stop = () => {
    if (stopped) return;
    stopped = true;
    req.off('data', onData);
    req.off('end', onEnd);
    filter.destroy();
  };
  const halt = () => {
    stop();
    x.halted = true;
    up.destroy();
    req.on('error', noop);
    req.resume();
  };
  const fail = (err: unknown) => {
    if (stopped) return;
    halt();
    internalError(ctx, req, res, o.host, path, err);
  };
  const send = async (r: FilterResult): Promise<boolean> => {
    if (stopped) return false;
    if ('refuse' in r) {
      halt();
      if (r.refuse === 'oversize') refuseOversize(ctx, req, res, o, path);
      else refuseDlp(ctx, req, res, o, path, r.finding);
      return false;
    }
    // The filter reuses its buffer for the next chunk: what it gave out is written before it takes more.
    if (r.out.length > 0) await written(up, r.out);
    return !stopped;
  };
  const step = async (chunk: Buffer | undefined, resume = true) => {
    if (stopped) return;
    const r = chunk ? await filter.write(chunk) : await filter.end();
    if (!(await send(r))) return;
    if (chunk) {
      if (resume) req.resume();
      return;
    }
    stop();
    auditRedactions(ctx, o, method, path, filter.redacted);
    up.end();
  };
  // The upstream failed or the client went away: nothing more to send.
  up.once('close', stop);
  req.on('error', () => {
    stop();
    up.destroy();
  });
  const start = () => {
    if (stopped) return;
    req.on('data', onData);
    req.on('end', onEnd);
    req.resume();
  };
  if (first) {
    // What was read before the body turned out long goes in window by window, as a guest's chunks would.
    req.pause();
    const size = ctx.settings.memory.window;
    for (let at = 0; at < first.length; at += size) void queue(first.subarray(at, at + size), false);
    chain = chain.then(start);
  } else start();
}

/** Writes `bufs` to `up`; resolves once the last is written out (or `up` is gone). */
function written(up: http.ClientRequest, bufs: Buffer[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      up.off('close', done);
      resolve();
    };
    up.once('close', done);
    for (let i = 0; i < bufs.length - 1; i++) up.write(bufs[i]!);
    up.write(bufs.at(-1)!, done);
  });
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

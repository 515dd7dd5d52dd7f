// The egress proxy: the bottle's only door to the network. An HTTP forward
// proxy and CONNECT endpoint on the bottle's gateway that lets the guest reach
// allowed hosts only, intercepts TLS with the bottle's CA where it must see the
// requests (route hosts, DLP), swaps in route credentials, and scans what
// leaves. Node's http/https/net/tls only; everything fails closed.
//
// Decisions (the why; the what is in each function):
// - A CONNECT to an allowed host with DLP off that is not a route is a raw TCP
//   tunnel to the address we resolved and checked, nothing more: no leaf
//   certificate, no second TLS, the guest sees the real server. Everything
//   else is intercepted: TLS is terminated on the CONNECT socket with a leaf
//   for the CONNECT host, and the HTTP/1.1 requests inside are parsed by one
//   in-process http.Server (`emit('connection')`), so keep-alive, pipelining,
//   100-continue and Node's strict parser come for free.
// - The CONNECT host decides where a tunnel's requests go. The SNI must name
//   it (or be absent, as for IP literals) and so must every Host header
//   (421 otherwise): a tunnel to an allowed CDN host cannot front another.
// - Ports: intercepted or tunnelled CONNECT only to `tlsPorts` (443), plain
//   HTTP only to `httpPorts` (80); a route host takes any port, since its
//   traffic goes where the route says.
// - A host reached by name is dialled only at an address `forbiddenAddress`
//   accepts, checked in the socket's own lookup (so the checked address is
//   the dialled one) and, for IP literals, before dialling. A route's
//   explicit `upstream` is the one exception (it may be on loopback); it has
//   its own agents so that a pooled upstream socket can never serve a host
//   reached by name.
// - Injection: every credential header the guest sent to a route host is
//   dropped (the route's header, `authorization`, `x-api-key`,
//   `proxy-authorization`), then the route's header is set. The real value is
//   masked (same-length `*`) in the response headers and body, which is
//   requested uncompressed (and decompressed if the upstream insists), so an
//   upstream that echoes requests cannot hand it to the guest. Error texts
//   carry error codes, never messages (Node's header errors quote values).
// - DLP runs before a single byte goes upstream: the host name (a wildcard
//   lets the guest spell anything in a label), URL, headers, then the body
//   buffered up to `maxBodyBytes`. Route credentials off their route are
//   findings of their own (`route-placeholder`, `route-credential`), whether
//   or not a DLP rule knows their shape. With DLP off nothing is scanned
//   (placeholders are worthless outside the proxy; real tokens never enter
//   the guest).
// - Timeouts: headers (and TLS handshakes) within `headersMs`, a whole request
//   within `requestMs`, `idleMs` of silence on either side closes a socket,
//   except that a client waiting for its answer is not cut off: the upstream
//   request's own timeout answers 504. The tunnels' http.Server never listens,
//   so its connection tracking (which enforces headersTimeout) is started by
//   hand; a test catches it if Node changes that.
// - A route's `upstream` receives the upstream's own Host (and SNI), plus its
//   path as a prefix; the guest's path and query follow.
// - Nothing the guest sends may crash the process: every handler is wrapped,
//   every stream has an error listener, and no promise is left floating.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { listenOnDoor, safeSink } from '../../core/doors.ts';
import { canonicalHost } from './hosts.ts';
import { RouteCredentials } from './proxy/credentials.ts';
import { MaskStream, maskString, secretsOf } from './proxy/mask.ts';
import { hostHeader, parseAbsolute, parseAuthority, pathOnly, type Target } from './proxy/target.ts';
import type { Authority, DlpFinding, DlpScanner, EgressAudit, HostPolicy, Route } from './types.ts';

export interface ProxyTimeouts {
  /** Time for a client to send a request's headers (and for a TLS handshake); default 10 s. */
  headersMs?: number;
  /** Time for a client to send a whole request; default 300 s. */
  requestMs?: number;
  /** A socket (client or upstream) with no traffic for this long is closed; default 600 s (LLM answers are slow). */
  idleMs?: number;
  /** Time to connect to an upstream; default 10 s. */
  connectMs?: number;
}

export interface ProxyOptions {
  /** The door's Unix socket: the proxy never listens on TCP. */
  socketPath: string;
  /** The allowlist. Route hosts are allowed as well. */
  policy: HostPolicy;
  /** Routes by canonical host: always intercepted; optional credential injection and upstream. */
  routes: Route[];
  /** Signs the leaf certificates of intercepted hosts. */
  authority: Authority;
  /** DLP scanner; undefined turns DLP off (and lets plain allowed hosts be tunnelled). */
  scanner?: DlpScanner;
  /** The scanner for a route host (its `allowed` holds that route's real token); default `scanner`. */
  scannerFor?: (host: string) => DlpScanner;
  /** Request bodies are scanned up to this many bytes. */
  maxBodyBytes: number;
  /** A body larger than maxBodyBytes: `block` (413) or `pass` (the rest goes unscanned). */
  oversize: 'block' | 'pass';
  /** Every decision; must not throw (if it does, the error is swallowed). */
  onAudit(e: EgressAudit): void;
  /** True for an address a host reached by name must not be dialled at. */
  forbiddenAddress(ip: string): boolean;
  timeouts?: ProxyTimeouts;
  /** Ports a CONNECT to a non-route host may use; default [443]. */
  tlsPorts?: readonly number[];
  /** Ports a plain-HTTP request to a non-route host may use; default [80]. */
  httpPorts?: readonly number[];
  /** Intercept CONNECTs even when nothing needs to be seen (DLP off, no route); default false. */
  interceptAll?: boolean;
  /** Largest request head a client may send (Node's maxHeaderSize; 431 beyond); default 16 KiB. */
  maxHeaderBytes?: number;
  /** The bottle's name, for the "how to allow it" hint of a refusal. */
  bottle?: string;
  /** An extra CA trusted for upstream TLS, on top of the system roots. For tests. */
  upstreamCa?: string | Buffer;
}

export interface ProxyStats {
  /** Client sockets open now (plain, CONNECT and intercepted TLS). */
  openSockets: number;
  /** Requests forwarded upstream. */
  requests: number;
  /** Requests and CONNECTs refused by policy (host, port, address, SNI, Host header). */
  denied: number;
  /** Requests refused by DLP (including oversize bodies). */
  dlp: number;
  /** Upstream failures answered 502/504. */
  errors: number;
  /** Malformed requests answered 400/408/431. */
  badRequests: number;
  /** Raw tunnels opened. */
  tunnels: number;
  /** TLS interceptions completed. */
  intercepted: number;
}

export interface EgressProxy {
  socketPath: string;
  /** Stops listening and closes every socket; idempotent. */
  close(): Promise<void>;
  stats(): ProxyStats;
}

/** Where a guest request goes once the proxy decided to forward it. */
interface Dest {
  secure: boolean;
  hostname: string;
  port: number;
  hostHeader: string;
  /** SNI, undefined for IP literals. */
  servername: string | undefined;
  /** A route upstream's path, prepended to every request path. */
  prefix: string;
  /** Reached by name or IP literal the guest gave: dialled only at addresses `forbiddenAddress` accepts. */
  guarded: boolean;
  agent: http.Agent;
}

/** A host and port the guest named, with what applies to it. */
interface Origin {
  host: string;
  port: number;
  route: Route | undefined;
  dest: Dest;
  /** Secrets to mask in responses (route hosts with injection). */
  secrets: Buffer[] | undefined;
}

interface HeadResult {
  headers: string[];
  contentLength: string | undefined;
  chunked: boolean;
  bad: string | undefined;
  finding: DlpFinding | undefined;
}

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
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
/** Connection-level headers: never forwarded in either direction. `host`, `expect` and framing are set by the proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'http2-settings',
]);
/** Headers that carry a credential to a route host: the guest's are always dropped when the route injects. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'proxy-authorization'];
const HEADER_VALUE_OK = /^[\t\x20-\x7e\x80-\xff]*$/;
const TOKEN_OK = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

class ForbiddenAddressError extends Error {
  readonly code = 'EBOTTLEFORBIDDEN';
}

const noop = () => {};

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : 'ERROR';
}

/** A raw HTTP response on a socket that is not (or no longer) an http.ServerResponse; the socket is closed after. */
function rawReply(socket: Duplex, status: number, text: string): void {
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

/** The upstream URL of a route, as a Dest; throws with the route named (never its token). */
function upstreamDest(route: Route, agents: { http: http.Agent; https: https.Agent }): Dest {
  let u: URL;
  try {
    u = new URL(route.upstream!);
  } catch {
    throw new Error(`egress route ${JSON.stringify(route.host)}: upstream is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must be http:// or https://`);
  if (u.username || u.password) throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must not carry credentials`);
  if (u.search || u.hash) throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must not have a query or fragment`);
  const secure = u.protocol === 'https:';
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    secure,
    hostname,
    port: u.port ? Number(u.port) : secure ? 443 : 80,
    hostHeader: u.host,
    servername: secure && net.isIP(hostname) === 0 ? hostname : undefined,
    prefix: u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, ''),
    guarded: false,
    agent: secure ? agents.https : agents.http,
  };
}

function validateRoute(route: Route): void {
  const name = JSON.stringify(route.host);
  if (canonicalHost(route.host) !== route.host) throw new Error(`egress route ${name}: the host must be canonical (lower-case, no port)`);
  if (!route.inject) return;
  const { header, value, placeholder } = route.inject;
  if (!TOKEN_OK.test(header)) throw new Error(`egress route ${name}: inject.header is not a header name`);
  // The value itself is never quoted: it is the real credential.
  if (value.length === 0 || !HEADER_VALUE_OK.test(value)) throw new Error(`egress route ${name}: the injected value is empty or has characters a header cannot carry`);
  if (placeholder.length < 8) throw new Error(`egress route ${name}: the placeholder must be at least 8 characters`);
  if (placeholder === value) throw new Error(`egress route ${name}: the placeholder must differ from the real value`);
}

/** Starts the proxy on its door's socket; resolves once it listens. */
export async function startProxy(opts: ProxyOptions): Promise<EgressProxy> {
  const headersMs = opts.timeouts?.headersMs ?? 10_000;
  const idleMs = opts.timeouts?.idleMs ?? 600_000;
  const requestMs = Math.max(opts.timeouts?.requestMs ?? 300_000, headersMs);
  const connectMs = opts.timeouts?.connectMs ?? 10_000;
  const maxHeaderSize = opts.maxHeaderBytes ?? 16 * 1024;
  const tlsPorts = new Set(opts.tlsPorts ?? [443]);
  const httpPorts = new Set(opts.httpPorts ?? [80]);
  const maxBody = Math.max(0, opts.maxBodyBytes);
  const dlpOn = opts.scanner !== undefined;
  const hint = `bottles.${opts.bottle ?? '<name>'}.egress.allow in bottle.config.ts`;

  const routes = new Map<string, Route>();
  for (const r of opts.routes) {
    validateRoute(r);
    if (routes.has(r.host)) throw new Error(`egress route ${JSON.stringify(r.host)}: two routes for one host`);
    routes.set(r.host, r);
  }
  const credentials = new RouteCredentials(opts.routes);

  // Upstream agents, keep-alive. Hosts reached by name dial through `guardedLookup`;
  // route upstreams have agents of their own (see the header).
  const secureContext = opts.upstreamCa ? tls.createSecureContext({ ca: [...tls.rootCertificates, String(opts.upstreamCa)] }) : undefined;
  const isForbidden = (ip: string): boolean => {
    try {
      return opts.forbiddenAddress(ip) !== false;
    } catch {
      return true;
    }
  };
  const guardedLookup: net.LookupFunction = (hostname, options, callback) => {
    dns.lookup(hostname, { family: options.family ?? 0, hints: options.hints ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const ok = addresses.filter((a) => !isForbidden(a.address));
      if (ok.length === 0) {
        return callback(new ForbiddenAddressError(addresses.map((a) => a.address).join(', ') || 'no address'), '', 0);
      }
      if (options.all) return callback(null, ok);
      return callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
  const agentBase = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256, scheduling: 'lifo' as const, timeout: idleMs };
  const tlsBase = { ...(secureContext ? { secureContext } : {}), ALPNProtocols: ['http/1.1'], rejectUnauthorized: true };
  const agents = {
    guardedHttp: new http.Agent({ ...agentBase, lookup: guardedLookup }),
    guardedHttps: new https.Agent({ ...agentBase, ...tlsBase, lookup: guardedLookup }),
    upstreamHttp: new http.Agent(agentBase),
    upstreamHttps: new https.Agent({ ...agentBase, ...tlsBase }),
  };
  const routeDests = new Map<string, Dest>();
  for (const r of opts.routes) {
    if (r.upstream) routeDests.set(r.host, upstreamDest(r, { http: agents.upstreamHttp, https: agents.upstreamHttps }));
  }
  const routeSecrets = new Map<string, Buffer[]>();
  for (const r of opts.routes) if (r.inject) routeSecrets.set(r.host, secretsOf(r.inject.value));

  const stats: Omit<ProxyStats, 'openSockets'> = { requests: 0, denied: 0, dlp: 0, errors: 0, badRequests: 0, tunnels: 0, intercepted: 0 };
  const live = new Set<Duplex>();
  const track = (s: Duplex) => {
    live.add(s);
    s.once('close', () => live.delete(s));
  };
  /** Intercepted TLS sockets and the CONNECT they belong to. */
  const tunnels = new WeakMap<object, Origin>();
  const scanners = new Map<string, DlpScanner>();

  const audit = safeSink<EgressAudit>((e) => opts.onAudit(e));
  const allowed = (host: string): boolean => {
    if (routes.has(host)) return true;
    try {
      return opts.policy.allows(host);
    } catch {
      return false;
    }
  };
  const scannerFor = (host: string): DlpScanner | undefined => {
    if (!opts.scanner) return undefined;
    if (!opts.scannerFor || !routes.has(host)) return opts.scanner;
    let s = scanners.get(host);
    if (!s) {
      s = opts.scannerFor(host);
      scanners.set(host, s);
    }
    return s;
  };
  /** A secret spelled in the host name itself (a wildcard allows any label). */
  const hostFinding = (host: string): DlpFinding | undefined => {
    const scanner = scannerFor(host);
    if (!scanner) return undefined;
    const f = scanner.scan(host, 'url');
    if (f) return f;
    const rule = credentials.inText(host, host);
    return rule ? { rule, where: 'url', layer: 'raw' } : undefined;
  };
  const notAllowedText = (host: string) => `claude-bottle: egress to "${host}" is not allowed; add it to ${hint}`;

  const makeOrigin = (host: string, port: number, secure: boolean): Origin => {
    const route = routes.get(host);
    const dest: Dest = routeDests.get(host) ?? {
      secure,
      hostname: host,
      port,
      hostHeader: hostHeader(host, port, secure ? 443 : 80),
      servername: secure && net.isIP(host) === 0 ? host : undefined,
      prefix: '',
      guarded: true,
      agent: secure ? agents.guardedHttps : agents.guardedHttp,
    };
    return { host, port, route, dest, secrets: routeSecrets.get(host) };
  };
  /** An IP literal is dialled without a lookup, so it is checked here, before anything is sent. */
  const forbiddenLiteral = (o: Origin): boolean => o.dest.guarded && net.isIP(o.host) !== 0 && isForbidden(o.host);
  const forbiddenText = (host: string) => `claude-bottle: egress to "${host}" is refused: it is (or resolves to) a local, private or otherwise forbidden address`;

  // ---- the request pipeline (plain HTTP and inside intercepted tunnels) ----

  /** Reply with the proxy's own plain-text answer; closes the connection when the request body was not read. */
  function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, text: string): void {
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

  /**
   * One pass over the client's headers: drops hop-by-hop and (for injecting
   * routes) credential headers, checks framing, scans what is left.
   */
  function readHead(req: http.IncomingMessage, o: Origin, scanner: DlpScanner | undefined): HeadResult {
    const raw = req.rawHeaders;
    const out: string[] = [];
    const inject = o.route?.inject;
    let hosts = 0;
    let contentLength: string | undefined;
    let chunked = false;
    let connectionTokens: string[] | undefined;
    const result = (bad: string | undefined, finding?: DlpFinding): HeadResult => ({ headers: out, contentLength, chunked, bad, finding });
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const lower = name.toLowerCase();
      if (lower === 'host') {
        hosts++;
        continue;
      }
      if (lower === 'content-length') {
        contentLength = value;
        continue;
      }
      if (lower === 'transfer-encoding') {
        // Node's parser lets `gzip, chunked` through; the proxy forwards only plain chunked framing.
        if (value.trim().toLowerCase() !== 'chunked') return result('unsupported Transfer-Encoding');
        chunked = true;
        continue;
      }
      if (HOP_BY_HOP.has(lower)) {
        if (lower === 'connection') {
          for (const t of value.split(',')) {
            const token = t.trim().toLowerCase();
            if (token && token !== 'close' && token !== 'keep-alive') (connectionTokens ??= []).push(token);
          }
        }
        continue;
      }
      if (inject && (lower === inject.header || CREDENTIAL_HEADERS.includes(lower))) continue;
      if (inject && lower === 'accept-encoding') continue; // replaced by identity: responses are masked
      if (scanner) {
        const finding =
          scanner.scan(value, 'header') ??
          (name.length >= 16 ? scanner.scan(name, 'header') : undefined) ??
          credentialFinding(credentials.inText(o.host, value) ?? credentials.inText(o.host, name), 'header');
        if (finding) return result(undefined, finding);
      }
      out.push(name, value);
    }
    if (hosts > 1) return result('more than one Host header');
    if (connectionTokens) {
      for (let i = out.length - 2; i >= 0; i -= 2) {
        if (connectionTokens.includes(out[i]!.toLowerCase())) out.splice(i, 2);
      }
    }
    return result(undefined);
  }

  function credentialFinding(rule: string | undefined, where: DlpFinding['where']): DlpFinding | undefined {
    return rule ? { rule, where, layer: 'raw' } : undefined;
  }

  function refuseDlp(req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string, f: DlpFinding): void {
    stats.dlp++;
    audit({ type: 'egress.dlp', host: o.host, method: req.method, path: pathOnly(path), rule: f.rule, reason: `${f.where} (${f.layer})`, status: 403 });
    reply(
      req,
      res,
      403,
      `claude-bottle: request to "${o.host}" blocked by DLP: its ${f.where} looks like it carries a secret (rule ${f.rule}). Secrets must not leave the bottle; if this is a false positive, ask the operator to adjust DLP.`,
    );
  }

  function readBody(req: http.IncomingMessage, limit: number): Promise<{ body: Buffer; more: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onError);
        req.off('close', onClose);
      };
      const onData = (c: Buffer) => {
        chunks.push(c);
        size += c.length;
        if (size > limit) {
          done();
          req.pause();
          resolve({ body: Buffer.concat(chunks, size), more: true });
        }
      };
      const onEnd = () => {
        done();
        resolve({ body: Buffer.concat(chunks, size), more: false });
      };
      const onError = (e: Error) => {
        done();
        reject(e);
      };
      const onClose = () => {
        if (req.complete) return;
        done();
        reject(new Error('client went away'));
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onError);
      req.on('close', onClose);
    });
  }

  /** Scan (when DLP is on), then forward `req` to the origin's destination and stream the answer back. */
  async function forward(req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string): Promise<void> {
    const method = req.method ?? 'GET';
    const scanner = scannerFor(o.host);
    if (scanner) {
      const f = scanner.scan(path, 'url') ?? credentialFinding(credentials.inText(o.host, path, true), 'url');
      if (f) return refuseDlp(req, res, o, path, f);
    }
    const head = readHead(req, o, scanner);
    if (head.bad) {
      stats.badRequests++;
      return reply(req, res, 400, `claude-bottle: bad request: ${head.bad}`);
    }
    if (head.finding) return refuseDlp(req, res, o, path, head.finding);
    if (head.contentLength !== undefined && head.chunked) {
      stats.badRequests++;
      return reply(req, res, 400, 'claude-bottle: bad request: both Content-Length and Transfer-Encoding');
    }
    if (forbiddenLiteral(o)) {
      stats.denied++;
      audit({ type: 'egress.deny', host: o.host, method, path: pathOnly(path), reason: 'forbidden address', status: 403 });
      return reply(req, res, 403, forbiddenText(o.host));
    }
    const hasBody = head.chunked || (head.contentLength !== undefined && head.contentLength !== '0');

    let body: Buffer | undefined;
    let rest = hasBody; // stream (the rest of) the client's body
    if (scanner && hasBody) {
      const declared = head.contentLength === undefined ? -1 : Number(head.contentLength);
      if (declared > maxBody && opts.oversize === 'block') return refuseOversize(req, res, o, path);
      let read: { body: Buffer; more: boolean };
      try {
        read = await readBody(req, maxBody);
      } catch {
        res.destroy();
        return;
      }
      if (read.more && opts.oversize === 'block') return refuseOversize(req, res, o, path);
      // A compressed body is scanned as what it decompresses to; one we cannot read does not leave.
      const encoding = req.headers['content-encoding']?.trim().toLowerCase();
      let plain = read.body;
      if (encoding && encoding !== 'identity') {
        const decoded = read.more ? undefined : decodeBody(encoding, read.body, maxBody);
        if (!decoded) return refuseDlp(req, res, o, path, { rule: 'unscannable-encoding', where: 'body', layer: encoding });
        plain = decoded;
      }
      const f = scanner.scan(plain, 'body') ?? credentialFinding(credentials.inBytes(o.host, plain), 'body');
      if (f) return refuseDlp(req, res, o, path, f);
      body = read.body;
      rest = read.more;
    }

    const headers = head.headers;
    headers.push('host', o.dest.hostHeader);
    const inject = o.route?.inject;
    if (inject) headers.push(inject.header, inject.value, 'accept-encoding', 'identity');
    if (body && !rest) headers.push('content-length', String(body.length));
    else if (head.contentLength !== undefined) headers.push('content-length', head.contentLength);
    else if (head.chunked) headers.push('transfer-encoding', 'chunked');
    else if (method !== 'GET' && method !== 'HEAD') headers.push('content-length', '0');

    dispatch(req, res, o, method, path, headers, body, rest, false);
  }

  function refuseOversize(req: http.IncomingMessage, res: http.ServerResponse, o: Origin, path: string): void {
    stats.dlp++;
    audit({ type: 'egress.dlp', host: o.host, method: req.method, path: pathOnly(path), rule: 'oversize', reason: `body larger than ${maxBody} bytes`, status: 413 });
    reply(
      req,
      res,
      413,
      `claude-bottle: request to "${o.host}" blocked: its body is larger than ${maxBody} bytes, the most DLP scans (dlp.maxBodyBytes); raise it or set dlp.oversize: 'pass' in bottle.config.ts`,
    );
  }

  /** Sends the request upstream (`path` is the guest's; a route upstream's prefix is added here). */
  function dispatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    o: Origin,
    method: string,
    path: string,
    headers: string[],
    body: Buffer | undefined,
    rest: boolean,
    retry: boolean,
  ): void {
    stats.requests++;
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
        stats.requests--;
        dispatch(req, res, o, method, path, headers, body, rest, true);
        return;
      }
      upstreamFailed(req, res, o, method, path, err);
    });
    up.on('response', (upRes) => {
      answered = true;
      try {
        respond(req, res, o, method, path, upRes);
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

  /** A bug or a throwing scanner: answer 500 (or cut the connection) rather than forward anything. */
  function internalError(req: http.IncomingMessage, res: http.ServerResponse, host: string, path: string, err: unknown): void {
    stats.errors++;
    audit({ type: 'egress.error', host, method: req.method, path: pathOnly(path), reason: `internal: ${errorCode(err)}`, status: 500 });
    try {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': TEXT, connection: 'close' });
        res.end('claude-bottle: the egress proxy failed on this request; nothing was sent\n');
      } else res.destroy();
    } catch {
      res.destroy();
    }
  }

  function upstreamFailed(req: http.IncomingMessage, res: http.ServerResponse, o: Origin, method: string, path: string, err: unknown): void {
    const p = pathOnly(path);
    if (err instanceof ForbiddenAddressError) {
      stats.denied++;
      audit({ type: 'egress.deny', host: o.host, method, path: p, reason: `forbidden address (${err.message})`, status: 403 });
      return reply(req, res, 403, forbiddenText(o.host));
    }
    stats.errors++;
    const code = errorCode(err);
    const status = code === 'ETIMEDOUT' ? 504 : 502;
    audit({ type: 'egress.error', host: o.host, method, path: p, reason: code, status });
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    reply(req, res, status, `claude-bottle: could not reach "${o.host}": ${code}`);
  }

  function respond(req: http.IncomingMessage, res: http.ServerResponse, o: Origin, method: string, path: string, upRes: http.IncomingMessage): void {
    if (res.destroyed) {
      upRes.destroy();
      return;
    }
    const secrets = o.secrets;
    const raw = upRes.rawHeaders;
    const out: string[] = [];
    let connectionTokens: string[] | undefined;
    let encoding: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      let value = raw[i + 1]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding') {
        if (lower === 'connection') {
          for (const t of value.split(',')) {
            const token = t.trim().toLowerCase();
            if (token && token !== 'close' && token !== 'keep-alive') (connectionTokens ??= []).push(token);
          }
        }
        continue;
      }
      if (secrets) {
        if (lower === 'content-encoding') {
          const e = value.trim().toLowerCase();
          if (e !== '' && e !== 'identity') encoding = e;
          continue;
        }
        value = maskString(value, secrets);
      }
      out.push(name, value);
    }
    if (connectionTokens) {
      for (let i = out.length - 2; i >= 0; i -= 2) {
        if (connectionTokens.includes(out[i]!.toLowerCase())) out.splice(i, 2);
      }
    }

    let source: Readable = upRes;
    if (secrets) {
      const bodyless = method === 'HEAD' || upRes.statusCode === 204 || upRes.statusCode === 304 || (upRes.statusCode ?? 0) < 200;
      if (encoding && !bodyless) {
        const decoder = decoderFor(encoding);
        if (!decoder) {
          upRes.destroy();
          return upstreamFailed(req, res, o, method, path, Object.assign(new Error('encoding'), { code: 'EUNSUPPORTED_ENCODING' }));
        }
        // Decoded, the length changes: let Node frame it.
        for (let i = out.length - 2; i >= 0; i -= 2) if (out[i]!.toLowerCase() === 'content-length') out.splice(i, 2);
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
    res.writeHead(status, out);
    source.pipe(res);
    audit({ type: 'egress.allow', host: o.host, method, path: pathOnly(path), status });
  }

  /** The decompressed body (bounded by `max`), or undefined when it cannot be read. */
  function decodeBody(encoding: string, body: Buffer, max: number): Buffer | undefined {
    try {
      const opts = { maxOutputLength: Math.max(1, max) };
      switch (encoding) {
        case 'gzip':
        case 'x-gzip':
          return zlib.gunzipSync(body, opts);
        case 'deflate':
          return zlib.inflateSync(body, opts);
        case 'br':
          return zlib.brotliDecompressSync(body, opts);
        default:
          return undefined;
      }
    } catch {
      return undefined;
    }
  }

  function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | Duplex | undefined {
    switch (encoding) {
      case 'gzip':
      case 'x-gzip':
        return zlib.createGunzip();
      case 'deflate':
        return zlib.createInflate();
      case 'br':
        return zlib.createBrotliDecompress();
      case 'zstd':
        return typeof zlib.createZstdDecompress === 'function' ? zlib.createZstdDecompress() : undefined;
      default:
        return undefined;
    }
  }

  // ---- plain HTTP: absolute-form requests to the proxy ----

  function onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('error', noop);
    const url = req.url ?? '';
    const method = req.method ?? 'GET';
    if (url.startsWith('/') || url === '*') {
      stats.badRequests++;
      return reply(req, res, 400, 'claude-bottle: this is the egress proxy; send proxy requests (absolute URLs) or CONNECT, e.g. with HTTP_PROXY/HTTPS_PROXY set');
    }
    const t = parseAbsolute(url);
    if (!t) {
      stats.badRequests++;
      return reply(req, res, 400, 'claude-bottle: bad request target; expected http://host[:port]/path');
    }
    if (t.scheme === 'https') {
      stats.badRequests++;
      return reply(req, res, 400, 'claude-bottle: https:// URLs go through CONNECT (set HTTPS_PROXY), not as plain proxy requests');
    }
    if (!allowed(t.host)) return deny(req, res, t.host, method, t.path, 'not allowed', notAllowedText(t.host));
    const route = routes.get(t.host);
    if (!route && !httpPorts.has(t.port)) {
      return deny(req, res, t.host, method, t.path, `port ${t.port}`, `claude-bottle: egress to "${t.host}" on port ${t.port} is not allowed; plain HTTP goes to port ${[...httpPorts].join(', ')} only`);
    }
    if (route?.inject && !route.upstream) {
      // Its credential would cross the network in clear text.
      return deny(req, res, t.host, method, t.path, 'plain http to a route', `claude-bottle: "${t.host}" gets a credential; use https://${t.host}/ instead of http://`);
    }
    const o = makeOrigin(t.host, t.port, false);
    const f = hostFinding(t.host);
    if (f) return refuseDlp(req, res, o, t.path, f);
    forward(req, res, o, t.path).catch((err) => internalError(req, res, t.host, t.path, err));
  }

  function deny(req: http.IncomingMessage, res: http.ServerResponse, host: string, method: string, path: string, reason: string, text: string): void {
    stats.denied++;
    audit({ type: 'egress.deny', host, method, path: pathOnly(path), reason, status: 403 });
    reply(req, res, 403, text);
  }

  // ---- requests inside an intercepted tunnel ----

  function onTunnelRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.on('error', noop);
    const o = tunnels.get(req.socket);
    if (!o) {
      res.destroy();
      return;
    }
    let path = req.url ?? '';
    if (!path.startsWith('/')) {
      const t = parseAbsolute(path);
      if (!t || t.scheme !== 'https' || t.host !== o.host || t.port !== o.port) {
        stats.badRequests++;
        return reply(req, res, 400, `claude-bottle: bad request target inside the tunnel to "${o.host}"`);
      }
      path = t.path;
    }
    const host = req.headers.host;
    if (host !== undefined) {
      const h = parseAuthority(host, 443);
      if (!h || h.host !== o.host || h.port !== o.port) {
        stats.denied++;
        audit({ type: 'egress.deny', host: o.host, method: req.method, path: pathOnly(path), reason: 'Host header does not match the CONNECT host', status: 421 });
        return reply(req, res, 421, `claude-bottle: this tunnel goes to "${o.host}"; its requests must name that host in Host`);
      }
    }
    forward(req, res, o, path).catch((err) => internalError(req, res, o.host, path, err));
  }

  // ---- CONNECT ----

  function onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    track(socket);
    socket.on('error', noop);
    const t = parseAuthority(req.url ?? '');
    if (!t) {
      stats.badRequests++;
      return rawReply(socket, 400, 'claude-bottle: bad CONNECT target; expected host:port');
    }
    const method = 'CONNECT';
    const refuse = (reason: string, text: string) => {
      stats.denied++;
      audit({ type: 'egress.deny', host: t.host, method, reason, status: 403 });
      rawReply(socket, 403, text);
    };
    if (!allowed(t.host)) return refuse('not allowed', notAllowedText(t.host));
    const route = routes.get(t.host);
    if (!route && !tlsPorts.has(t.port)) {
      return refuse(`port ${t.port}`, `claude-bottle: egress to "${t.host}" on port ${t.port} is not allowed; CONNECT goes to port ${[...tlsPorts].join(', ')} only`);
    }
    const o = makeOrigin(t.host, t.port, true);
    if (forbiddenLiteral(o)) return refuse('forbidden address', forbiddenText(t.host));
    const f = hostFinding(t.host);
    if (f) {
      stats.dlp++;
      audit({ type: 'egress.dlp', host: t.host, method, rule: f.rule, reason: 'host name', status: 403 });
      return rawReply(socket, 403, `claude-bottle: CONNECT to "${t.host}" blocked by DLP: the host name looks like it carries a secret (rule ${f.rule})`);
    }
    if (!route && !dlpOn && !opts.interceptAll) {
      (socket as net.Socket).setTimeout(idleMs, () => socket.destroy());
      openTunnel(socket, head, t).catch(() => socket.destroy());
      return;
    }
    intercept(socket, head, o);
  }

  async function openTunnel(socket: Duplex, head: Buffer, t: Target): Promise<void> {
    let addresses: { address: string; family: number }[];
    const family = net.isIP(t.host);
    if (family !== 0) addresses = [{ address: t.host, family }];
    else {
      try {
        addresses = await dns.promises.lookup(t.host, { all: true });
      } catch (err) {
        stats.errors++;
        audit({ type: 'egress.error', host: t.host, method: 'CONNECT', reason: errorCode(err), status: 502 });
        return rawReply(socket, 502, `claude-bottle: could not resolve "${t.host}": ${errorCode(err)}`);
      }
    }
    if (socket.destroyed) return;
    const ok = addresses.filter((a) => !isForbidden(a.address));
    if (ok.length === 0) {
      stats.denied++;
      audit({ type: 'egress.deny', host: t.host, method: 'CONNECT', reason: `forbidden address (${addresses.map((a) => a.address).join(', ')})`, status: 403 });
      return rawReply(socket, 403, forbiddenText(t.host));
    }
    const target = ok[0]!;
    // The exact address checked above, never the name again.
    const upstream = net.connect({ host: target.address, port: t.port, family: target.family, noDelay: true });
    track(upstream);
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), connectMs);
    timer.unref();
    upstream.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      stats.tunnels++;
      audit({ type: 'egress.allow', host: t.host, method: 'CONNECT', status: 200 });
      upstream.setTimeout(idleMs, () => upstream.destroy());
      socket.write(ESTABLISHED);
      if (head.length) upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      if (!connected) {
        stats.errors++;
        audit({ type: 'egress.error', host: t.host, method: 'CONNECT', reason: errorCode(err), status: 502 });
        rawReply(socket, 502, `claude-bottle: could not reach "${t.host}": ${errorCode(err)}`);
      } else socket.destroy();
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  }

  function intercept(socket: Duplex, head: Buffer, o: Origin): void {
    let secureContext: tls.SecureContext;
    try {
      secureContext = opts.authority.secureContext(o.host);
    } catch (err) {
      stats.errors++;
      audit({ type: 'egress.error', host: o.host, method: 'CONNECT', reason: `certificate: ${errorCode(err)}`, status: 502 });
      return rawReply(socket, 502, `claude-bottle: cannot intercept "${o.host}": no certificate`);
    }
    // From here the inner server's timeouts govern the TLS socket (and know about requests in flight).
    (socket as net.Socket).setTimeout(0);
    socket.write(ESTABLISHED);
    if (head.length) socket.unshift(head);
    const tlsSocket = new tls.TLSSocket(socket as net.Socket, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    track(tlsSocket);
    const timer = setTimeout(() => tlsSocket.destroy(), headersMs);
    timer.unref();
    tlsSocket.on('error', () => tlsSocket.destroy());
    tlsSocket.once('close', () => {
      clearTimeout(timer);
      socket.destroy();
    });
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      const sni = tlsSocket.servername;
      if (sni && canonicalHost(sni) !== o.host) {
        stats.denied++;
        audit({ type: 'egress.deny', host: o.host, method: 'CONNECT', reason: 'TLS SNI does not match the CONNECT host', status: 403 });
        tlsSocket.destroy();
        return;
      }
      stats.intercepted++;
      tunnels.set(tlsSocket, o);
      inner.emit('connection', tlsSocket);
    });
  }

  // ---- the servers ----

  const serverOptions: http.ServerOptions = {
    insecureHTTPParser: false,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    maxHeaderSize,
    headersTimeout: headersMs,
    requestTimeout: requestMs,
    keepAliveTimeout: Math.min(65_000, idleMs),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersMs / 4))),
    noDelay: true,
  };
  const onClientError = (err: Error, socket: Duplex) => {
    try {
      const code = errorCode(err);
      if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
        socket.destroy();
        return;
      }
      const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (inFlight?.headersSent) {
        socket.destroy();
        return;
      }
      stats.badRequests++;
      if (code === 'HPE_HEADER_OVERFLOW') rawReply(socket, 431, 'claude-bottle: request headers too large');
      else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') rawReply(socket, 408, 'claude-bottle: request timed out');
      else rawReply(socket, 400, `claude-bottle: bad request (${code})`);
    } catch {
      socket.destroy();
    }
  };

  const server = http.createServer(serverOptions);
  server.timeout = idleMs;
  server.on('request', (req, res) => {
    try {
      onPlainRequest(req, res);
    } catch {
      res.destroy();
    }
  });
  server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      onConnect(req, socket, head);
    } catch {
      socket.destroy();
    }
  });
  server.on('clientError', onClientError);
  server.on('connection', (s: net.Socket) => track(s));

  // The tunnels' requests: a server that never listens, fed TLS sockets.
  const inner = http.createServer(serverOptions);
  inner.timeout = idleMs;
  inner.on('request', (req, res) => {
    try {
      onTunnelRequest(req, res);
    } catch {
      res.destroy();
    }
  });
  inner.on('connect', (_req: http.IncomingMessage, socket: Duplex) => socket.destroy());
  inner.on('clientError', onClientError);
  // Node tracks connections for headersTimeout/requestTimeout only once a server
  // is 'listening'; this one never listens, so start the tracking by hand
  // (the slow-client tests fail if Node ever changes this).
  inner.emit('listening');

  await listenOnDoor(server, opts.socketPath);
  server.on('error', noop);

  let closing: Promise<void> | undefined;
  return {
    socketPath: opts.socketPath,
    stats: () => ({ openSockets: live.size, ...stats }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        inner.close(noop);
        inner.closeAllConnections();
        for (const s of live) s.destroy();
        live.clear();
        for (const a of Object.values(agents)) a.destroy();
      });
      return closing;
    },
  };
}

// The egress proxy against real clients (node https through CONNECT, curl -x)
// and real upstreams (HTTPS and plain HTTP) on loopback: allowlist, routes and
// injection, DLP, interception details, and abuse that must neither crash it
// nor stop it serving the next request.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BottleAuthority, createAuthority } from '../../../../plugins/ca/authority.ts';
import { createScanner } from '../../../../lib/dlp/index.ts';
import { Allowlist, isForbiddenAddress } from '../../../../lib/hosts.ts';
import { MaskStream } from '../../../../plugins/egress/proxy/mask.ts';
import { parseAbsolute, parseAuthority } from '../../../../plugins/egress/proxy/target.ts';
import { type EgressProxy, type ProxyOptions, startProxy } from '../../../../plugins/egress/proxy.ts';
import type { EgressAudit, Route } from '../../../../plugins/egress/types.ts';
import { startRelay } from '../../../helpers/relay.ts';

// ---------------------------------------------------------------- fixtures

/** A fake AWS access key id, built at run time so no secret-looking literal sits in the source. */
const AWS_KEY = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');
const REAL = `sk-real-${randomBytes(16).toString('hex')}`;
const PLACEHOLDER = `bottle-placeholder-${randomBytes(12).toString('hex')}`;
const OTHER_REAL = `other-real-${randomBytes(16).toString('hex')}`;
const OTHER_PLACEHOLDER = `bottle-placeholder-${randomBytes(12).toString('hex')}`;

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

interface Upstream {
  port: number;
  seen: Seen[];
  connections: () => number;
  closedEarly: () => number;
  close(): Promise<void>;
}

/** The echo upstream: answers with what it received; `/gzip` compresses, `/hang` never answers. */
function echoHandler(seen: Seen[], onClosedEarly: () => void) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    res.on('close', () => {
      if (!res.writableFinished) onClosedEarly();
    });
    req.on('end', () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString('latin1') };
      seen.push(s);
      if (req.url!.startsWith('/hang')) return;
      const payload = JSON.stringify({ ...s, body: s.body.length > 200 ? `${s.body.length} bytes` : s.body });
      if (req.url!.startsWith('/gzip')) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(payload));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-echo-key': String(req.headers['x-api-key'] ?? ''), 'set-cookie': ['a=1', 'b=2'] });
      res.end(payload);
    });
  };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as net.AddressInfo).port;
}

/** An HTTPS upstream whose certificates come from its own CA (names by SNI, 127.0.0.1 without). */
async function httpsUpstream(ca: BottleAuthority): Promise<Upstream> {
  const seen: Seen[] = [];
  let conns = 0;
  let early = 0;
  const app = http.createServer(echoHandler(seen, () => early++));
  const sockets = new Set<Duplex>();
  const server = net.createServer((s) => {
    conns++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    const t = new tls.TLSSocket(s, {
      isServer: true,
      secureContext: ca.secureContext('127.0.0.1'),
      SNICallback: (name, cb) => cb(null, ca.secureContext(name)),
    });
    t.on('error', () => t.destroy());
    t.once('secure', () => app.emit('connection', t));
  });
  const port = await listen(server);
  return {
    port,
    seen,
    connections: () => conns,
    closedEarly: () => early,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

async function httpUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  let conns = 0;
  let early = 0;
  const server = http.createServer(echoHandler(seen, () => early++));
  server.on('connection', () => conns++);
  const port = await listen(server);
  return {
    port,
    seen,
    connections: () => conns,
    closedEarly: () => early,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

function collect(res: http.IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('latin1') }));
    res.on('error', reject);
  });
}

/** An https.Agent that reaches every host through the proxy's CONNECT, one tunnel per socket, kept alive. */
class TunnelAgent extends https.Agent {
  readonly proxyPort: number;
  readonly sni: string | undefined;
  connects = 0;

  constructor(proxyPort: number, ca: string, sni?: string) {
    super({ keepAlive: true, maxSockets: 1, ca });
    this.proxyPort = proxyPort;
    this.sni = sni;
  }

  override createConnection(options: http.ClientRequestArgs, cb?: (err: Error | null, s: Duplex) => void): Duplex | null | undefined {
    const o = options as tls.ConnectionOptions & { host: string; port: number };
    this.connects++;
    const s = net.connect(this.proxyPort, '127.0.0.1');
    s.on('error', (e) => cb?.(e, s));
    s.write(`CONNECT ${o.host}:${o.port} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      const head = buf.subarray(0, end).toString();
      if (!head.startsWith('HTTP/1.1 200')) {
        cb?.(Object.assign(new Error(`CONNECT refused: ${buf.toString()}`), { response: buf.toString() }), s);
        s.destroy();
        return;
      }
      s.pause();
      // The CONNECT host as SNI (Node would take it from a Host header); an SNI override is an attacker who skips verification.
      const t = tls.connect({
        socket: s,
        servername: this.sni ?? (net.isIP(o.host) ? undefined : o.host),
        ca: o.ca,
        ALPNProtocols: ['http/1.1'],
        ...(this.sni ? { checkServerIdentity: () => undefined } : {}),
      });
      cb?.(null, t);
    };
    s.on('data', onData);
    return undefined;
  }
}

function viaTunnel(agent: https.Agent, url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { agent, method: opts.method ?? 'GET', headers: opts.headers }, (res) => collect(res).then(resolve, reject));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function viaPlain(proxyPort: number, url: string, opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: opts.method ?? 'GET', path: url, headers: opts.headers, agent: false }, (res) => collect(res).then(resolve, reject));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes raw bytes to the proxy and returns what comes back until the socket closes (or `waitMs`). */
function raw(port: number, data: string | Buffer, waitMs = 2000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(data));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    const t = setTimeout(() => {
      s.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
  });
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    for (const k of ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) delete env[k];
    execFile('curl', ['-sS', '--noproxy', '', '--max-time', '10', ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// ---------------------------------------------------------------- setup

let authority: BottleAuthority;
let upstreamAuthority: BottleAuthority;
let tlsUp: Upstream;
let plainUp: Upstream;
let tmp: string;
let caFile: string;
/** The proxy as the guest sees it: through a relay standing in for the forwarder. */
type TestProxy = EgressProxy & { port: number };
const proxies: TestProxy[] = [];
let sockN = 0;
const agents: https.Agent[] = [];

beforeAll(async () => {
  authority = createAuthority();
  upstreamAuthority = createAuthority();
  await Promise.all([authority.warm(), upstreamAuthority.warm()]);
  tlsUp = await httpsUpstream(upstreamAuthority);
  plainUp = await httpUpstream();
  tmp = mkdtempSync(join(tmpdir(), 'proxy-test-'));
  caFile = join(tmp, 'ca.pem');
  writeFileSync(caFile, authority.certPem);
});

afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  tlsUp.seen.length = 0;
  plainUp.seen.length = 0;
});

afterAll(async () => {
  await Promise.all([tlsUp?.close(), plainUp?.close()]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const ROUTE = 'api.route.test';
const OTHER_ROUTE = 'other.route.test';
const PLAIN_ROUTE = 'plain.route.test';

function routes(): Route[] {
  return [
    { host: ROUTE, upstream: `https://127.0.0.1:${tlsUp.port}`, inject: { header: 'x-api-key', value: REAL, placeholder: PLACEHOLDER } },
    { host: OTHER_ROUTE, upstream: `https://127.0.0.1:${tlsUp.port}/base`, inject: { header: 'authorization', value: `Bearer ${OTHER_REAL}`, placeholder: OTHER_PLACEHOLDER } },
    { host: PLAIN_ROUTE, upstream: `http://127.0.0.1:${plainUp.port}` },
  ];
}

async function start(over: Partial<ProxyOptions> & { dlp?: boolean } = {}): Promise<{ proxy: TestProxy; audits: EgressAudit[]; agent: (sni?: string) => TunnelAgent }> {
  const audits: EgressAudit[] = [];
  const rs = over.routes ?? routes();
  const dlp = over.dlp ?? true;
  // As the egress plugin wires it: one scanner per route host that allows its own token.
  const plain = createScanner();
  const byHost = new Map(rs.map((r) => [r.host, createScanner(r.inject ? { allowed: [r.inject.value] } : {})]));
  const { dlp: _dlp, ...rest } = over;
  const door = await startProxy({
    socketPath: join(tmp, `p${sockN++}.sock`),
    policy: new Allowlist(['localhost', 'allowed.test', '*.wild.test', ...rs.map((r) => r.host)]),
    routes: rs,
    authority,
    ...(dlp ? { scanner: plain, scannerFor: (h: string) => byHost.get(h) ?? plain } : {}),
    maxBodyBytes: 64 * 1024,
    oversize: 'block',
    onAudit: (e) => audits.push(e),
    // Loopback stands in for the world in these tests; the forbidden-address tests use the real check.
    forbiddenAddress: () => false,
    tlsPorts: [443, tlsUp.port],
    httpPorts: [80, plainUp.port],
    upstreamCa: upstreamAuthority.certPem,
    ...rest,
  });
  const relay = await startRelay(door.socketPath);
  const proxy: TestProxy = { ...door, port: relay.port, close: async () => { await relay.close(); await door.close(); } };
  proxies.push(proxy);
  return {
    proxy,
    audits,
    agent: (sni?: string) => {
      const a = new TunnelAgent(proxy.port, authority.certPem, sni);
      agents.push(a);
      return a;
    },
  };
}

const json = (r: Reply) => JSON.parse(r.body) as Seen;

// ---------------------------------------------------------------- tests

describe('targets', () => {
  it('parses CONNECT authorities strictly and canonically', () => {
    expect(parseAuthority('Example.COM:443')).toEqual({ host: 'example.com', port: 443 });
    expect(parseAuthority('[::1]:8443')).toEqual({ host: '::1', port: 8443 });
    expect(parseAuthority('0x7f.1:443')).toEqual({ host: '127.0.0.1', port: 443 });
    for (const bad of ['example.com', 'example.com:', 'example.com:0', 'example.com:65536', 'example.com:+1', 'u@example.com:443', 'a/b:443', '::1:443', '[::1]443', 'ex ample.com:443', 'example.com:443 ', '%65x.com:443', '']) {
      expect(parseAuthority(bad), bad).toBeUndefined();
    }
  });
  it('parses absolute-form targets', () => {
    expect(parseAbsolute('http://Example.com/a?b=1')).toEqual({ scheme: 'http', host: 'example.com', port: 80, path: '/a?b=1' });
    expect(parseAbsolute('http://example.com:8080?q')).toEqual({ scheme: 'http', host: 'example.com', port: 8080, path: '/?q' });
    expect(parseAbsolute('http://example.com')).toMatchObject({ path: '/' });
    for (const bad of ['/a', 'ftp://x/', 'http://u:p@example.com/', 'http://example.com/#f', 'http:///a', 'http://exa mple.com/']) {
      expect(parseAbsolute(bad), bad).toBeUndefined();
    }
  });
});

describe('the mask', () => {
  it('masks a secret split across chunks and holds back only a possible prefix', async () => {
    const m = new MaskStream([{ form: 'SECRET-TOKEN', fold: false }]);
    const out: Buffer[] = [];
    m.on('data', (c: Buffer) => out.push(c));
    m.write(Buffer.from('data: a SECR'));
    // Only the possible prefix is held back, the rest is out at once.
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(out).toString()).toBe('data: a ');
    m.write(Buffer.from('ET-TOKEN and more\n\n'));
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(out).toString()).toBe('data: a ************ and more\n\n');
    m.end(Buffer.from('SECRET-TOK'));
    await new Promise((r) => m.on('end', r));
    expect(Buffer.concat(out).toString()).toBe('data: a ************ and more\n\nSECRET-TOK');
  });
});

describe('allowlist', () => {
  it('refuses a host that is not allowed, over CONNECT and plain HTTP, saying how to allow it', async () => {
    const { proxy, audits } = await start({ bottle: 'dev' });
    const r = await raw(proxy.port, 'CONNECT denied.test:443 HTTP/1.1\r\nHost: denied.test:443\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1.1 403/);
    expect(r.text).toContain('claude-bottle: egress to "denied.test" is not allowed; add it to bottles.dev.egress.allow in bottle.config.ts');
    const p = await viaPlain(proxy.port, 'http://denied.test/x?secret=1');
    expect(p.status).toBe(403);
    expect(p.body).toContain('egress to "denied.test" is not allowed');
    expect(audits).toEqual([
      { type: 'egress.deny', host: 'denied.test', method: 'CONNECT', reason: 'not allowed', status: 403 },
      { type: 'egress.deny', host: 'denied.test', method: 'GET', path: '/x', reason: 'not allowed', status: 403 },
    ]);
  });

  it('curl -x: a denied https host fails at CONNECT with 403', async () => {
    const { proxy } = await start();
    const r = await curl(['-x', `http://127.0.0.1:${proxy.port}`, '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_connect}', 'https://denied.test/']);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('403');
  });

  it('canonicalises IP literal forms before matching', async () => {
    const { proxy, audits } = await start();
    const r = await raw(proxy.port, 'CONNECT 0x7f.1:443 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1.1 403/);
    expect(r.text).toContain('"127.0.0.1" is not allowed');
    expect(audits[0]).toMatchObject({ host: '127.0.0.1' });
  });

  it('answers origin-form requests sent to the proxy itself with 400', async () => {
    const { proxy } = await start();
    const r = await new Promise<Reply>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/', agent: false }, (res) => collect(res).then(resolve, reject)).on('error', reject);
    });
    expect(r.status).toBe(400);
    expect(r.body).toContain('egress proxy');
  });

  it('refuses non-default ports for hosts that are not routes', async () => {
    const { proxy } = await start();
    const r = await raw(proxy.port, 'CONNECT allowed.test:22 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(r.text).toMatch(/^HTTP\/1.1 403/);
    expect(r.text).toContain('port 22');
    const p = await viaPlain(proxy.port, 'http://allowed.test:8080/');
    expect(p.status).toBe(403);
  });
});

describe('plain HTTP', () => {
  it('forwards an allowed absolute-form request to a route upstream, hop-by-hop headers stripped', async () => {
    const { proxy, audits } = await start();
    const r = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/p/a?x=1`, { method: 'POST', headers: { 'proxy-authorization': 'Basic eDp5', 'x-keep': 'yes', connection: 'x-drop', 'x-drop': '1' }, body: 'hello' });
    expect(r.status).toBe(200);
    const seen = json(r);
    expect(seen).toMatchObject({ method: 'POST', url: '/p/a?x=1', body: 'hello' });
    expect(seen.headers['x-keep']).toBe('yes');
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers['x-drop']).toBeUndefined();
    expect(seen.headers.host).toBe(`127.0.0.1:${plainUp.port}`);
    expect(audits).toEqual([{ type: 'egress.allow', host: PLAIN_ROUTE, method: 'POST', path: '/p/a', status: 200 }]);
  });

  it('forwards to an allowed host reached by name (curl -x)', async () => {
    const { proxy } = await start();
    const r = await curl(['-x', `http://127.0.0.1:${proxy.port}`, '-d', 'body=1', `http://localhost:${plainUp.port}/curl`]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ method: 'POST', url: '/curl', body: 'body=1' });
  });

  it('refuses plain HTTP to a route that injects and has no upstream (the token would travel in clear)', async () => {
    const { proxy } = await start({ routes: [{ host: 'clear.test', inject: { header: 'x-api-key', value: REAL, placeholder: PLACEHOLDER } }] });
    const r = await viaPlain(proxy.port, 'http://clear.test/');
    expect(r.status).toBe(403);
    expect(r.body).toContain('https://clear.test/');
    expect(r.body).not.toContain(REAL);
  });
});

describe('routes and injection', () => {
  it('replaces the guest credential with the real one; the guest never sees it back', async () => {
    const { proxy, audits, agent } = await start();
    const a = agent();
    const r = await viaTunnel(a, `https://${ROUTE}/v1/messages?beta=1`, {
      method: 'POST',
      headers: { 'x-api-key': PLACEHOLDER, authorization: 'Bearer forged', 'content-type': 'application/json', 'accept-encoding': 'gzip' },
      body: JSON.stringify({ model: 'x', note: PLACEHOLDER }),
    });
    expect(r.status).toBe(200);
    const seen = tlsUp.seen.at(-1)!;
    expect(seen.headers['x-api-key']).toBe(REAL);
    expect(seen.headers.authorization).toBeUndefined();
    expect(seen.headers['accept-encoding']).toBe('identity');
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-api-key')).toHaveLength(1);
    expect(seen.url).toBe('/v1/messages?beta=1');
    // The echo reflects the real key in a header and the body: both masked.
    expect(r.body).not.toContain(REAL);
    expect(JSON.stringify(r.rawHeaders)).not.toContain(REAL);
    expect(r.headers['x-echo-key']).toBe('*'.repeat(REAL.length));
    expect(r.rawHeaders.filter((h) => h.toLowerCase() === 'set-cookie')).toHaveLength(2);
    expect(JSON.stringify(audits)).not.toContain(REAL);
    expect(audits).toEqual([{ type: 'egress.allow', host: ROUTE, method: 'POST', path: '/v1/messages', status: 200 }]);
  });

  it('masks the real token in a compressed response too', async () => {
    const { agent } = await start();
    const r = await viaTunnel(agent(), `https://${ROUTE}/gzip`, { headers: { 'x-api-key': PLACEHOLDER } });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body).not.toContain(REAL);
    expect(JSON.parse(r.body).headers['x-api-key']).toBe('*'.repeat(REAL.length));
  });

  it('injects into authorization for a Bearer route and keeps the upstream path prefix', async () => {
    const { agent } = await start();
    const r = await viaTunnel(agent(), `https://${OTHER_ROUTE}/v1/x`, { headers: { authorization: `Bearer ${OTHER_PLACEHOLDER}`, 'x-api-key': 'forged' } });
    expect(r.status).toBe(200);
    const seen = tlsUp.seen.at(-1)!;
    expect(seen.url).toBe('/base/v1/x');
    expect(seen.headers.authorization).toBe(`Bearer ${OTHER_REAL}`);
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(r.body).not.toContain(OTHER_REAL);
  });

  it('curl -x with a forged key: the upstream sees the real one', async () => {
    const { proxy } = await start();
    const r = await curl(['-x', `http://127.0.0.1:${proxy.port}`, '--cacert', caFile, '-H', 'x-api-key: forged-by-guest', `https://${ROUTE}/curl`]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(REAL);
    expect(r.stdout).not.toContain('forged-by-guest');
    expect(tlsUp.seen.at(-1)!.headers['x-api-key']).toBe(REAL);
  });

  it('refuses a route placeholder or real token sent to another host', async () => {
    const { audits, agent } = await start();
    const a = agent();
    const base = `https://localhost:${tlsUp.port}`;
    const cases: [string, { headers?: http.OutgoingHttpHeaders; body?: string; method?: string }, string][] = [
      [`${base}/a`, { headers: { 'x-api-key': PLACEHOLDER } }, 'route-placeholder'],
      [`${base}/a?k=${encodeURIComponent(PLACEHOLDER)}`, {}, 'route-placeholder'],
      [`${base}/a`, { method: 'POST', body: `token=${REAL}` }, 'route-credential'],
      [`${base}/a`, { headers: { authorization: `Bearer ${OTHER_REAL}` } }, 'route-credential'],
    ];
    for (const [url, opts, rule] of cases) {
      const r = await viaTunnel(a, url, opts);
      expect(r.status, url).toBe(403);
      expect(r.body).toContain(`rule ${rule}`);
      expect(r.body).not.toContain(REAL);
      expect(r.body).not.toContain(PLACEHOLDER);
    }
    // Another route's placeholder to this route is refused too.
    const r = await viaTunnel(a, `https://${ROUTE}/x`, { headers: { 'x-note': OTHER_PLACEHOLDER } });
    expect(r.status).toBe(403);
    expect(tlsUp.seen).toHaveLength(0);
    expect(audits.filter((e) => e.type === 'egress.dlp').map((e) => e.rule)).toEqual(['route-placeholder', 'route-placeholder', 'route-credential', 'route-credential', 'route-placeholder']);
    expect(JSON.stringify(audits)).not.toContain(REAL);
  });

  it('refuses a route credential spelled in a host name under an allowed wildcard', async () => {
    const { proxy, audits } = await start();
    const r = await raw(proxy.port, `CONNECT ${PLACEHOLDER}.wild.test:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1.1 403/);
    expect(r.text).toContain('rule route-placeholder');
    const p = await viaPlain(proxy.port, `http://${PLACEHOLDER}.wild.test/`);
    expect(p.status).toBe(403);
    expect(audits.map((e) => [e.type, e.rule])).toEqual([
      ['egress.dlp', 'route-placeholder'],
      ['egress.dlp', 'route-placeholder'],
    ]);
  });

  it('passes HEAD answers of a masked route untouched (no body to decode)', async () => {
    const { agent } = await start();
    const r = await viaTunnel(agent(), `https://${ROUTE}/gzip`, { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
  });

  it('lets a route placeholder appear on its own route host', async () => {
    const { agent } = await start();
    const r = await viaTunnel(agent(), `https://${ROUTE}/x`, { method: 'POST', body: `echo ${PLACEHOLDER}`, headers: { 'x-api-key': PLACEHOLDER } });
    expect(r.status).toBe(200);
  });

  it('refuses routes it cannot serve safely', async () => {
    const base = { socketPath: join(tmp, 'refused.sock'), policy: new Allowlist([]), authority, maxBodyBytes: 1, oversize: 'block' as const, onAudit: () => {}, forbiddenAddress: () => true };
    await expect(startProxy({ ...base, routes: [{ host: 'x.test', inject: { header: 'x-api-key', value: `${REAL}\r\nx: y`, placeholder: PLACEHOLDER } }] })).rejects.toThrow(/cannot carry/);
    await expect(startProxy({ ...base, routes: [{ host: 'x.test', inject: { header: 'x-api-key', value: `${REAL}\n`, placeholder: PLACEHOLDER } }] })).rejects.not.toThrow(REAL);
    await expect(startProxy({ ...base, routes: [{ host: 'X.test', upstream: 'http://127.0.0.1:1' }] })).rejects.toThrow(/canonical/);
    await expect(startProxy({ ...base, routes: [{ host: 'x.test', upstream: 'ftp://127.0.0.1:1' }] })).rejects.toThrow(/http/);
    // A door is a socket: anything else at its path is never replaced.
    writeFileSync(join(tmp, 'not-a-socket'), 'x');
    await expect(startProxy({ ...base, socketPath: join(tmp, 'not-a-socket'), routes: [] })).rejects.toThrow(/not a socket/);
  });
});

describe('DLP', () => {
  it('refuses a secret in the URL, a header or the body, naming the rule and never the secret', async () => {
    const { audits, agent } = await start();
    const a = agent();
    const base = `https://localhost:${tlsUp.port}`;
    const where: [string, { headers?: http.OutgoingHttpHeaders; body?: string; method?: string }, string][] = [
      [`${base}/u?key=${AWS_KEY}`, {}, 'url'],
      [`${base}/h`, { headers: { 'x-thing': `id ${AWS_KEY}` } }, 'header'],
      [`${base}/b`, { method: 'POST', body: JSON.stringify({ k: AWS_KEY }) }, 'body'],
    ];
    for (const [url, opts, w] of where) {
      const r = await viaTunnel(a, url, opts);
      expect(r.status).toBe(403);
      expect(r.body).toContain('rule aws-access-key-id');
      expect(r.body).toContain(`its ${w}`);
      expect(r.body).not.toContain(AWS_KEY);
    }
    expect(tlsUp.seen).toHaveLength(0);
    const dlp = audits.filter((e) => e.type === 'egress.dlp');
    expect(dlp.map((e) => [e.rule, e.path])).toEqual([
      ['aws-access-key-id', '/u'],
      ['aws-access-key-id', '/h'],
      ['aws-access-key-id', '/b'],
    ]);
    expect(JSON.stringify(audits)).not.toContain(AWS_KEY);
    // The tunnel still serves clean requests afterwards.
    expect((await viaTunnel(a, `${base}/clean`)).status).toBe(200);
    expect(a.connects).toBe(1);
  });

  it('scans plain HTTP too', async () => {
    const { proxy } = await start();
    const r = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/x`, { method: 'PUT', body: `a=${AWS_KEY}` });
    expect(r.status).toBe(403);
    // The scanner's decoding layers see through base64.
    const b = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/x`, { method: 'POST', body: Buffer.from(`aws=${AWS_KEY}`).toString('base64') });
    expect(b.status).toBe(403);
    expect(b.body).toContain('rule aws-access-key-id');
    expect(plainUp.seen).toHaveLength(0);
  });

  it('scans a compressed body as what it decompresses to; refuses one it cannot read', async () => {
    const { proxy } = await start();
    const { gzipSync, brotliCompressSync } = await import('node:zlib');
    const gz = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/gz`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync(`k=${AWS_KEY}`) });
    expect(gz.status).toBe(403);
    expect(gz.body).toContain('rule aws-access-key-id');
    const br = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/br`, { method: 'POST', headers: { 'content-encoding': 'br' }, body: brotliCompressSync(`k=${AWS_KEY}`) });
    expect(br.status).toBe(403);
    const odd = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/odd`, { method: 'POST', headers: { 'content-encoding': 'x-custom' }, body: 'whatever' });
    expect(odd.status).toBe(403);
    expect(odd.body).toContain('unscannable-encoding');
    const clean = await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/clean`, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: gzipSync('hello') });
    expect(clean.status).toBe(200);
    expect(plainUp.seen.map((x) => x.url)).toEqual(['/clean']);
  });

  it('oversize block: 413 and nothing sent upstream, for declared and chunked lengths', async () => {
    const { proxy, audits, agent } = await start({ maxBodyBytes: 1024, oversize: 'block' });
    const big = 'x'.repeat(5000);
    const r = await viaTunnel(agent(), `https://${ROUTE}/big`, { method: 'POST', body: big });
    expect(r.status).toBe(413);
    expect(r.body).toContain('1024 bytes');
    const chunked = await new Promise<Reply>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: `http://${PLAIN_ROUTE}/big`, agent: false }, (res) => collect(res).then(resolve, reject));
      req.on('error', reject);
      req.write(big.slice(0, 2000));
      req.end(big.slice(2000));
    });
    expect(chunked.status).toBe(413);
    expect(tlsUp.seen).toHaveLength(0);
    expect(plainUp.seen).toHaveLength(0);
    expect(audits.filter((e) => e.type === 'egress.dlp').map((e) => e.rule)).toEqual(['oversize', 'oversize']);
  });

  it('oversize pass: the first maxBodyBytes are scanned, the whole body is forwarded', async () => {
    const { agent } = await start({ maxBodyBytes: 1024, oversize: 'pass' });
    const a = agent();
    const big = 'y'.repeat(100_000);
    const r = await viaTunnel(a, `https://${ROUTE}/big`, { method: 'POST', body: big });
    expect(r.status).toBe(200);
    expect(tlsUp.seen.at(-1)!.body).toBe(big);
    // A secret in the scanned part is still a finding.
    const bad = await viaTunnel(a, `https://${ROUTE}/big`, { method: 'POST', body: `${AWS_KEY} ${big}` });
    expect(bad.status).toBe(403);
  });

  it('with DLP off, plain allowed hosts are tunnelled raw (the guest sees the real certificate)', async () => {
    const { proxy, audits } = await start({ dlp: false });
    const a = new TunnelAgent(proxy.port, upstreamAuthority.certPem);
    agents.push(a);
    const r = await viaTunnel(a, `https://localhost:${tlsUp.port}/raw?q=${AWS_KEY}`);
    expect(r.status).toBe(200);
    expect(proxy.stats()).toMatchObject({ tunnels: 1, intercepted: 0 });
    expect(audits).toEqual([{ type: 'egress.allow', host: 'localhost', method: 'CONNECT', status: 200 }]);
    // Route hosts are still intercepted and injected.
    const b = new TunnelAgent(proxy.port, authority.certPem);
    agents.push(b);
    expect((await viaTunnel(b, `https://${ROUTE}/x`)).status).toBe(200);
    expect(tlsUp.seen.at(-1)!.headers['x-api-key']).toBe(REAL);
  });
});

describe('interception', () => {
  it('keeps a tunnel alive for many requests, and reuses upstream connections', async () => {
    const { proxy, agent } = await start();
    const a = agent();
    const before = tlsUp.connections();
    for (let i = 0; i < 10; i++) {
      const r = await viaTunnel(a, `https://${ROUTE}/k/${i}`, { method: i % 2 ? 'POST' : 'GET', body: i % 2 ? `n=${i}` : undefined });
      expect(r.status).toBe(200);
      expect(json(r).url).toBe(`/k/${i}`);
    }
    expect(a.connects).toBe(1);
    expect(proxy.stats()).toMatchObject({ intercepted: 1, requests: 10 });
    expect(tlsUp.connections() - before).toBe(1);
  });

  it('closes a tunnel whose TLS SNI names another host', async () => {
    const { audits, agent } = await start();
    const a = agent('evil.test');
    await expect(viaTunnel(a, `https://${ROUTE}/x`)).rejects.toThrow();
    expect(tlsUp.seen).toHaveLength(0);
    expect(audits).toEqual([{ type: 'egress.deny', host: ROUTE, method: 'CONNECT', reason: 'TLS SNI does not match the CONNECT host', status: 403 }]);
  });

  it('answers 421 to a Host header that names another host than the CONNECT', async () => {
    const { agent } = await start();
    const r = await viaTunnel(agent(), `https://${ROUTE}/x`, { headers: { host: 'evil.test' } });
    expect(r.status).toBe(421);
    expect(tlsUp.seen).toHaveLength(0);
  });

  it('refuses a name that resolves to a forbidden address, while an explicit loopback upstream works', async () => {
    for (const dlp of [true, false]) {
      tlsUp.seen.length = 0;
      plainUp.seen.length = 0;
      const { proxy, audits, agent } = await start({ dlp, forbiddenAddress: (ip) => isForbiddenAddress(ip) });
      if (dlp) {
        // Intercepted: the refusal comes inside the tunnel, at dial time.
        const r = await viaTunnel(agent(), `https://localhost:${tlsUp.port}/x`);
        expect(r.status).toBe(403);
        expect(r.body).toContain('"localhost" is refused');
      } else {
        const r = await raw(proxy.port, `CONNECT localhost:${tlsUp.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect(r.text).toMatch(/^HTTP\/1.1 403/);
      }
      const p = await viaPlain(proxy.port, `http://localhost:${plainUp.port}/x`);
      expect(p.status).toBe(403);
      expect(audits.filter((e) => e.type === 'egress.deny').length).toBe(2);
      expect(audits[0]!.reason).toMatch(/forbidden address \(.*127\.0\.0\.1/);
      expect(tlsUp.seen).toHaveLength(0);
      expect(plainUp.seen).toHaveLength(0);
      // The route's explicit upstream is on loopback and still works.
      expect((await viaTunnel(agent(), `https://${ROUTE}/ok`)).status).toBe(200);
      expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
    }
  });

  it('refuses an allowed IP literal at a forbidden address before dialling', async () => {
    const { proxy } = await start({ policy: new Allowlist(['127.0.0.1']), forbiddenAddress: (ip) => isForbiddenAddress(ip) });
    const r = await raw(proxy.port, `CONNECT 127.0.0.1:${tlsUp.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1.1 403/);
    const p = await viaPlain(proxy.port, `http://127.0.0.1:${plainUp.port}/`);
    expect(p.status).toBe(403);
  });

  it('answers 502 with a clean message when the upstream is down', async () => {
    const dead = net.createServer();
    const port = await listen(dead);
    await new Promise<void>((r) => dead.close(() => r()));
    const { proxy, audits, agent } = await start({ routes: [...routes(), { host: 'down.test', upstream: `https://127.0.0.1:${port}`, inject: { header: 'x-api-key', value: `${REAL}-down`, placeholder: `${PLACEHOLDER}-down` } }] });
    const r = await viaTunnel(agent(), 'https://down.test/x');
    expect(r.status).toBe(502);
    expect(r.body).toBe('claude-bottle: could not reach "down.test": ECONNREFUSED\n');
    expect(audits).toEqual([{ type: 'egress.error', host: 'down.test', method: 'GET', path: '/x', reason: 'ECONNREFUSED', status: 502 }]);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('verifies upstream certificates: an untrusted upstream is a 502', async () => {
    const { audits, agent } = await start({ upstreamCa: undefined });
    const r = await viaTunnel(agent(), `https://${ROUTE}/x`);
    expect(r.status).toBe(502);
    expect(tlsUp.seen).toHaveLength(0);
    expect(audits[0]).toMatchObject({ type: 'egress.error', host: ROUTE, status: 502 });
    expect(audits[0]!.reason).toMatch(/^[A-Z_]+$/);
  });

  it('answers 502 to a malformed upstream response and 504 to one that never comes', async () => {
    const bad = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', (d) => {
        if (String(d).startsWith('GET /hang')) return;
        s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
      });
    });
    const port = await listen(bad);
    try {
      const { proxy, audits, agent } = await start({ routes: [{ host: 'bad.test', upstream: `http://127.0.0.1:${port}` }], timeouts: { idleMs: 400 } });
      const r = await viaPlain(proxy.port, 'http://bad.test/x');
      expect(r.status).toBe(502);
      expect(audits[0]).toMatchObject({ type: 'egress.error', reason: 'HPE_INVALID_TRANSFER_ENCODING', status: 502 });
      const h = await viaPlain(proxy.port, 'http://bad.test/hang');
      expect(h.status).toBe(504);
      expect(h.body).toContain('ETIMEDOUT');
      // Inside a tunnel too: the quiet client socket is not cut before the upstream's timeout answers.
      const t = await viaTunnel(agent(), 'https://bad.test/hang');
      expect(t.status).toBe(504);
    } finally {
      bad.close();
    }
  });

  it('destroys the upstream request when the client goes away', async () => {
    const { proxy, agent } = await start();
    const early = tlsUp.closedEarly();
    const a = agent();
    const req = https.request(`https://${ROUTE}/hang`, { agent: a });
    req.on('error', () => {});
    req.end();
    await vi_waitFor(() => tlsUp.seen.length === 1);
    req.destroy();
    await vi_waitFor(() => tlsUp.closedEarly() === early + 1);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('accepts a TLS ClientHello sent in the same packet as the CONNECT', async () => {
    const { proxy } = await start();
    const s = net.connect(proxy.port, '127.0.0.1');
    s.on('error', () => {});
    // A pipe that prefixes the first TLS bytes with the CONNECT and hides the 200 from the TLS client.
    let skip = 'HTTP/1.1 200 Connection Established\r\n\r\n'.length;
    let first = true;
    const pipe = new Duplex({
      write(chunk: Buffer, _enc, cb) {
        if (first) {
          first = false;
          s.write(Buffer.concat([Buffer.from(`CONNECT ${ROUTE}:443 HTTP/1.1\r\nHost: ${ROUTE}\r\n\r\n`), chunk]), cb);
        } else s.write(chunk, cb);
      },
      read() {},
    });
    s.on('data', (b: Buffer) => {
      const n = Math.min(skip, b.length);
      skip -= n;
      if (b.length > n) pipe.push(b.subarray(n));
    });
    const t = tls.connect({ socket: pipe, servername: ROUTE, ca: authority.certPem });
    t.on('error', () => {});
    let text = '';
    t.on('data', (d) => (text += d));
    await new Promise((r) => t.once('secureConnect', r));
    t.write(`GET /early HTTP/1.1\r\nHost: ${ROUTE}\r\n\r\n`);
    await vi_waitFor(() => text.includes('/early'));
    expect(text).toMatch(/^HTTP\/1.1 200/);
    t.destroy();
    s.destroy();
  });

  it('keeps an active tunnel open past idleMs (activity on the TLS layer counts)', { timeout: 10_000 }, async () => {
    const { proxy, agent } = await start({ timeouts: { idleMs: 2000 } });
    const a = agent();
    const t0 = Date.now();
    for (let i = 0; i < 9; i++) {
      expect((await viaTunnel(a, `https://${ROUTE}/tick/${i}`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(Date.now() - t0).toBeGreaterThan(2000);
    expect(a.connects).toBe(1);
    expect(proxy.stats().intercepted).toBe(1);
  });

  it('answers 500 and forwards nothing when the scanner throws', async () => {
    const { audits, agent } = await start({
      scanner: {
        scan: (d) => {
          if (String(d).includes('boom')) throw new Error('scanner bug');
          return undefined;
        },
      },
      scannerFor: undefined,
    });
    const r = await viaTunnel(agent(), `https://${ROUTE}/boom`);
    expect(r.status).toBe(500);
    expect(tlsUp.seen).toHaveLength(0);
    expect(audits.at(-1)).toMatchObject({ type: 'egress.error', status: 500 });
  });

  it('curl -x: many requests over one tunnel with keep-alive', async () => {
    const { proxy } = await start();
    const urls = [1, 2, 3].map((i) => `https://${ROUTE}/curl/${i}`);
    const r = await curl(['-x', `http://127.0.0.1:${proxy.port}`, '--cacert', caFile, '-w', '\n%{http_code}\n', ...urls]);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/^200$/gm)).toHaveLength(3);
    expect(proxy.stats().intercepted).toBe(1);
  });
});

async function vi_waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('abuse', () => {
  it('answers garbage CONNECT targets with 400 and keeps serving', async () => {
    const { proxy } = await start();
    for (const target of ['allowed.test', 'allowed.test:0', 'allowed.test:65536', 'user@allowed.test:443', '[::1:443', 'allowed.test:443/x', 'a..b:443', '%61llowed.test:443']) {
      const r = await raw(proxy.port, `CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1.1 400/);
    }
    const junk = await raw(proxy.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]));
    expect(junk.text).toMatch(/^HTTP\/1.1 400/);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('answers a huge header with 431', async () => {
    const { proxy } = await start();
    const r = await raw(proxy.port, `GET http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`);
    expect(r.text).toMatch(/^HTTP\/1.1 431/);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('refuses smuggling forms (CL+TE, two Content-Lengths, obs-fold, bad characters, odd TE)', async () => {
    const { proxy } = await start();
    const forms = [
      `POST http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
      `POST http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`,
      `GET http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n`,
      `GET http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n`,
      `POST http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
      `GET http://${PLAIN_ROUTE}/ HTTP/1.1\nHost: x\n\n`,
    ];
    for (const f of forms) {
      const r = await raw(proxy.port, f);
      expect(r.text, JSON.stringify(f)).toMatch(/^HTTP\/1.1 400/);
    }
    expect(plainUp.seen).toHaveLength(0);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('refuses smuggling inside an intercepted tunnel too', async () => {
    const { proxy } = await start();
    const s = net.connect(proxy.port, '127.0.0.1');
    s.write(`CONNECT ${ROUTE}:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => s.once('data', r));
    const t = tls.connect({ socket: s, servername: ROUTE, ca: authority.certPem });
    await new Promise((r) => t.once('secureConnect', r));
    let text = '';
    t.on('data', (d) => (text += d));
    t.write(`POST / HTTP/1.1\r\nHost: ${ROUTE}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    await new Promise((r) => t.on('close', r));
    expect(text).toMatch(/^HTTP\/1.1 400/);
    expect(tlsUp.seen).toHaveLength(0);
  });

  it('times out slow clients (plain, in CONNECT and inside a tunnel) and keeps serving', async () => {
    const { proxy } = await start({ timeouts: { headersMs: 300, requestMs: 600 } });
    const t0 = Date.now();
    const slow = await raw(proxy.port, `GET http://${PLAIN_ROUTE}/ HTTP/1.1\r\nHost: x\r\n`, 3000);
    expect(slow.closed).toBe(true);
    expect(slow.text).toMatch(/^HTTP\/1.1 408|^$/);
    expect(Date.now() - t0).toBeLessThan(2500);
    // A CONNECT that never starts TLS.
    const c = await raw(proxy.port, `CONNECT ${ROUTE}:443 HTTP/1.1\r\nHost: x\r\n\r\n`, 3000);
    expect(c.closed).toBe(true);
    // Inside a tunnel: TLS up, headers never finished.
    const s = net.connect(proxy.port, '127.0.0.1');
    s.write(`CONNECT ${ROUTE}:443 HTTP/1.1\r\nHost: x\r\n\r\n`);
    await new Promise((r) => s.once('data', r));
    const t = tls.connect({ socket: s, servername: ROUTE, ca: authority.certPem });
    t.on('error', () => {});
    await new Promise((r) => t.once('secureConnect', r));
    let text = '';
    t.on('data', (d) => (text += d));
    t.write(`GET / HTTP/1.1\r\nHost: ${ROUTE}\r\n`);
    const t1 = Date.now();
    await new Promise((r) => t.on('close', r));
    expect(Date.now() - t1).toBeLessThan(2500);
    expect(text).toMatch(/^HTTP\/1.1 408/);
    expect((await viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).status).toBe(200);
  });

  it('survives an audit sink that throws, and closes every socket on close()', async () => {
    const { proxy, agent } = await start({
      onAudit: () => {
        throw new Error('sink down');
      },
    });
    const a = agent();
    expect((await viaTunnel(a, `https://${ROUTE}/x`)).status).toBe(200);
    expect(proxy.stats().openSockets).toBeGreaterThan(0);
    await proxy.close();
    await proxy.close();
    expect(proxy.stats().openSockets).toBe(0);
    await expect(viaPlain(proxy.port, `http://${PLAIN_ROUTE}/ok`)).rejects.toThrow();
  });
});

// CONNECT: a raw TCP tunnel to the checked address when nothing needs to be
// seen, otherwise TLS terminated with a leaf from the bottle's CA and the
// requests inside handed to the proxy's inner HTTP server.
import dns from 'node:dns';
import type http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { canonicalHost } from '../../../lib/hosts.ts';
import { admitConnect, tunnelOnly } from './admission.ts';
import type { Origin, ProxyContext } from './context.ts';
import { denyConnect, errorCode, forbiddenText, rawReply } from './refusals.ts';
import type { Target } from './target.ts';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';
const noop = () => {};

/** A CONNECT on the proxy; `inner` is the never-listening server that parses intercepted tunnels' requests. */
export function onConnect(ctx: ProxyContext, inner: http.Server, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
  ctx.track(socket);
  socket.on('error', noop);
  const { settings } = ctx;
  const a = admitConnect(req.url ?? '', { allowed: ctx.allowed, routes: ctx.routes, hint: settings.hint }, settings.tlsPorts);
  if (a.verdict === 'bad') {
    ctx.stats.badRequests++;
    return rawReply(socket, 400, a.text);
  }
  const t = a.target;
  if (a.verdict === 'deny') return denyConnect(ctx, socket, t.host, a.reason, a.text);
  const o = ctx.origin(t.host, t.port, true);
  if (ctx.forbiddenLiteral(o)) return denyConnect(ctx, socket, t.host, 'forbidden address', forbiddenText(t.host));
  const f = ctx.hostFinding(t.host);
  if (f) {
    ctx.stats.dlp++;
    ctx.audit({ type: 'egress.dlp', host: t.host, method: 'CONNECT', rule: f.rule, reason: 'host name', status: 403 });
    return rawReply(socket, 403, `claude-bottle: CONNECT to "${t.host}" blocked by DLP: the host name looks like it carries a secret (rule ${f.rule})`);
  }
  if (tunnelOnly(a.route, settings)) {
    (socket as net.Socket).setTimeout(settings.idleMs, () => socket.destroy());
    openTunnel(ctx, socket, head, t).catch(() => socket.destroy());
    return;
  }
  intercept(ctx, inner, socket, head, o);
}

/** Resolves the host once, keeps the addresses `forbiddenAddress` accepts, and pipes to the first of them. */
async function openTunnel(ctx: ProxyContext, socket: Duplex, head: Buffer, t: Target): Promise<void> {
  const { stats, audit, settings } = ctx;
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
  const ok = addresses.filter((a) => !ctx.isForbidden(a.address));
  if (ok.length === 0) {
    stats.denied++;
    audit({ type: 'egress.deny', host: t.host, method: 'CONNECT', reason: `forbidden address (${addresses.map((a) => a.address).join(', ')})`, status: 403 });
    return rawReply(socket, 403, forbiddenText(t.host));
  }
  const target = ok[0]!;
  // The exact address checked above, never the name again.
  const upstream = net.connect({ host: target.address, port: t.port, family: target.family, noDelay: true });
  ctx.track(upstream);
  let connected = false;
  const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), settings.connectMs);
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
    upstream.setTimeout(settings.idleMs, () => upstream.destroy());
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

/**
 * Terminates the guest's TLS on the CONNECT socket with a leaf for the
 * CONNECT host; once the handshake is done (SNI naming that host, or none),
 * the socket is handed to `inner`, which parses its requests.
 */
function intercept(ctx: ProxyContext, inner: http.Server, socket: Duplex, head: Buffer, o: Origin): void {
  const { stats, audit } = ctx;
  let secureContext: tls.SecureContext;
  try {
    secureContext = ctx.opts.authority.secureContext(o.host);
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
  ctx.track(tlsSocket);
  // The inner server's headersTimeout starts only once it has the socket: the handshake has its own.
  const timer = setTimeout(() => tlsSocket.destroy(), ctx.settings.headersMs);
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
    ctx.tunnels.set(tlsSocket, o);
    inner.emit('connection', tlsSocket);
  });
}

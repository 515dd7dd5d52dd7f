// startProxy: builds one proxy's state, wires its two HTTP servers (the door
// and the inner one for intercepted tunnels) to the handlers, listens on the
// door, and closes it all.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { listenOnDoor } from '../../../core/doors.ts';
import { onConnect } from './connect.ts';
import { createContext, type ProxyContext } from './context.ts';
import type { EgressProxy, ProxyOptions } from './options.ts';
import { errorCode, rawReply } from './refusals.ts';
import { onPlainRequest, onTunnelRequest } from './requests.ts';

const noop = () => {};

/** Starts the proxy on its door's socket; resolves once it listens. Throws on a route it cannot honour. */
export async function startProxy(opts: ProxyOptions): Promise<EgressProxy> {
  const ctx = createContext(opts);
  const { headersMs, requestMs, idleMs, maxHeaderSize } = ctx.settings;

  const serverOptions: http.ServerOptions = {
    insecureHTTPParser: false,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    maxHeaderSize,
    headersTimeout: headersMs,
    requestTimeout: requestMs,
    keepAliveTimeout: Math.min(65_000, idleMs),
    // Node checks those timeouts on this interval: often enough that a slow client is cut near headersMs.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersMs / 4))),
    noDelay: true,
  };
  const clientError = (err: Error, socket: Duplex) => onClientError(ctx, err, socket);

  const server = http.createServer(serverOptions);
  server.timeout = idleMs;
  server.on('request', (req, res) => {
    try {
      onPlainRequest(ctx, req, res);
    } catch {
      res.destroy();
    }
  });
  server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      onConnect(ctx, inner, req, socket, head);
    } catch {
      socket.destroy();
    }
  });
  server.on('clientError', clientError);
  server.on('connection', (s: net.Socket) => ctx.track(s));

  // The tunnels' requests: a server that never listens, fed TLS sockets.
  const inner = http.createServer(serverOptions);
  inner.timeout = idleMs;
  inner.on('request', (req, res) => {
    try {
      onTunnelRequest(ctx, req, res);
    } catch {
      res.destroy();
    }
  });
  inner.on('connect', (_req: http.IncomingMessage, socket: Duplex) => socket.destroy());
  inner.on('clientError', clientError);
  // Node tracks connections for headersTimeout/requestTimeout only once a server
  // is 'listening'; this one never listens, so start the tracking by hand
  // (the slow-client tests fail if Node ever changes this).
  inner.emit('listening');

  await listenOnDoor(server, opts.socketPath);
  server.on('error', noop);

  let closing: Promise<void> | undefined;
  return {
    socketPath: opts.socketPath,
    stats: () => ({ openSockets: ctx.live.size, ...ctx.stats, bodyBytesLeased: ctx.budget.used, bodiesWaiting: ctx.budget.waiting }),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        inner.close(noop);
        inner.closeAllConnections();
        for (const s of ctx.live) s.destroy();
        ctx.live.clear();
        for (const a of Object.values(ctx.agents)) a.destroy();
      });
      return closing;
    },
  };
}

/** A request Node's parser refused (or a client that timed out): answered on the raw socket, unless there is nothing to answer. */
function onClientError(ctx: ProxyContext, err: Error, socket: Duplex): void {
  try {
    const code = errorCode(err);
    if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
      socket.destroy();
      return;
    }
    // An answer already under way cannot be followed by an error page.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    ctx.stats.badRequests++;
    if (code === 'HPE_HEADER_OVERFLOW') rawReply(socket, 431, 'claude-bottle: request headers too large');
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') rawReply(socket, 408, 'claude-bottle: request timed out');
    else rawReply(socket, 400, `claude-bottle: bad request (${code})`);
  } catch {
    socket.destroy();
  }
}

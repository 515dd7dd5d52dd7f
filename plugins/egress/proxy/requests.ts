// Where requests enter the pipeline: absolute-form requests to the proxy
// (plain HTTP) and requests inside an intercepted tunnel, each checked for
// its target before forward() takes over.
import type http from 'node:http';
import { admitPlain } from './admission.ts';
import type { ProxyContext } from './context.ts';
import { forward } from './forward.ts';
import { hostMatches } from './headers.ts';
import { badRequest, deny, ECHO_METHODS, internalError, refuseDlp, refuseMethod, reply } from './refusals.ts';
import { pathOnly, tunnelPath } from './target.ts';

const noop = () => {};

/** A request to the proxy itself: `GET http://host/path`. */
export function onPlainRequest(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.on('error', noop);
  const method = req.method ?? 'GET';
  const a = admitPlain(req.url ?? '', { allowed: ctx.allowed, routes: ctx.routes, hint: ctx.settings.hint }, ctx.settings.httpPorts);
  if (a.verdict === 'bad') return badRequest(ctx, req, res, a.text);
  const t = a.target;
  if (a.verdict === 'deny') return deny(ctx, req, res, t.host, method, t.path, a.reason, a.text);
  if (ECHO_METHODS.has(method.toUpperCase())) return refuseMethod(ctx, req, res, t.host, t.path);
  const o = ctx.origin(t.host, t.port, false);
  const f = ctx.hostFinding(t.host);
  if (f) return refuseDlp(ctx, req, res, o, t.path, f);
  forward(ctx, req, res, o, t.path).catch((err) => internalError(ctx, req, res, t.host, t.path, err));
}

/** A request inside an intercepted tunnel: it must stay on the CONNECT's host, in its target and its Host header. */
export function onTunnelRequest(ctx: ProxyContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  res.on('error', noop);
  const o = ctx.tunnels.get(req.socket);
  if (!o) {
    res.destroy();
    return;
  }
  const path = tunnelPath(req.url ?? '', o);
  if (path === undefined) return badRequest(ctx, req, res, `claude-bottle: bad request target inside the tunnel to "${o.host}"`);
  if (!hostMatches(req.headers.host, o)) {
    ctx.stats.denied++;
    ctx.audit({ type: 'egress.deny', host: o.host, method: req.method, path: pathOnly(path), reason: 'Host header does not match the CONNECT host', status: 421 });
    return reply(req, res, 421, `claude-bottle: this tunnel goes to "${o.host}"; its requests must name that host in Host`);
  }
  if (ECHO_METHODS.has((req.method ?? '').toUpperCase())) return refuseMethod(ctx, req, res, o.host, path);
  forward(ctx, req, res, o, path).catch((err) => internalError(ctx, req, res, o.host, path, err));
}

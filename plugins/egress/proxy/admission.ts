// Which requests and CONNECTs the proxy takes on, judged by their target
// alone (allowlist, ports, routes), and which CONNECTs need interception.
// Checks that need an address or a scanner come after, in the handlers.
import type { Route } from '../types.ts';
import type { Settings } from './options.ts';
import { notAllowedText } from './refusals.ts';
import { type AbsoluteTarget, parseAbsolute, parseAuthority, type Target } from './target.ts';

/** What admission asks of the proxy. */
export interface AdmissionPolicy {
  allowed(host: string): boolean;
  routes: ReadonlyMap<string, Route>;
  /** Where a refused host can be allowed, for the refusal's text. */
  hint: string;
}

export type Admission<T> =
  /** Malformed: 400, not audited. */
  | { verdict: 'bad'; text: string }
  /** Refused by policy: 403, audited with `reason`. */
  | { verdict: 'deny'; target: T; reason: string; text: string }
  | { verdict: 'admit'; target: T; route: Route | undefined };

/**
 * A plain-HTTP proxy request (absolute-form `http://`): an allowed host, on
 * one of `httpPorts` unless it is a route host (whose traffic goes where the
 * route says), and never to a route that injects a credential without an
 * upstream (the credential would cross the network in clear text).
 */
export function admitPlain(url: string, policy: AdmissionPolicy, httpPorts: ReadonlySet<number>): Admission<AbsoluteTarget> {
  if (url.startsWith('/') || url === '*') {
    return { verdict: 'bad', text: 'claude-bottle: this is the egress proxy; send proxy requests (absolute URLs) or CONNECT, e.g. with HTTP_PROXY/HTTPS_PROXY set' };
  }
  const t = parseAbsolute(url);
  if (!t) return { verdict: 'bad', text: 'claude-bottle: bad request target; expected http://host[:port]/path' };
  if (t.scheme === 'https') return { verdict: 'bad', text: 'claude-bottle: https:// URLs go through CONNECT (set HTTPS_PROXY), not as plain proxy requests' };
  const deny = (reason: string, text: string) => ({ verdict: 'deny' as const, target: t, reason, text });
  if (!policy.allowed(t.host)) return deny('not allowed', notAllowedText(t.host, policy.hint));
  const route = policy.routes.get(t.host);
  if (!route && !httpPorts.has(t.port)) {
    return deny(`port ${t.port}`, `claude-bottle: egress to "${t.host}" on port ${t.port} is not allowed; plain HTTP goes to port ${[...httpPorts].join(', ')} only`);
  }
  if (route?.inject && !route.upstream) {
    return deny('plain http to a route', `claude-bottle: "${t.host}" gets a credential; use https://${t.host}/ instead of http://`);
  }
  return { verdict: 'admit', target: t, route };
}

/** A CONNECT's authority: an allowed host, on one of `tlsPorts` unless it is a route host. */
export function admitConnect(authority: string, policy: AdmissionPolicy, tlsPorts: ReadonlySet<number>): Admission<Target> {
  const t = parseAuthority(authority);
  if (!t) return { verdict: 'bad', text: 'claude-bottle: bad CONNECT target; expected host:port' };
  const deny = (reason: string, text: string) => ({ verdict: 'deny' as const, target: t, reason, text });
  if (!policy.allowed(t.host)) return deny('not allowed', notAllowedText(t.host, policy.hint));
  const route = policy.routes.get(t.host);
  if (!route && !tlsPorts.has(t.port)) {
    return deny(`port ${t.port}`, `claude-bottle: egress to "${t.host}" on port ${t.port} is not allowed; CONNECT goes to port ${[...tlsPorts].join(', ')} only`);
  }
  return { verdict: 'admit', target: t, route };
}

/**
 * Whether an admitted CONNECT is a raw tunnel rather than intercepted: only
 * when nothing needs to be seen (no route, DLP off) and interception is not
 * forced. The guest then sees the real server's certificate.
 */
export function tunnelOnly(route: Route | undefined, settings: Pick<Settings, 'dlpOn' | 'interceptAll'>): boolean {
  return !route && !settings.dlpOn && !settings.interceptAll;
}

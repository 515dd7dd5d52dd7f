// Which plain-HTTP requests and CONNECTs the proxy takes on by their target,
// and which CONNECTs are raw tunnels rather than intercepted.
import { describe, expect, it } from 'vitest';
import { type AdmissionPolicy, admitConnect, admitPlain, tunnelOnly } from '../../../../../plugins/egress/proxy/admission.ts';
import type { Route } from '../../../../../plugins/egress/types.ts';
import { API } from './fixtures.ts';

const UPSTREAM: Route = { host: 'up.example.com', upstream: 'http://127.0.0.1:9' };
const INJECT_UP: Route = { ...API, host: 'inject-up.example.com', upstream: 'http://127.0.0.1:9' };
const routes = new Map([API, UPSTREAM, INJECT_UP].map((r) => [r.host, r]));
const policy: AdmissionPolicy = {
  allowed: (host) => host === 'allowed.example.com' || routes.has(host),
  routes,
  hint: 'bottles.demo.egress.allow in bottle.config.ts',
};

describe('admitPlain: absolute-form http:// requests', () => {
  const httpPorts = new Set([80, 8000]);
  it.each([
    { url: '/index.html', text: 'this is the egress proxy' },
    { url: '*', text: 'this is the egress proxy' },
    { url: 'ftp://allowed.example.com/', text: 'bad request target' },
    { url: 'http://user@allowed.example.com/', text: 'bad request target' },
    { url: 'http://allowed.example.com/#top', text: 'bad request target' },
    { url: 'https://allowed.example.com/', text: 'go through CONNECT' },
  ])('$url is a bad request', ({ url, text }) => {
    const a = admitPlain(url, policy, httpPorts);
    expect(a.verdict).toBe('bad');
    expect(a.verdict === 'bad' && a.text).toContain(text);
  });

  it.each([
    { url: 'http://blocked.example.com/x?q=1', reason: 'not allowed', text: 'add it to bottles.demo.egress.allow in bottle.config.ts', path: '/x?q=1' },
    { url: 'http://allowed.example.com:8080/', reason: 'port 8080', text: 'plain HTTP goes to port 80, 8000 only', path: '/' },
    { url: 'http://api.example.com/v1', reason: 'plain http to a route', text: 'use https://api.example.com/', path: '/v1' },
    { url: 'http://api.example.com:8080/v1', reason: 'plain http to a route', text: 'use https://api.example.com/', path: '/v1' },
  ])('$url is refused: $reason', ({ url, reason, text, path }) => {
    const a = admitPlain(url, policy, httpPorts);
    expect(a.verdict).toBe('deny');
    if (a.verdict !== 'deny') return;
    expect(a.reason).toBe(reason);
    expect(a.text).toContain(text);
    expect(a.target.path).toBe(path);
  });

  it.each([
    { url: 'http://allowed.example.com', host: 'allowed.example.com', port: 80, path: '/', route: undefined },
    { url: 'HTTP://Allowed.Example.COM:8000?q', host: 'allowed.example.com', port: 8000, path: '/?q', route: undefined },
    { url: 'http://up.example.com:1234/a', host: 'up.example.com', port: 1234, path: '/a', route: UPSTREAM },
    { url: 'http://inject-up.example.com/a', host: 'inject-up.example.com', port: 80, path: '/a', route: INJECT_UP },
  ])('$url is taken on', ({ url, host, port, path, route }) => {
    expect(admitPlain(url, policy, httpPorts)).toEqual({ verdict: 'admit', target: { scheme: 'http', host, port, path }, route });
  });
});

describe('admitConnect: CONNECT authorities', () => {
  const tlsPorts = new Set([443]);
  it.each(['allowed.example.com', 'allowed.example.com:', 'allowed.example.com:0', 'user@allowed.example.com:443', '::1:443', ''])('%j is a bad request', (authority) => {
    expect(admitConnect(authority, policy, tlsPorts).verdict).toBe('bad');
  });

  it.each([
    { authority: 'blocked.example.com:443', reason: 'not allowed', text: 'is not allowed; add it to' },
    { authority: 'allowed.example.com:22', reason: 'port 22', text: 'CONNECT goes to port 443 only' },
  ])('$authority is refused: $reason', ({ authority, reason, text }) => {
    const a = admitConnect(authority, policy, tlsPorts);
    expect(a.verdict === 'deny' && a.reason).toBe(reason);
    expect(a.verdict === 'deny' && a.text).toContain(text);
  });

  it.each([
    { authority: 'allowed.example.com:443', host: 'allowed.example.com', port: 443, route: undefined },
    { authority: 'ALLOWED.example.com.:443', host: 'allowed.example.com', port: 443, route: undefined },
    { authority: 'api.example.com:8443', host: 'api.example.com', port: 8443, route: API },
  ])('$authority is taken on', ({ authority, host, port, route }) => {
    expect(admitConnect(authority, policy, tlsPorts)).toEqual({ verdict: 'admit', target: { host, port }, route });
  });
});

describe('tunnelOnly: a CONNECT is a raw tunnel only when nothing must be seen', () => {
  it.each([
    { route: undefined, dlpOn: false, interceptAll: false, tunnel: true },
    { route: undefined, dlpOn: true, interceptAll: false, tunnel: false },
    { route: undefined, dlpOn: false, interceptAll: true, tunnel: false },
    { route: UPSTREAM, dlpOn: false, interceptAll: false, tunnel: false },
    { route: API, dlpOn: false, interceptAll: false, tunnel: false },
  ])('route $route.host, DLP $dlpOn, interceptAll $interceptAll: tunnel $tunnel', ({ route, dlpOn, interceptAll, tunnel }) => {
    expect(tunnelOnly(route, { dlpOn, interceptAll })).toBe(tunnel);
  });
});

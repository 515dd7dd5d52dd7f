// One proxy's policy questions, asked without a listener: which hosts are
// allowed, which scanner applies, where a host is dialled, and what is
// checked before dialling. Two proxies share nothing.
import { afterEach, describe, expect, it } from 'vitest';
import { Allowlist, isForbiddenAddress } from '../../../../../lib/hosts.ts';
import { createContext, type ProxyContext } from '../../../../../plugins/egress/proxy/context.ts';
import type { ProxyOptions } from '../../../../../plugins/egress/proxy/options.ts';
import type { DlpScanner, HostPolicy, Route } from '../../../../../plugins/egress/types.ts';
import { API, fakeScanner } from './fixtures.ts';

const UPSTREAM: Route = { ...API, host: 'up.example.com', upstream: 'http://127.0.0.1:9/base' };
const made: ProxyContext[] = [];
afterEach(() => {
  for (const c of made.splice(0)) for (const a of Object.values(c.agents)) a.destroy();
});

function context(opts: Partial<ProxyOptions> = {}): ProxyContext {
  const c = createContext({
    socketPath: '/unused',
    policy: new Allowlist(['allowed.example.com', '*.cdn.example.com']),
    routes: [API, UPSTREAM],
    authority: { certPem: '', fingerprint256: '', secureContext: () => { throw new Error('not in these tests'); } },
    maxBodyBytes: 1000,
    oversize: 'block',
    onAudit: () => {},
    forbiddenAddress: isForbiddenAddress,
    ...opts,
  });
  made.push(c);
  return c;
}

describe('allowed', () => {
  const throwing: HostPolicy = { allows: () => { throw new Error('broken'); }, add: () => {}, patterns: () => [] };
  it.each([
    { host: 'allowed.example.com', policy: undefined, ok: true },
    { host: 'x.cdn.example.com', policy: undefined, ok: true },
    { host: 'other.example.com', policy: undefined, ok: false },
    { host: API.host, policy: undefined, ok: true },
    { host: API.host, policy: throwing, ok: true },
    { host: 'allowed.example.com', policy: throwing, ok: false },
  ])('$host: $ok (policy throws: $policy.allows)', ({ host, policy, ok }) => {
    expect(context(policy ? { policy } : {}).allowed(host)).toBe(ok);
  });
});

describe('scannerFor and hostFinding', () => {
  const routeScanner: DlpScanner = { scan: () => undefined };
  it.each([
    { what: 'DLP off scans nothing', opts: {}, host: 'allowed.example.com', want: undefined },
    { what: 'a plain host gets the scanner', opts: { scanner: fakeScanner, scannerFor: () => routeScanner }, host: 'allowed.example.com', want: fakeScanner },
    { what: 'a route host gets its own', opts: { scanner: fakeScanner, scannerFor: () => routeScanner }, host: API.host, want: routeScanner },
    { what: 'a route host without scannerFor gets the scanner', opts: { scanner: fakeScanner }, host: API.host, want: fakeScanner },
  ])('$what', ({ opts, host, want }) => {
    expect(context(opts).scannerFor(host)).toBe(want);
  });

  it('asks scannerFor once per route host', () => {
    const asked: string[] = [];
    const c = context({ scanner: fakeScanner, scannerFor: (h) => (asked.push(h), routeScanner) });
    c.scannerFor(API.host);
    c.scannerFor(API.host);
    c.scannerFor(UPSTREAM.host);
    expect(asked).toEqual([API.host, UPSTREAM.host]);
  });

  const leakScanner: DlpScanner = { scan: (d, where) => (String(d).includes('leak') ? { rule: 'leak', where, layer: 'raw' } : undefined) };
  it.each([
    { host: 'x.cdn.example.com', scanner: leakScanner, rule: undefined },
    { host: 'leak.cdn.example.com', scanner: leakScanner, rule: 'leak' },
    { host: `${API.inject!.placeholder}.cdn.example.com`, scanner: fakeScanner, rule: 'route-placeholder' },
    { host: `${API.inject!.placeholder}.cdn.example.com`, scanner: undefined, rule: undefined },
  ])('a host name $host: finding $rule', ({ host, scanner, rule }) => {
    expect(context(scanner ? { scanner } : {}).hostFinding(host)?.rule).toBe(rule);
  });
});

describe('origin and forbiddenLiteral', () => {
  it.each([
    { host: 'allowed.example.com', port: 443, secure: true, hostname: 'allowed.example.com', prefix: '', guarded: true, masked: false },
    { host: API.host, port: 443, secure: true, hostname: API.host, prefix: '', guarded: true, masked: true },
    { host: UPSTREAM.host, port: 443, secure: true, hostname: '127.0.0.1', prefix: '/base', guarded: false, masked: true },
  ])('$host is dialled at $hostname (guarded $guarded)', ({ host, port, secure, hostname, prefix, guarded, masked }) => {
    const o = context().origin(host, port, secure);
    expect(o.dest).toMatchObject({ hostname, prefix, guarded });
    expect(o.secrets !== undefined).toBe(masked);
  });

  it.each([
    { host: '127.0.0.1', forbidden: true },
    { host: '10.1.2.3', forbidden: true },
    { host: '::1', forbidden: true },
    { host: '93.184.215.14', forbidden: false },
    { host: 'localhost', forbidden: false }, // a name is checked in the socket's lookup, not here
    { host: UPSTREAM.host, forbidden: false }, // an explicit upstream may be on loopback
  ])('$host: refused before dialling $forbidden', ({ host, forbidden }) => {
    const c = context();
    expect(c.forbiddenLiteral(c.origin(host, 443, true))).toBe(forbidden);
  });
});

it('keeps two proxies apart', () => {
  const a = context({ scanner: fakeScanner, scannerFor: () => ({ scan: () => undefined }) });
  const b = context({ scanner: fakeScanner, scannerFor: () => ({ scan: () => undefined }) });
  a.stats.requests++;
  a.tunnels.set(a, a.origin(API.host, 443, true));
  expect(b.stats.requests).toBe(0);
  expect(b.tunnels.has(a)).toBe(false);
  expect(a.scannerFor(API.host)).not.toBe(b.scannerFor(API.host));
  expect(a.agents.guardedHttps).not.toBe(b.agents.guardedHttps);
});

// Where the proxy dials: destinations for named hosts and route upstreams,
// and the lookup that never hands a socket a forbidden address.
import http from 'node:http';
import https from 'node:https';
import { afterAll, describe, expect, it } from 'vitest';
import { type Dest, ForbiddenAddressError, forbiddenCheck, guardedLookup, namedDest, upstreamDest } from '../../../../../plugins/egress/proxy/dial.ts';

const agents = {
  guardedHttp: new http.Agent(),
  guardedHttps: new https.Agent(),
  upstreamHttp: new http.Agent(),
  upstreamHttps: new https.Agent(),
};
afterAll(() => {
  for (const a of Object.values(agents)) a.destroy();
});
const which = (d: Dest) => Object.entries(agents).find(([, a]) => a === d.agent)?.[0];

describe('upstreamDest: a route’s explicit upstream', () => {
  it.each([
    {
      upstream: 'https://gateway.internal/base/',
      want: { secure: true, hostname: 'gateway.internal', port: 443, hostHeader: 'gateway.internal', servername: 'gateway.internal', prefix: '/base', guarded: false },
      agent: 'upstreamHttps',
    },
    {
      upstream: 'http://127.0.0.1:8080',
      want: { secure: false, hostname: '127.0.0.1', port: 8080, hostHeader: '127.0.0.1:8080', servername: undefined, prefix: '', guarded: false },
      agent: 'upstreamHttp',
    },
    {
      upstream: 'https://[::1]:8443/v1//',
      want: { secure: true, hostname: '::1', port: 8443, hostHeader: '[::1]:8443', servername: undefined, prefix: '/v1', guarded: false },
      agent: 'upstreamHttps',
    },
  ])('$upstream', ({ upstream, want, agent }) => {
    const d = upstreamDest({ host: 'api.example.com', upstream }, agents);
    expect(d).toMatchObject(want);
    expect(which(d)).toBe(agent);
  });

  it.each([
    { upstream: 'not a url', error: 'upstream is not a URL' },
    { upstream: 'ftp://gateway.internal/', error: 'upstream must be http:// or https://' },
    { upstream: 'https://user:pw@gateway.internal/', error: 'upstream must not carry credentials' },
    { upstream: 'https://gateway.internal/?k=v', error: 'upstream must not have a query or fragment' },
    { upstream: 'https://gateway.internal/#f', error: 'upstream must not have a query or fragment' },
  ])('refuses $upstream', ({ upstream, error }) => {
    expect(() => upstreamDest({ host: 'api.example.com', upstream }, agents)).toThrow(`egress route "api.example.com": ${error}`);
  });
});

describe('namedDest: a host the guest named', () => {
  it.each([
    { host: 'a.example.com', port: 443, secure: true, hostHeader: 'a.example.com', servername: 'a.example.com', agent: 'guardedHttps' },
    { host: 'a.example.com', port: 8443, secure: true, hostHeader: 'a.example.com:8443', servername: 'a.example.com', agent: 'guardedHttps' },
    { host: 'a.example.com', port: 80, secure: false, hostHeader: 'a.example.com', servername: undefined, agent: 'guardedHttp' },
    { host: '2001:db8::1', port: 443, secure: true, hostHeader: '[2001:db8::1]', servername: undefined, agent: 'guardedHttps' },
    { host: '192.0.2.1', port: 8080, secure: false, hostHeader: '192.0.2.1:8080', servername: undefined, agent: 'guardedHttp' },
  ])('$host:$port (secure $secure)', ({ host, port, secure, hostHeader, servername, agent }) => {
    const d = namedDest(host, port, secure, agents);
    expect(d).toMatchObject({ hostname: host, port, secure, hostHeader, servername, prefix: '', guarded: true });
    expect(which(d)).toBe(agent);
  });
});

describe('forbiddenCheck: fails closed', () => {
  it.each([
    { what: 'false allows', check: () => false, forbidden: false },
    { what: 'true forbids', check: () => true, forbidden: true },
    { what: 'a throw forbids', check: (): boolean => { throw new Error('x'); }, forbidden: true },
    { what: 'a non-boolean forbids', check: () => undefined as unknown as boolean, forbidden: true },
  ])('$what', ({ check, forbidden }) => {
    expect(forbiddenCheck(check)('192.0.2.1')).toBe(forbidden);
  });
});

describe('guardedLookup', () => {
  const lookup = (forbid: (ip: string) => boolean, all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
      guardedLookup(forbid)('127.0.0.1', { all, family: 0 }, (err, address) => resolve({ err, address }));
    });

  it.each([
    { all: false, address: '127.0.0.1' },
    { all: true, address: [{ address: '127.0.0.1', family: 4 }] },
  ])('hands on an allowed address (all: $all)', async ({ all, address }) => {
    expect(await lookup(() => false, all)).toEqual({ err: null, address });
  });

  it.each([false, true])('refuses a forbidden address with EBOTTLEFORBIDDEN (all: %s)', async (all) => {
    const { err } = await lookup((ip) => ip === '127.0.0.1', all);
    expect(err).toBeInstanceOf(ForbiddenAddressError);
    expect(err).toMatchObject({ code: 'EBOTTLEFORBIDDEN', message: '127.0.0.1' });
  });
});

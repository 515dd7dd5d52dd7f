// The settings a proxy derives from its options, and the routes it refuses
// to start with (naming the route, never its token).
import { describe, expect, it } from 'vitest';
import { type ProxyOptions, routeTable, settingsOf } from '../../../../../plugins/egress/proxy/options.ts';
import type { Route } from '../../../../../plugins/egress/types.ts';
import { API, GIT } from './fixtures.ts';

const base = { maxBodyBytes: 1000, oversize: 'block' } as ProxyOptions;

describe('settingsOf', () => {
  it.each([
    { what: 'defaults', opts: {}, want: { headersMs: 10_000, requestMs: 300_000, idleMs: 600_000, connectMs: 10_000, maxHeaderSize: 16 * 1024 } },
    { what: 'a request gets at least the headers’ time', opts: { timeouts: { headersMs: 5000, requestMs: 1000 } }, want: { headersMs: 5000, requestMs: 5000 } },
    { what: 'given timeouts win', opts: { timeouts: { idleMs: 1, connectMs: 2 }, maxHeaderBytes: 3 }, want: { idleMs: 1, connectMs: 2, maxHeaderSize: 3 } },
    { what: 'a negative body limit scans nothing', opts: { maxBodyBytes: -5 }, want: { maxBody: 0 } },
    { what: 'DLP is on with a scanner', opts: { scanner: { scan: () => undefined } }, want: { dlpOn: true } },
    { what: 'DLP is off without', opts: {}, want: { dlpOn: false, interceptAll: false } },
    { what: 'the hint names the bottle', opts: { bottle: 'web' }, want: { hint: 'bottles.web.egress.allow in bottle.config.ts' } },
    { what: 'the hint without a bottle', opts: {}, want: { hint: 'bottles.<name>.egress.allow in bottle.config.ts' } },
  ])('$what', ({ opts, want }) => {
    expect(settingsOf({ ...base, ...opts } as ProxyOptions)).toMatchObject(want);
  });

  it.each([
    { opts: {}, tls: [443], http: [80] },
    { opts: { tlsPorts: [443, 8443], httpPorts: [] }, tls: [443, 8443], http: [] },
  ])('ports $opts', ({ opts, tls, http }) => {
    const s = settingsOf({ ...base, ...opts } as ProxyOptions);
    expect([[...s.tlsPorts], [...s.httpPorts]]).toEqual([tls, http]);
  });
});

describe('routeTable', () => {
  it('keys the routes by host', () => {
    expect([...routeTable([API, GIT]).keys()]).toEqual([API.host, GIT.host]);
  });

  const inject = API.inject!;
  it.each([
    { what: 'a host that is not canonical', route: { host: 'API.example.com' }, error: 'the host must be canonical' },
    { what: 'a host with a port', route: { host: 'api.example.com:443' }, error: 'the host must be canonical' },
    { what: 'a header name with a space', route: { ...API, inject: { ...inject, header: 'x api key' } }, error: 'inject.header is not a header name' },
    { what: 'an empty value', route: { ...API, inject: { ...inject, value: '' } }, error: 'the injected value is empty' },
    { what: 'a value with a line break', route: { ...API, inject: { ...inject, value: `${inject.value}\r\nx: y` } }, error: 'characters a header cannot carry' },
    { what: 'a short placeholder', route: { ...API, inject: { ...inject, placeholder: 'short' } }, error: 'at least 8 characters' },
    { what: 'a placeholder equal to the value', route: { ...API, inject: { ...inject, placeholder: inject.value } }, error: 'must differ from the real value' },
  ])('refuses $what, naming the route but never the token', ({ route, error }) => {
    let message = '';
    try {
      routeTable([route as Route]);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain(error);
    expect(message).toContain(JSON.stringify(route.host));
    expect(message).not.toContain(inject.value);
  });

  it('refuses two routes for one host', () => {
    expect(() => routeTable([API, { host: API.host }])).toThrow('two routes for one host');
  });
});

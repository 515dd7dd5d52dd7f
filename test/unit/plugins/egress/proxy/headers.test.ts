// Which of the guest's headers reach the upstream, which of the upstream's
// reach the guest, and whether a tunnel's Host header names its CONNECT.
import { describe, expect, it } from 'vitest';
import { RouteCredentials } from '../../../../../plugins/egress/proxy/credentials.ts';
import {
  headerScan,
  hostMatches,
  requestHead,
  responseHead,
  upstreamHeaders,
  withoutContentLength,
} from '../../../../../plugins/egress/proxy/headers.ts';
import { secretsOf } from '../../../../../plugins/egress/proxy/mask.ts';
import { API, fakeScanner, GIT } from './fixtures.ts';

const credentials = new RouteCredentials([API, GIT]);
const names = (pairs: readonly string[]) => pairs.filter((_, i) => i % 2 === 0);
const lookup = (pairs: readonly string[], name: string) => {
  const out: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.toLowerCase() === name) out.push(pairs[i + 1]!);
  return out;
};

describe('requestHead: what of the guest request goes upstream', () => {
  it.each([
    {
      what: 'hop-by-hop headers are dropped, the rest kept as written',
      raw: ['Host', 'a.example', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'keep-alive', 'TE', 'trailers', 'Trailer', 'X-T', 'Upgrade', 'h2c', 'Expect', '100-continue', 'HTTP2-Settings', 'AAA', 'Accept', '*/*', 'User-Agent', 'curl/8'],
      kept: ['Accept', 'User-Agent'],
    },
    { what: "a guest's proxy credentials never go upstream", raw: ['Proxy-Authorization', 'Basic Z3Vlc3Q=', 'Accept', '*/*'], kept: ['Accept'] },
    { what: 'headers named by Connection are dropped too, in any case', raw: ['Connection', 'close, X-Trace', 'x-trace', '1', 'X-Other', '2'], kept: ['X-Other'] },
    { what: 'Connection: close or keep-alive alone drops nothing else', raw: ['Connection', 'close', 'Close', 'x', 'Accept', '*/*'], kept: ['Close', 'Accept'] },
    { what: "the guest's Authorization goes to a host that is not a route", raw: ['Authorization', 'Bearer mine', 'X-Api-Key', 'k'], kept: ['Authorization', 'X-Api-Key'] },
    { what: 'framing is taken out, to be set by the proxy', raw: ['Content-Length', '5', 'Content-Type', 'text/plain'], kept: ['Content-Type'] },
  ])('$what', ({ raw, kept }) => {
    const head = requestHead(raw, undefined, undefined);
    expect(head.bad).toBeUndefined();
    expect(names(head.headers)).toEqual(kept);
  });

  it.each([
    { what: 'the route header', route: API, raw: ['X-Api-Key', API.inject!.placeholder, 'Accept', '*/*'] },
    { what: 'Authorization to a route injecting another header', route: API, raw: ['Authorization', 'Bearer guest', 'Accept', '*/*'] },
    { what: 'x-api-key to a route injecting Authorization', route: GIT, raw: ['x-api-key', 'guest', 'Accept', '*/*'] },
    { what: 'Accept-Encoding (answers must come uncompressed to be masked)', route: API, raw: ['Accept-Encoding', 'gzip, br', 'Accept', '*/*'] },
  ])('to an injecting route, drops the guest’s $what', ({ route, raw }) => {
    expect(names(requestHead(raw, route.inject, undefined).headers)).toEqual(['Accept']);
  });

  it.each([
    { what: 'two Host headers', raw: ['Host', 'a.example', 'host', 'b.example'], bad: 'more than one Host header' },
    { what: 'a coded Transfer-Encoding', raw: ['Transfer-Encoding', 'gzip, chunked'], bad: 'unsupported Transfer-Encoding' },
    { what: 'an unknown Transfer-Encoding', raw: ['Transfer-Encoding', 'identity'], bad: 'unsupported Transfer-Encoding' },
  ])('calls $what a bad request', ({ raw, bad }) => {
    expect(requestHead(raw, undefined, undefined).bad).toBe(bad);
  });

  it.each([
    { raw: ['Content-Length', '12'], contentLength: '12', chunked: false },
    { raw: ['Transfer-Encoding', ' Chunked '], contentLength: undefined, chunked: true },
    { raw: ['Accept', '*/*'], contentLength: undefined, chunked: false },
  ])('reads the framing of $raw', ({ raw, contentLength, chunked }) => {
    const head = requestHead(raw, undefined, undefined);
    expect({ contentLength: head.contentLength, chunked: head.chunked }).toEqual({ contentLength, chunked });
  });

  it.each([
    { what: 'a secret in a forwarded value', raw: ['X-Note', 'my SECRET'], rule: 'fake-secret' },
    { what: 'a secret in a long header name', raw: ['X-Some-Long-SECRET', '1'], rule: 'fake-secret' },
    { what: "another route's placeholder", raw: ['X-Note', GIT.inject!.placeholder], rule: 'route-placeholder' },
    { what: "another route's real token, without its scheme word", raw: ['X-Note', 'real-git-token-9876543210'], rule: 'route-credential' },
  ])('with DLP on, finds $what', ({ raw, rule }) => {
    const head = requestHead(['Accept', '*/*', ...raw], API.inject, headerScan(fakeScanner, credentials, API.host));
    expect(head.finding).toEqual({ rule, where: 'header', layer: 'raw' });
  });

  it.each([
    { what: 'a short header name (too short to hold a secret)', raw: ['X-SECRET', '1'] },
    { what: "the route's own placeholder in its own header", raw: ['X-Api-Key', API.inject!.placeholder] },
    { what: "the route's own placeholder elsewhere", raw: ['X-Note', API.inject!.placeholder] },
    { what: 'a secret in a hop-by-hop header, which is never forwarded', raw: ['Proxy-Authorization', 'SECRET'] },
  ])('with DLP on, passes $what', ({ raw }) => {
    const head = requestHead(raw, API.inject, headerScan(fakeScanner, credentials, API.host));
    expect(head.finding).toBeUndefined();
  });
});

describe('upstreamHeaders: the headers the upstream receives', () => {
  const base = { hostHeader: 'api.example.com', inject: undefined, method: 'POST', body: undefined, rest: false };
  it.each([
    { what: 'a body read whole gets its real length', raw: ['Transfer-Encoding', 'chunked'], out: { body: Buffer.from('hello'), rest: false }, framing: [['content-length', '5']] },
    { what: 'a body streamed on keeps the guest’s length', raw: ['Content-Length', '99'], out: { body: Buffer.from('x'), rest: true }, framing: [['content-length', '99']] },
    { what: 'an unscanned chunked body stays chunked', raw: ['Transfer-Encoding', 'chunked'], out: { rest: true }, framing: [['transfer-encoding', 'chunked']] },
    { what: 'a POST without a body says so', raw: [], out: {}, framing: [['content-length', '0']] },
    { what: 'a GET without a body gets no framing', raw: [], out: { method: 'GET' }, framing: [] },
    { what: 'a HEAD without a body gets no framing', raw: [], out: { method: 'HEAD' }, framing: [] },
  ])('$what', ({ raw, out, framing }) => {
    const headers = upstreamHeaders(requestHead(raw, undefined, undefined), { ...base, ...out });
    const got = [['content-length', lookup(headers, 'content-length')], ['transfer-encoding', lookup(headers, 'transfer-encoding')]]
      .filter(([, v]) => v!.length > 0)
      .map(([k, v]) => [k, ...v!]);
    expect(got).toEqual(framing);
  });

  it.each([
    { what: 'its own Host, never the guest’s', hostHeader: 'gateway.internal:8443', raw: ['Host', 'api.example.com'] },
    { what: 'a Host even when the guest sent none', hostHeader: 'api.example.com', raw: [] },
  ])('sets $what', ({ hostHeader, raw }) => {
    const headers = upstreamHeaders(requestHead(raw, undefined, undefined), { ...base, hostHeader });
    expect(lookup(headers, 'host')).toEqual([hostHeader]);
  });

  it.each([
    { route: API, guest: ['X-Api-Key', API.inject!.placeholder, 'Authorization', 'Bearer guest'] },
    { route: GIT, guest: ['Authorization', `Bearer ${GIT.inject!.placeholder}`, 'authorization', 'Basic Z3Vlc3Q='] },
  ])('replaces the guest’s credentials to $route.host by the route’s, once', ({ route, guest }) => {
    const inject = route.inject!;
    const head = requestHead([...guest, 'Accept-Encoding', 'gzip', 'Accept', '*/*'], inject, undefined);
    const headers = upstreamHeaders(head, { ...base, hostHeader: route.host, inject, method: 'GET' });
    expect(lookup(headers, inject.header)).toEqual([inject.value]);
    expect(lookup(headers, 'accept-encoding')).toEqual(['identity']);
    expect(headers.join('\n')).not.toContain(inject.placeholder);
    expect(headers.join('\n')).not.toContain('guest');
  });
});

describe('responseHead: what of the upstream answer reaches the guest', () => {
  const apiSecrets = secretsOf(API.inject!.value);
  const gitSecrets = secretsOf(GIT.inject!.value);

  it.each([
    {
      what: 'hop-by-hop headers and Transfer-Encoding are dropped',
      raw: ['Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Content-Type', 'text/plain'],
      secrets: undefined,
      headers: ['Content-Type', 'text/plain'],
      encoding: undefined,
    },
    {
      what: 'without secrets, Content-Encoding and values pass untouched',
      raw: ['Content-Encoding', 'gzip', 'X-Echo', API.inject!.value],
      secrets: undefined,
      headers: ['Content-Encoding', 'gzip', 'X-Echo', API.inject!.value],
      encoding: undefined,
    },
    {
      what: 'an echoed real token is masked, same length',
      raw: ['X-Echo', `key=${API.inject!.value};`],
      secrets: apiSecrets,
      headers: ['X-Echo', `key=${'*'.repeat(API.inject!.value.length)};`],
      encoding: undefined,
    },
    {
      what: 'the token of a `Bearer` value is masked on its own too',
      raw: ['X-Echo', 'tok real-git-token-9876543210'],
      secrets: gitSecrets,
      headers: ['X-Echo', `tok ${'*'.repeat('real-git-token-9876543210'.length)}`],
      encoding: undefined,
    },
    {
      what: 'Content-Encoding is taken out and reported, since the body is decoded to be masked',
      raw: ['Content-Encoding', ' GZIP ', 'Content-Length', '20'],
      secrets: apiSecrets,
      headers: ['Content-Length', '20'],
      encoding: 'gzip',
    },
    {
      what: 'two Content-Encoding lines are one list (the decoder then refuses it), never the last alone',
      raw: ['Content-Encoding', 'gzip', 'Content-Encoding', 'br'],
      secrets: apiSecrets,
      headers: [],
      encoding: 'gzip, br',
    },
    {
      what: 'a real token in a header name is masked too',
      raw: [`x-${API.inject!.value}`, '1'],
      secrets: apiSecrets,
      headers: [`x-${'*'.repeat(API.inject!.value.length)}`, '1'],
      encoding: undefined,
    },
    {
      what: 'Content-Encoding: identity needs no decoding',
      raw: ['Content-Encoding', 'identity'],
      secrets: apiSecrets,
      headers: [],
      encoding: undefined,
    },
  ])('$what', ({ raw, secrets, headers, encoding }) => {
    expect(responseHead(raw, secrets)).toEqual({ headers, encoding });
  });

  it('drops Content-Length (any case) for a body whose length changes', () => {
    expect(withoutContentLength(['content-length', '5', 'X-A', '1', 'Content-Length', '5'])).toEqual(['X-A', '1']);
  });
});

describe('hostMatches: a tunnel’s requests name its CONNECT host', () => {
  const tunnel = { host: 'api.example.com', port: 443 };
  it.each([
    { host: undefined, port: 443, ok: true },
    { host: 'api.example.com', port: 443, ok: true },
    { host: 'API.Example.COM.', port: 443, ok: true },
    { host: 'api.example.com:443', port: 443, ok: true },
    { host: 'api.example.com:8443', port: 443, ok: false },
    { host: 'api.example.com', port: 8443, ok: false },
    { host: 'api.example.com:8443', port: 8443, ok: true },
    { host: 'other.example.com', port: 443, ok: false },
    { host: 'user@api.example.com', port: 443, ok: false },
    { host: '', port: 443, ok: false },
  ])('Host $host in a tunnel to port $port: $ok', ({ host, port, ok }) => {
    expect(hostMatches(host, { ...tunnel, port })).toBe(ok);
  });
});

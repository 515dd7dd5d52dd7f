// The supervise server's HTTP front without a listener: which requests are
// turned away, with which status, before any MCP session sees them.
import { describe, expect, it } from 'vitest';
import { allowedHostNames, routeSession, screen } from '../../../../plugins/supervise/http.ts';

const hostNames = allowedHostNames(['Bottle.Internal']);
const ok = { host: '127.0.0.1:8767' };

describe('screen: path, Host, Origin, method', () => {
  it.each([
    { why: 'the guest loopback', method: 'POST', url: '/mcp', headers: ok },
    { why: 'localhost', method: 'POST', url: '/mcp', headers: { host: 'localhost' } },
    { why: 'a Host in capitals', method: 'POST', url: '/mcp', headers: { host: 'LOCALHOST:8767' } },
    { why: 'a configured name, case-insensitively', method: 'POST', url: '/mcp', headers: { host: 'bottle.internal:80' } },
    { why: 'a query string', method: 'POST', url: '/mcp?x=1', headers: ok },
    { why: 'GET (the SSE stream of a session)', method: 'GET', url: '/mcp', headers: ok },
    { why: 'DELETE (ending a session)', method: 'DELETE', url: '/mcp', headers: ok },
  ])('lets through $why', ({ method, url, headers }) => {
    expect(screen({ method, url, headers }, hostNames)).toBeUndefined();
  });

  it.each([
    { why: 'another path', method: 'POST', url: '/other', headers: ok, status: 404, message: /the MCP endpoint is \/mcp/ },
    { why: 'a trailing slash', method: 'POST', url: '/mcp/', headers: ok, status: 404, message: /endpoint/ },
    { why: 'the root', method: 'GET', url: '/', headers: ok, status: 404, message: /endpoint/ },
    { why: 'another path, before the Host is looked at', method: 'POST', url: '/x', headers: { host: 'evil.example' }, status: 404, message: /endpoint/ },
    { why: 'no Host header', method: 'POST', url: '/mcp', headers: {}, status: 403, message: /unexpected Host/ },
    { why: 'a foreign Host', method: 'POST', url: '/mcp', headers: { host: 'evil.example' }, status: 403, message: /unexpected Host/ },
    { why: 'a foreign Host with our port (DNS rebinding)', method: 'POST', url: '/mcp', headers: { host: 'attacker.example:8767' }, status: 403, message: /unexpected Host/ },
    { why: 'a name that only starts like ours', method: 'POST', url: '/mcp', headers: { host: '127.0.0.1.evil.example' }, status: 403, message: /unexpected Host/ },
    { why: 'IPv6 loopback (not a name clients use)', method: 'POST', url: '/mcp', headers: { host: '[::1]:8767' }, status: 403, message: /unexpected Host/ },
    { why: 'a Host with an empty port', method: 'POST', url: '/mcp', headers: { host: '127.0.0.1:' }, status: 403, message: /unexpected Host/ },
    { why: 'a Host with two ports', method: 'POST', url: '/mcp', headers: { host: '127.0.0.1:8767:1' }, status: 403, message: /unexpected Host/ },
    { why: 'a browser (Origin header)', method: 'POST', url: '/mcp', headers: { ...ok, origin: 'http://evil.example' }, status: 403, message: /browser requests/ },
    { why: 'a browser even from our own origin', method: 'POST', url: '/mcp', headers: { ...ok, origin: 'http://127.0.0.1:8767' }, status: 403, message: /browser requests/ },
    { why: 'an opaque Origin', method: 'GET', url: '/mcp', headers: { ...ok, origin: 'null' }, status: 403, message: /browser requests/ },
    { why: 'a browser with another method, before the method is looked at', method: 'PUT', url: '/mcp', headers: { ...ok, origin: 'null' }, status: 403, message: /browser requests/ },
    { why: 'PUT', method: 'PUT', url: '/mcp', headers: ok, status: 405, message: /method not allowed/ },
    { why: 'HEAD', method: 'HEAD', url: '/mcp', headers: ok, status: 405, message: /method not allowed/ },
    { why: 'OPTIONS (no CORS preflight)', method: 'OPTIONS', url: '/mcp', headers: ok, status: 405, message: /method not allowed/ },
  ])('refuses $why with $status', ({ method, url, headers, status, message }) => {
    const r = screen({ method, url, headers }, hostNames);
    expect(r?.status).toBe(status);
    expect(r?.message).toMatch(message);
  });

  it('names the methods it allows on a 405', () => {
    expect(screen({ method: 'PATCH', url: '/mcp', headers: ok }, hostNames)?.headers).toEqual({ allow: 'GET, POST, DELETE' });
  });

  it('accepts only the loopback names unless more are configured', () => {
    expect(screen({ method: 'POST', url: '/mcp', headers: { host: 'bottle.internal' } }, allowedHostNames())?.status).toBe(403);
  });
});

describe('routeSession', () => {
  const live = new Map([['abc', 'session abc']]);
  const lookup = (id: string) => live.get(id);

  it.each([
    { method: 'POST', sid: 'abc', closing: false },
    { method: 'GET', sid: 'abc', closing: false },
    { method: 'DELETE', sid: 'abc', closing: false },
    { method: 'POST', sid: 'abc', closing: true },
  ])('$method with a live session ID goes to that session (closing: $closing)', ({ method, sid, closing }) => {
    expect(routeSession(method, sid, lookup, closing)).toEqual({ kind: 'existing', session: 'session abc' });
  });

  it('a POST without a session ID starts a new session', () => {
    expect(routeSession('POST', undefined, lookup, false)).toEqual({ kind: 'new' });
  });

  it.each([
    { why: 'an unknown session ID (the client re-initialises)', method: 'POST', sid: 'gone', closing: false, status: 404, message: 'session not found' },
    { why: 'an unknown session ID on GET', method: 'GET', sid: 'gone', closing: false, status: 404, message: 'session not found' },
    { why: 'a GET without a session', method: 'GET', sid: undefined, closing: false, status: 400, message: 'bad request: no Mcp-Session-Id header' },
    { why: 'a DELETE without a session', method: 'DELETE', sid: undefined, closing: false, status: 400, message: 'bad request: no Mcp-Session-Id header' },
    { why: 'a GET without a session while closing', method: 'GET', sid: undefined, closing: true, status: 400, message: 'bad request: no Mcp-Session-Id header' },
    { why: 'a new session while closing', method: 'POST', sid: undefined, closing: true, status: 503, message: 'shutting down' },
  ])('refuses $why with $status', ({ method, sid, closing, status, message }) => {
    expect(routeSession(method, sid, lookup, closing)).toEqual({ kind: 'refuse', refusal: { status, message } });
  });
});

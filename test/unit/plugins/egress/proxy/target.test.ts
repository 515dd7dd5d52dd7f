// The path of a request inside an intercepted tunnel: it may not leave the
// CONNECT's host. (parseAuthority and parseAbsolute are tested in proxy.test.ts.)
import { describe, expect, it } from 'vitest';
import { tunnelPath } from '../../../../../plugins/egress/proxy/target.ts';

describe('tunnelPath', () => {
  const tunnel = { host: 'api.example.com', port: 443 };
  it.each([
    { url: '/v1/messages?x=1', path: '/v1/messages?x=1' },
    { url: 'https://api.example.com/v1', path: '/v1' },
    { url: 'https://API.example.com:443?q', path: '/?q' },
    { url: 'http://api.example.com/v1', path: undefined },
    { url: 'https://other.example.com/v1', path: undefined },
    { url: 'https://api.example.com:8443/v1', path: undefined },
    { url: 'https://user@api.example.com/v1', path: undefined },
    { url: '*', path: undefined },
    { url: '', path: undefined },
  ])('$url → $path', ({ url, path }) => {
    expect(tunnelPath(url, tunnel)).toBe(path);
  });
});

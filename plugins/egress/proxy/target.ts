// Where a guest request wants to go: the authority of a CONNECT, the target of
// an absolute-form request, the Host header inside a tunnel. The guest writes
// every byte of these, so anything unusual is refused (undefined), and what
// comes out is always the canonical host (hosts.ts), never the raw input.
import { isIP } from 'node:net';
import { canonicalHost } from '../../../lib/hosts.ts';

export interface Target {
  /** Canonical host: lower-case name, dotted-quad IPv4, or IPv6 without brackets. */
  host: string;
  port: number;
}

export interface AbsoluteTarget extends Target {
  scheme: 'http' | 'https';
  /** Path and query, always starting with `/`. */
  path: string;
}

const PORT = /^[0-9]{1,5}$/;

/**
 * `host:port` (or `[v6]:port`) as in a CONNECT request or a Host header.
 * Without a port, `defaultPort` is used, or the authority is refused when
 * there is none. Userinfo, paths, empty or out-of-range ports are refused.
 */
export function parseAuthority(authority: string, defaultPort?: number): Target | undefined {
  if (authority.length === 0 || authority.length > 1100) return undefined;
  // No userinfo, no path, no percent-encoding or backslash tricks; canonicalHost refuses the rest.
  if (/[@/\\?#%\s]/.test(authority)) return undefined;
  let hostPart: string;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return undefined;
    hostPart = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portPart = rest.slice(1);
    }
  } else {
    const colon = authority.indexOf(':');
    if (colon < 0) hostPart = authority;
    else {
      // A second colon means an unbracketed IPv6 address: ambiguous with a port, refused.
      if (authority.indexOf(':', colon + 1) >= 0) return undefined;
      hostPart = authority.slice(0, colon);
      portPart = authority.slice(colon + 1);
    }
  }
  let port: number;
  if (portPart === undefined) {
    if (defaultPort === undefined) return undefined;
    port = defaultPort;
  } else {
    if (!PORT.test(portPart)) return undefined;
    port = Number(portPart);
    if (port < 1 || port > 65535) return undefined;
  }
  const host = canonicalHost(hostPart);
  if (host === undefined) return undefined;
  return { host, port };
}

/**
 * An absolute-form request target, `http://host[:port]/path?query` (or
 * `https://`). Fragments, userinfo and anything parseAuthority refuses are
 * refused.
 */
export function parseAbsolute(url: string): AbsoluteTarget | undefined {
  let scheme: 'http' | 'https';
  let rest: string;
  const lower = url.slice(0, 8).toLowerCase();
  if (lower.startsWith('http://')) {
    scheme = 'http';
    rest = url.slice(7);
  } else if (lower.startsWith('https://')) {
    scheme = 'https';
    rest = url.slice(8);
  } else return undefined;
  if (url.includes('#')) return undefined;
  let end = rest.length;
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) {
      end = i;
      break;
    }
  }
  const target = parseAuthority(rest.slice(0, end), scheme === 'http' ? 80 : 443);
  if (!target) return undefined;
  let path = rest.slice(end);
  if (path === '') path = '/';
  else if (path.startsWith('?')) path = `/${path}`;
  return { scheme, host: target.host, port: target.port, path };
}

/** The Host header for `host:port`, without the port when it is the scheme's default. */
export function hostHeader(host: string, port: number, defaultPort: number): string {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}

/** The path without its query (queries can carry secrets; audit records never do). */
export function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

/**
 * The path of a request inside a tunnel to `tunnel`: origin-form as it is,
 * absolute-form only as `https://` to the tunnel's own host and port (a
 * tunnel cannot be used to reach another host); undefined when refused.
 */
export function tunnelPath(url: string, tunnel: Target): string | undefined {
  if (url.startsWith('/')) return url;
  const t = parseAbsolute(url);
  if (!t || t.scheme !== 'https' || t.host !== tunnel.host || t.port !== tunnel.port) return undefined;
  return t.path;
}

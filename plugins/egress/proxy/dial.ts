// How the proxy reaches upstreams: keep-alive agents whose DNS lookup refuses
// forbidden addresses, and the destination (Dest) a request is dialled at.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { Route } from '../types.ts';
import { hostHeader } from './target.ts';

/** Where a guest request goes once the proxy decided to forward it. */
export interface Dest {
  secure: boolean;
  hostname: string;
  port: number;
  hostHeader: string;
  /** SNI, undefined for IP literals. */
  servername: string | undefined;
  /** A route upstream's path, prepended to every request path. */
  prefix: string;
  /** Reached by name or IP literal the guest gave: dialled only at addresses `forbiddenAddress` accepts. */
  guarded: boolean;
  agent: http.Agent;
}

/**
 * The upstream agents of one proxy. The guarded ones dial hosts the guest
 * named; the upstream ones serve only routes' explicit `upstream` (which may
 * be on loopback), so a pooled socket to such an upstream can never carry a
 * request for a host reached by name.
 */
export interface Agents {
  guardedHttp: http.Agent;
  guardedHttps: https.Agent;
  upstreamHttp: http.Agent;
  upstreamHttps: https.Agent;
}

/** Every address of a host was forbidden; the message lists them (addresses, never names the guest could abuse). */
export class ForbiddenAddressError extends Error {
  readonly code = 'EBOTTLEFORBIDDEN';
}

/** `forbiddenAddress`, failing closed: a check that throws (or answers anything but false) forbids. */
export function forbiddenCheck(forbiddenAddress: (ip: string) => boolean): (ip: string) => boolean {
  return (ip) => {
    try {
      return forbiddenAddress(ip) !== false;
    } catch {
      return true;
    }
  };
}

/**
 * A socket `lookup` that drops forbidden addresses: it runs inside the
 * socket's own connect, so the address checked is the address dialled (no
 * second resolution a DNS rebinding could answer differently).
 */
export function guardedLookup(isForbidden: (ip: string) => boolean): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { family: options.family ?? 0, hints: options.hints ?? 0, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const ok = addresses.filter((a) => !isForbidden(a.address));
      if (ok.length === 0) {
        return callback(new ForbiddenAddressError(addresses.map((a) => a.address).join(', ') || 'no address'), '', 0);
      }
      if (options.all) return callback(null, ok);
      return callback(null, ok[0]!.address, ok[0]!.family);
    });
  };
}

export function createAgents(idleMs: number, isForbidden: (ip: string) => boolean, upstreamCa: string | Buffer | undefined): Agents {
  const secureContext = upstreamCa ? tls.createSecureContext({ ca: [...tls.rootCertificates, String(upstreamCa)] }) : undefined;
  const lookup = guardedLookup(isForbidden);
  const base = { keepAlive: true, keepAliveMsecs: 1000, maxFreeSockets: 256, scheduling: 'lifo' as const, timeout: idleMs };
  const tlsBase = { ...(secureContext ? { secureContext } : {}), ALPNProtocols: ['http/1.1'], rejectUnauthorized: true };
  return {
    guardedHttp: new http.Agent({ ...base, lookup }),
    guardedHttps: new https.Agent({ ...base, ...tlsBase, lookup }),
    upstreamHttp: new http.Agent(base),
    upstreamHttps: new https.Agent({ ...base, ...tlsBase }),
  };
}

/** A host the guest named, dialled as it named it (through the guarded agents). */
export function namedDest(host: string, port: number, secure: boolean, agents: Agents): Dest {
  return {
    secure,
    hostname: host,
    port,
    hostHeader: hostHeader(host, port, secure ? 443 : 80),
    servername: secure && net.isIP(host) === 0 ? host : undefined,
    prefix: '',
    guarded: true,
    agent: secure ? agents.guardedHttps : agents.guardedHttp,
  };
}

/**
 * The upstream URL of a route, as a Dest; throws with the route named (never
 * its token). The upstream gets its own Host and SNI; its path is a prefix of
 * every request path.
 */
export function upstreamDest(route: Route, agents: Pick<Agents, 'upstreamHttp' | 'upstreamHttps'>): Dest {
  let u: URL;
  try {
    u = new URL(route.upstream!);
  } catch {
    throw new Error(`egress route ${JSON.stringify(route.host)}: upstream is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must be http:// or https://`);
  if (u.username || u.password) throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must not carry credentials`);
  if (u.search || u.hash) throw new Error(`egress route ${JSON.stringify(route.host)}: upstream must not have a query or fragment`);
  const secure = u.protocol === 'https:';
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    secure,
    hostname,
    port: u.port ? Number(u.port) : secure ? 443 : 80,
    hostHeader: u.host,
    servername: secure && net.isIP(hostname) === 0 ? hostname : undefined,
    prefix: u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, ''),
    guarded: false,
    agent: secure ? agents.upstreamHttps : agents.upstreamHttp,
  };
}

// One proxy's state and its policy questions (is this host allowed, which
// scanner, where does it go), built once by startProxy and handed to every
// handler: nothing lives at module level, so two proxies never meet.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { safeSink } from '../../../core/doors.ts';
import type { DlpFinding, DlpScanner, EgressAudit, Route } from '../types.ts';
import { Budget } from './budget.ts';
import { RouteCredentials } from './credentials.ts';
import { type Agents, createAgents, type Dest, forbiddenCheck, namedDest, upstreamDest } from './dial.ts';
import { secretsOf, type Secret } from './mask.ts';
import { type ProxyOptions, type ProxyStats, routeTable, type Settings, settingsOf } from './options.ts';

/** A host and port the guest named, with what applies to it. */
export interface Origin {
  host: string;
  port: number;
  route: Route | undefined;
  dest: Dest;
  /** Secrets to mask in responses (route hosts with injection). */
  secrets: Secret[] | undefined;
}

export type Counters = Omit<ProxyStats, 'openSockets' | 'bodyBytesLeased' | 'bodiesWaiting'>;

export interface ProxyContext {
  readonly opts: ProxyOptions;
  readonly settings: Settings;
  readonly stats: Counters;
  /** `opts.onAudit`, made unable to throw. */
  readonly audit: (e: EgressAudit) => void;
  readonly routes: ReadonlyMap<string, Route>;
  readonly credentials: RouteCredentials;
  readonly agents: Agents;
  /** The bytes request bodies may hold in the proxy, all connections together. */
  readonly budget: Budget;
  /** Client and tunnel sockets open now: counted by stats, destroyed by close. */
  readonly live: Set<Duplex>;
  /** Intercepted TLS sockets and the CONNECT they belong to. */
  readonly tunnels: WeakMap<object, Origin>;
  track(s: Duplex): void;
  /** `forbiddenAddress`, failing closed. */
  isForbidden(ip: string): boolean;
  /** Route hosts, then the allowlist (one that throws allows nothing). */
  allowed(host: string): boolean;
  /** The scanner for requests to `host`, undefined with DLP off. */
  scannerFor(host: string): DlpScanner | undefined;
  /** A secret spelled in the host name itself (a wildcard allows any label). */
  hostFinding(host: string): DlpFinding | undefined;
  origin(host: string, port: number, secure: boolean): Origin;
  /** An IP literal is dialled without a lookup, so it is checked here, before anything is sent. */
  forbiddenLiteral(o: Origin): boolean;
}

/** Validates the options (throws on a bad route) and builds the proxy's state. */
export function createContext(opts: ProxyOptions): ProxyContext {
  const settings = settingsOf(opts);
  const routes = routeTable(opts.routes);
  const credentials = new RouteCredentials(opts.routes);
  const isForbidden = forbiddenCheck((ip) => opts.forbiddenAddress(ip));
  const agents = createAgents(settings.idleMs, isForbidden, opts.upstreamCa);
  const routeDests = new Map<string, Dest>();
  for (const r of opts.routes) if (r.upstream) routeDests.set(r.host, upstreamDest(r, agents));
  const routeSecrets = new Map<string, Secret[]>();
  for (const r of opts.routes) if (r.inject) routeSecrets.set(r.host, secretsOf(r.inject.value));

  const live = new Set<Duplex>();
  const scanners = new Map<string, DlpScanner>();
  const scannerFor = (host: string): DlpScanner | undefined => {
    if (!opts.scanner) return undefined;
    if (!opts.scannerFor || !routes.has(host)) return opts.scanner;
    let s = scanners.get(host);
    if (!s) {
      s = opts.scannerFor(host);
      scanners.set(host, s);
    }
    return s;
  };

  return {
    opts,
    settings,
    stats: { requests: 0, denied: 0, dlp: 0, errors: 0, badRequests: 0, tunnels: 0, intercepted: 0 },
    audit: safeSink<EgressAudit>((e) => opts.onAudit(e)),
    routes,
    credentials,
    agents,
    budget: new Budget(settings.memory.budget),
    live,
    tunnels: new WeakMap<object, Origin>(),
    track(s) {
      live.add(s);
      s.once('close', () => live.delete(s));
    },
    isForbidden,
    allowed(host) {
      if (routes.has(host)) return true;
      try {
        return opts.policy.allows(host);
      } catch {
        return false;
      }
    },
    scannerFor,
    hostFinding(host) {
      const scanner = scannerFor(host);
      if (!scanner) return undefined;
      const f = scanner.scan(host, 'url');
      if (f) return f;
      const rule = credentials.inText(host, host);
      return rule ? { rule, where: 'url', layer: 'raw' } : undefined;
    },
    origin(host, port, secure) {
      const dest = routeDests.get(host) ?? namedDest(host, port, secure, agents);
      return { host, port, route: routes.get(host), dest, secrets: routeSecrets.get(host) };
    },
    forbiddenLiteral: (o) => o.dest.guarded && net.isIP(o.host) !== 0 && isForbidden(o.host),
  };
}

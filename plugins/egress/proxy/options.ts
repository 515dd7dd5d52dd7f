// What a caller gives the egress proxy (ProxyOptions) and gets back
// (EgressProxy), and the settings the proxy derives from those options once.
import { canonicalHost } from '../../../lib/hosts.ts';
import type { Authority, DlpScanner, EgressAudit, HostPolicy, Route } from '../types.ts';

export interface ProxyTimeouts {
  /** Time for a client to send a request's headers (and for a TLS handshake); default 10 s. */
  headersMs?: number;
  /** Time for a client to send a whole request; default 300 s. */
  requestMs?: number;
  /** A socket (client or upstream) with no traffic for this long is closed; default 600 s (LLM answers are slow). */
  idleMs?: number;
  /** Time to connect to an upstream; default 10 s. */
  connectMs?: number;
}

export interface ProxyOptions {
  /** The door's Unix socket: the proxy never listens on TCP. */
  socketPath: string;
  /** The allowlist. Route hosts are allowed as well. */
  policy: HostPolicy;
  /** Routes by canonical host: always intercepted; optional credential injection and upstream. */
  routes: Route[];
  /** Signs the leaf certificates of intercepted hosts. */
  authority: Authority;
  /** DLP scanner; undefined turns DLP off (and lets plain allowed hosts be tunnelled). */
  scanner?: DlpScanner;
  /** The scanner for a route host (its `allowed` holds that route's real token); default `scanner`. */
  scannerFor?: (host: string) => DlpScanner;
  /** Request bodies are scanned up to this many bytes. */
  maxBodyBytes: number;
  /** A body larger than maxBodyBytes: `block` (413) or `pass` (the rest goes unscanned). */
  oversize: 'block' | 'pass';
  /** Every decision; must not throw (if it does, the error is swallowed). */
  onAudit(e: EgressAudit): void;
  /** True for an address a host reached by name must not be dialled at. */
  forbiddenAddress(ip: string): boolean;
  timeouts?: ProxyTimeouts;
  /** Ports a CONNECT to a non-route host may use; default [443]. */
  tlsPorts?: readonly number[];
  /** Ports a plain-HTTP request to a non-route host may use; default [80]. */
  httpPorts?: readonly number[];
  /** Intercept CONNECTs even when nothing needs to be seen (DLP off, no route); default false. */
  interceptAll?: boolean;
  /** Largest request head a client may send (Node's maxHeaderSize; 431 beyond); default 16 KiB. */
  maxHeaderBytes?: number;
  /** The bottle's name, for the "how to allow it" hint of a refusal. */
  bottle?: string;
  /** The config file's name as the user knows it, for the same hint (default `bottle.config.ts`). */
  configName?: string;
  /** An extra CA trusted for upstream TLS, on top of the system roots. For tests. */
  upstreamCa?: string | Buffer;
  /** The memory bounds of body scanning; defaults below (MEMORY_DEFAULTS). For tests and the bench. */
  memory?: Partial<MemoryLimits>;
}

/**
 * How much of the guest's request bodies the proxy holds at once. A body up
 * to `wholeBody` bytes (identity-encoded) is read whole and judged as one
 * piece (redaction with its JSON check included); a larger or compressed one
 * is scanned as it streams, in windows of `window` fresh bytes plus the
 * `overlap` before them, which is held back (not yet forwarded) until the
 * next window has seen it. `budget` caps the bytes held for all requests
 * together; a request that would go over it waits (its guest is not read) up
 * to `waitMs`, then gets 503.
 */
export interface MemoryLimits {
  wholeBody: number;
  window: number;
  overlap: number;
  budget: number;
  waitMs: number;
}

/**
 * The overlap must be longer than any credential the rules can match, with
 * the decoding layers around it: the longest rule reaches 10.2 KB past its
 * anchor (a PEM private key) plus 4 KiB of window edge; two nested layers
 * (base64 of hex of base64...) and UTF-16/32 multiply that by up to ~8: some
 * 115 KB. A quarter of a MiB leaves room for more layers.
 */
export const MEMORY_DEFAULTS: Readonly<MemoryLimits> = {
  wholeBody: 4 * 1024 * 1024,
  window: 1024 * 1024,
  overlap: 256 * 1024,
  budget: 64 * 1024 * 1024,
  waitMs: 30_000,
};

export interface ProxyStats {
  /** Client sockets open now (plain, CONNECT and intercepted TLS). */
  openSockets: number;
  /** Requests forwarded upstream. */
  requests: number;
  /** Requests and CONNECTs refused by policy (host, port, address, SNI, Host header). */
  denied: number;
  /** Requests refused by DLP (including oversize bodies). */
  dlp: number;
  /** Upstream failures answered 502/504. */
  errors: number;
  /** Malformed requests answered 400/408/431. */
  badRequests: number;
  /** Raw tunnels opened. */
  tunnels: number;
  /** TLS interceptions completed. */
  intercepted: number;
  /** Bytes of the memory budget that request bodies being scanned hold now. */
  bodyBytesLeased: number;
  /** Requests waiting for the memory budget. */
  bodiesWaiting: number;
}

export interface EgressProxy {
  socketPath: string;
  /** Stops listening and closes every socket; idempotent. */
  close(): Promise<void>;
  stats(): ProxyStats;
}

/** The options with their defaults applied, read by every part of the proxy. */
export interface Settings {
  headersMs: number;
  /** Never shorter than `headersMs`: a request cannot have less time than its headers. */
  requestMs: number;
  idleMs: number;
  connectMs: number;
  maxHeaderSize: number;
  tlsPorts: ReadonlySet<number>;
  httpPorts: ReadonlySet<number>;
  /** Bytes of a request body scanned (and buffered); never negative. */
  maxBody: number;
  oversize: 'block' | 'pass';
  dlpOn: boolean;
  interceptAll: boolean;
  memory: MemoryLimits;
  /** Where a refused host can be allowed, for the refusal's text. */
  hint: string;
  /** The config file as the user knows it, for refusals' texts. */
  configName: string;
}

export function settingsOf(opts: ProxyOptions): Settings {
  const headersMs = opts.timeouts?.headersMs ?? 10_000;
  return {
    headersMs,
    requestMs: Math.max(opts.timeouts?.requestMs ?? 300_000, headersMs),
    idleMs: opts.timeouts?.idleMs ?? 600_000,
    connectMs: opts.timeouts?.connectMs ?? 10_000,
    maxHeaderSize: opts.maxHeaderBytes ?? 16 * 1024,
    tlsPorts: new Set(opts.tlsPorts ?? [443]),
    httpPorts: new Set(opts.httpPorts ?? [80]),
    maxBody: Math.max(0, opts.maxBodyBytes),
    oversize: opts.oversize,
    dlpOn: opts.scanner !== undefined,
    interceptAll: opts.interceptAll ?? false,
    memory: memoryOf(opts.memory),
    hint: `bottles.${opts.bottle ?? '<name>'}.egress.allow in ${opts.configName ?? 'bottle.config.ts'}`,
    configName: opts.configName ?? 'bottle.config.ts',
  };
}

function memoryOf(over: Partial<MemoryLimits> | undefined): MemoryLimits {
  const m = { ...MEMORY_DEFAULTS, ...over };
  const window = Math.max(1, Math.floor(m.window));
  const overlap = Math.max(0, Math.floor(m.overlap));
  const wholeBody = Math.max(0, Math.floor(m.wholeBody));
  // Every request must fit the budget on its own, or it would wait forever.
  const budget = Math.max(Math.floor(m.budget), 1);
  return { wholeBody, window, overlap, budget, waitMs: Math.max(0, m.waitMs) };
}

const HEADER_VALUE_OK = /^[\t\x20-\x7e\x80-\xff]*$/;
const TOKEN_OK = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Routes by host; throws, naming the route (never its token), at the first one the proxy could not honour. */
export function routeTable(routes: readonly Route[]): Map<string, Route> {
  const table = new Map<string, Route>();
  for (const r of routes) {
    validateRoute(r);
    if (table.has(r.host)) throw new Error(`egress route ${JSON.stringify(r.host)}: two routes for one host`);
    table.set(r.host, r);
  }
  return table;
}

function validateRoute(route: Route): void {
  const name = JSON.stringify(route.host);
  if (canonicalHost(route.host) !== route.host) throw new Error(`egress route ${name}: the host must be canonical (lower-case, no port)`);
  if (!route.inject) return;
  const { header, value, placeholder } = route.inject;
  if (!TOKEN_OK.test(header)) throw new Error(`egress route ${name}: inject.header is not a header name`);
  // The value itself is never quoted: it is the real credential.
  if (value.length === 0 || !HEADER_VALUE_OK.test(value)) throw new Error(`egress route ${name}: the injected value is empty or has characters a header cannot carry`);
  if (placeholder.length < 8) throw new Error(`egress route ${name}: the placeholder must be at least 8 characters`);
  if (placeholder === value) throw new Error(`egress route ${name}: the placeholder must differ from the real value`);
}

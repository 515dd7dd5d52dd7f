// The egress proxy for `bench/egress.ts`, alone in its own process so that
// its RSS is its own and the client's CPU is not counted against it. Set up
// as plugins/egress/index.ts sets it up (a CA from createAuthority, warmed
// ahead of time as the ca plugin does; DLP scanners per route host; the
// default body bound), with two bench-only differences, both printed by the
// bench: `forbiddenAddress` lets exactly 127.0.0.1 through (the local
// upstream of the tunnel variant; every other address keeps the real check),
// and `tlsPorts` adds the upstream's port to 443.
// It listens on a Unix socket, as every door's daemon does (the bench puts
// the real forwarder in front of it, or connects to the socket itself).
//   node bench/egress/proxy-child.ts CONFIG.json
// Prints one JSON line {socketPath, caPem} once it listens; exits when its
// stdin closes (so a parent that dies takes it along) or on SIGTERM.
import { readFileSync } from 'node:fs';
import { createAuthority } from '../../plugins/ca/authority.ts';
import { createScanner } from '../../lib/dlp/index.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../plugins/egress/config.ts';
import { Allowlist, isForbiddenAddress } from '../../lib/hosts.ts';
import { startProxy } from '../../plugins/egress/proxy.ts';
import type { Route } from '../../plugins/egress/types.ts';

export interface ChildConfig {
  /** Where the proxy listens: a Unix socket in the bench's temp dir. */
  socketPath: string;
  dlp: boolean;
  upstreamPort: number;
  upstreamCaPem: string;
  /** Route hosts, all pointing at the upstream, all injecting the same header. */
  routeHosts: string[];
  inject: { header: string; value: string; placeholder: string };
}

const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildConfig;
const authority = createAuthority({ commonName: 'claude-bottle bench CA' });
await authority.warm();
const routes: Route[] = cfg.routeHosts.map((host) => ({ host, inject: cfg.inject, upstream: `https://127.0.0.1:${cfg.upstreamPort}` }));
const plain = cfg.dlp ? createScanner() : undefined;
const byHost = new Map(routes.map((r) => [r.host, createScanner(r.inject ? { allowed: [r.inject.value] } : {})]));
const proxy = await startProxy({
  socketPath: cfg.socketPath,
  policy: new Allowlist(['127.0.0.1', ...routes.map((r) => r.host)]),
  routes,
  authority,
  ...(plain ? { scanner: plain, scannerFor: (host: string) => byHost.get(host) ?? plain } : {}),
  maxBodyBytes: cfg.dlp ? DEFAULT_MAX_BODY_BYTES : 0,
  oversize: cfg.dlp ? 'block' : 'pass',
  onAudit: () => {},
  // Bench only: the tunnel variant's upstream is on loopback.
  forbiddenAddress: (ip) => ip !== '127.0.0.1' && isForbiddenAddress(ip),
  tlsPorts: [443, cfg.upstreamPort],
  upstreamCa: cfg.upstreamCaPem,
});
process.stdout.write(`${JSON.stringify({ socketPath: proxy.socketPath, caPem: authority.certPem })}\n`);

const stop = () => {
  void proxy.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
process.on('SIGTERM', stop);

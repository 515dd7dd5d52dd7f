// egress: the bottle's only door to the network. A proxy per bottle on its
// door (a Unix socket the guest reaches as 127.0.0.1:3128): an allowlist, TLS interception
// with the bottle's CA, credential injection per route (the guest holds only
// placeholders), and DLP on what leaves. No `egress` key: no door at all.
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import type { Door } from '../../core/doors.ts';
import { definePlugin, type PlanContext } from '../../core/hooks.ts';
import type { PlanDraft } from '../../core/plan.ts';
import { DEFAULT_MAX_BODY_BYTES, egressShape, type EgressConfig, type InjectConfig } from './config.ts';
import { Allowlist, canonicalHost, isForbiddenAddress, refuseRiskyPattern, validatePattern } from '../../lib/hosts.ts';
import type { Authority, Route } from './types.ts';

export { egressShape } from './config.ts';

/** The authority of a proxy that only tunnels: asking it for a certificate is a bug. */
const NO_INTERCEPTION: Authority = {
  certPem: '',
  fingerprint256: '',
  secureContext() {
    throw new Error('egress: this bottle intercepts nothing (no routes, DLP off)');
  },
};

/** The proxy's port on the guest's loopback. */
export const EGRESS_PORT = 3128;

const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'];

/** A route another plugin adds to the bottle's proxy (from any plan tap). */
export interface RouteContribution {
  host: string;
  /** The credential to inject (the host env var must be set: check it first, with your own message). */
  inject?: InjectConfig;
  /** What a secret in a body to this host meets (a user's route setting wins). */
  dlp?: 'block' | 'redact';
  /** The plugin that asks, for messages. */
  by: string;
}

/** The proxy's policy, without secrets (what supervise shows the agent). */
export interface EgressStatus {
  enabled: boolean;
  allow: string[];
  routes: Array<{ host: string; injects?: string; upstream?: string }>;
  dlp: boolean;
}

/** What egress offers other plugins: `api.use('egress')`. */
export interface EgressApi {
  /**
   * In `plan` (any stage): allow a host (or `*.` pattern) for this bottle;
   * the proxy then runs even without an `egress` key. While the bottle runs
   * (a human's approval): added to the running proxy at once.
   */
  allowHost(pattern: string, by?: string): void;
  /**
   * In `plan` (any stage): a route for a host. A route the user configured
   * for the same host keeps its `upstream`, and its `inject` wins
   * (`inject: false` turns injection off).
   */
  addRoute(route: RouteContribution): void;
  /** The user's own route for `host` in this bottle's config, if any (to decide what to contribute). */
  userRoute(host: string): EgressConfig['routes'][number] | undefined;
  /** The effective policy, without secrets. */
  status(): EgressStatus;
}

declare module '../../core/hooks.ts' {
  interface PluginApis {
    egress: EgressApi;
  }
}

export const egress = () => {
  // What the plan must not carry (it is printed by `bottle plan`): the real tokens.
  let routes: Route[] = [];
  let allow: string[] = [];
  let dlp: { on: boolean; maxBodyBytes: number; oversize: 'block' | 'pass' } = { on: true, maxBodyBytes: DEFAULT_MAX_BODY_BYTES, oversize: 'block' };
  let enabled = false;
  let intercepts = false;
  let policy: Allowlist | undefined;
  let door: Door | undefined;
  let contributed: RouteContribution[] = [];
  let contributedAllow: string[] = [];
  /** The user's config for this bottle (set when the kernel applies the plugin). */
  let given: EgressConfig | undefined;
  /** The config file as the user knows it (set in plan), for the proxy's hints. */
  let configName = 'bottle.config.ts';
  /** True once egress settled its plan: a contribution then comes too late. */
  let planned = false;
  const tooLate = (what: string, by: string | undefined) =>
    new Error(`egress: ${what}${by ? ` from plugin "${by}"` : ''} came after egress settled its plan; contribute from a plan tap (any stage), not later`);

  const api: EgressApi = {
    allowHost(pattern, by) {
      // Checked now, so a bad pattern is the caller's error, not egress's.
      const canonical = validatePattern(pattern);
      refuseRiskyPattern(canonical);
      if (policy) return policy.add(canonical);
      if (!planned) return void contributedAllow.push(canonical);
      // Planned, proxy not started yet (a preStart tap before egress's): it starts with the host.
      if (!enabled) throw new Error(`egress: allowHost("${pattern}")${by ? ` from plugin "${by}"` : ''}: this bottle has no egress proxy (no \`egress\` key, and nothing asked for one in plan); call allowHost in plan to have one`);
      if (!allow.includes(canonical)) allow.push(canonical);
    },
    addRoute(route) {
      if (planned) throw tooLate(`a route for "${route.host}"`, route.by);
      contributed.push(route);
    },
    userRoute(host) {
      const h = canonicalHost(host);
      return given?.routes.find((r) => canonicalHost(r.host) === h);
    },
    status() {
      return {
        enabled,
        allow: policy ? policy.patterns() : [...allow, ...routes.map((r) => r.host)],
        routes: routes.map((r) => ({ host: r.host, ...(r.inject ? { injects: r.inject.header } : {}), ...(r.upstream ? { upstream: r.upstream } : {}) })),
        dlp: dlp.on,
      };
    },
  };

  return definePlugin({
    name: 'egress',
    config: { bottle: egressShape },
    dependencies: ['ca'],
    api,
    apply(hooks, { config, use }) {
      given = config.bottle.egress;
      // Each plan starts afresh (a sync tap: no progress step of its own).
      hooks.plan.tap({ name: 'egress', stage: Number.MIN_SAFE_INTEGER }, () => {
        contributed = [];
        contributedAllow = [];
        planned = false;
        enabled = false;
        door = undefined;
      });

      // Settled once every plan tap has run: contributions from any stage count.
      // The door is asked for at once when the config has egress, so a clash names the other plugin.
      hooks.plan.tap('egress', (draft, ctx) => {
        if (given) door = ctx.door({ name: 'proxy', port: EGRESS_PORT, description: 'HTTP(S) proxy' });
        ctx.whenPlanned(() => settle(draft, ctx));
      });

      const settle = (draft: PlanDraft, ctx: PlanContext) => {
        planned = true;
        configName = ctx.configName;
        if (!given && !contributed.length && !contributedAllow.length) return;
        const cfg: EgressConfig = given ?? { allow: [], routes: [], dlp: true };
        enabled = true;
        const at = `bottles.${draft.bottle}.egress`;
        // The user's patterns are checked here; contributed ones were checked when allowHost was called.
        allow = cfg.allow.map((p, i) => {
          try {
            const canonical = validatePattern(p);
            refuseRiskyPattern(canonical);
            return canonical;
          } catch (e) {
            throw ctx.configError(`${at}.allow[${i}]`, (e as Error).message, 'use an exact host or `*.example.com`');
          }
        });
        for (const c of contributedAllow) if (!allow.includes(c)) allow.push(c);
        // The user's routes, then what plugins contributed: merged per host, the user's settings winning.
        const wanted: Array<{ host: string; upstream?: string; inject?: InjectConfig | false; dlp?: 'block' | 'redact'; at: string }> = cfg.routes.map((r, i) => ({ ...r, at: `${at}.routes[${i}]` }));
        for (const c of contributed) {
          const mine = wanted.find((w) => canonicalHost(w.host) === canonicalHost(c.host));
          if (!mine) wanted.push({ host: c.host, ...(c.inject ? { inject: c.inject } : {}), ...(c.dlp ? { dlp: c.dlp } : {}), at: `plugin ${c.by}` });
          else {
            if (mine.inject === undefined && c.inject) mine.inject = c.inject;
            if (mine.dlp === undefined && c.dlp) mine.dlp = c.dlp;
          }
        }
        routes = wanted.map((r) => {
          const host = canonicalHost(r.host);
          if (!host) throw ctx.configError(`${r.at}.host`, `"${r.host}" is not a host name`);
          const route: Route = { host };
          if (r.upstream) route.upstream = r.upstream;
          if (r.dlp) route.dlp = r.dlp;
          if (r.inject) {
            const token = ctx.hostEnv[r.inject.env];
            if (!token) {
              throw ctx.configError(`${r.at}.inject.env`, `${r.inject.env} is not set in the environment`, `export ${r.inject.env}=... before \`bottle run\`; the guest only ever sees a placeholder`);
            }
            const placeholder = `bottle-placeholder-${randomBytes(12).toString('hex')}`;
            route.inject = { header: r.inject.header.toLowerCase(), value: r.inject.format ? r.inject.format.replace('{token}', token) : token, placeholder };
            // The guest's clients find a token where they expect one; it is worth nothing outside the proxy.
            draft.env[r.inject.env] = placeholder;
          }
          return route;
        });
        const hosts = new Set(routes.map((r) => r.host));
        if (hosts.size !== routes.length) throw ctx.configError(`${at}.routes`, 'two routes name the same host');
        const d = cfg.dlp;
        dlp = d === false ? { on: false, maxBodyBytes: 0, oversize: 'pass' } : { on: true, maxBodyBytes: (d === true ? undefined : d.maxBodyBytes) ?? DEFAULT_MAX_BODY_BYTES, oversize: d === true ? 'block' : d.oversize };
        // Interception (routes, DLP) needs the bottle's CA in the guest's trust store.
        intercepts = dlp.on || routes.length > 0;
        if (intercepts) use('ca').request();
        const description = `HTTP(S) proxy: ${allow.length} allowed pattern(s), ${routes.length} route(s), DLP ${dlp.on ? 'on' : 'off'}`;
        door ??= ctx.door({ name: 'proxy', port: EGRESS_PORT, description });
        const decl = draft.doors.find((d) => d.name === 'proxy' && d.plugin === 'egress');
        if (decl) decl.description = description;
        draft.daemons.push({ name: 'egress', plugin: 'egress', description: `${description}; door ${door.url}` });
      };

      hooks.preStart.tapPromise('egress', async (ctx) => {
        if (!enabled || !door) return;
        // Loaded only for bottles that have a proxy: every `bottle` start pays for what it imports.
        const [{ startProxy }, { createScanner }] = await Promise.all([import('./proxy.ts'), import('../../lib/dlp/index.ts')]);
        policy = new Allowlist([...allow, ...routes.map((r) => r.host)]);
        const hostAddrs = Object.values(networkInterfaces()).flat().map((a) => a?.address).filter((a): a is string => Boolean(a));
        const plain = dlp.on ? createScanner() : undefined;
        const byHost = new Map(routes.map((r) => [r.host, createScanner(r.inject ? { allowed: [r.inject.value] } : {})]));
        const proxy = await startProxy({
          socketPath: door.socketPath,
          bottle: ctx.plan.bottle,
          configName,
          policy,
          routes,
          // Nothing is intercepted without routes or DLP: every CONNECT is a tunnel.
          authority: intercepts ? use('ca').authority() : NO_INTERCEPTION,
          ...(plain ? { scanner: plain, scannerFor: (host: string) => byHost.get(host) ?? plain } : {}),
          maxBodyBytes: dlp.maxBodyBytes,
          oversize: dlp.oversize,
          onAudit: (e) => ctx.bus.emit('audit', { plugin: 'egress', ...e }),
          forbiddenAddress: (ip) => isForbiddenAddress(ip, hostAddrs),
        });
        ctx.onUndo('stop egress proxy', () => proxy.close());
        ctx.bus.emit('log', { plugin: 'egress', message: `egress proxy on ${door.url} (${proxy.socketPath})` });
      });

      hooks.exec.tapPromise('egress', async (spec) => {
        if (!enabled || !door) return spec;
        for (const v of PROXY_VARS) spec.env[v] = door.url;
        // The other doors (git gate, supervise) are on the guest's loopback too: reached directly.
        const noProxy = ['localhost', '127.0.0.1'].join(',');
        spec.env.NO_PROXY = noProxy;
        spec.env.no_proxy = noProxy;
        return spec;
      });

      hooks.teardown.tapPromise('egress', async () => {
        // Forget the real tokens as soon as the bottle is gone.
        routes = [];
        policy = undefined;
      });
    },
  });
};

/** The egress plugin as the registry holds it. */
export type EgressPlugin = ReturnType<typeof egress>;

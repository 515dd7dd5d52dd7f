// `bottle selftest`, wired: the user's config with one more plugin (it
// keeps the plan), a backend whose `attach` runs the attempts instead of the
// agent, selftest's own listener on the host, and the report.
import type { AuditEvent } from '../../core/bus.ts';
import { type Bus } from '../../core/bus.ts';
import type { Backend, GuestHandle } from '../../core/backends/types.ts';
import type { LoadedConfig } from '../../core/config/load.ts';
import { BottleError } from '../../core/errors.ts';
import type { BottlePlugin } from '../../core/hooks.ts';
import type { ExecSpec, Plan } from '../../core/plan.ts';
import { stateRoot } from '../../core/state.ts';
import type { EgressApi } from '../../plugins/egress/index.ts';
import { backendFor, makeKernel, type CommonOptions } from '../setup.ts';
import { newToken, runAttempts } from './attempts.ts';
import { hostAddresses, startListener } from './listener.ts';
import { buildReport, type SelftestReport } from './report.ts';
import type { Attempt } from './verdicts.ts';

/** Runs the attempts where the agent would run; the rest is the real backend's. */
class SelftestBackend implements Backend {
  readonly name;
  #inner: Backend;
  #run: (guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal) => Promise<void>;
  constructor(inner: Backend, run: (guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal) => Promise<void>) {
    this.#inner = inner;
    this.name = inner.name;
    this.#run = run;
  }
  check: Backend['check'] = (s) => this.#inner.check(s);
  startGuest: Backend['startGuest'] = (s) => this.#inner.startGuest(s);
  removeGuest: Backend['removeGuest'] = (id) => this.#inner.removeGuest(id);
  list: Backend['list'] = () => this.#inner.list();
  removeBottle: Backend['removeBottle'] = (slug) => this.#inner.removeBottle(slug);
  async attach(guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal): Promise<number> {
    await this.#run(guest, spec, signal);
    return 0;
  }
}

export interface SelftestRun {
  report?: SelftestReport;
  /** Why the bottle could not be tested (it did not start). */
  error?: unknown;
  slug: string;
  teardownFailures: string[];
}

export async function runSelftest(loaded: LoadedConfig, opts: CommonOptions & { bus: Bus; signal: AbortSignal }): Promise<SelftestRun> {
  const { bus, signal } = opts;
  const token = newToken();
  let plan: Plan | undefined;
  const keeper: BottlePlugin = {
    name: 'bottle-selftest',
    apply(hooks) {
      hooks.preStart.tapPromise('bottle-selftest', async (ctx) => {
        plan = ctx.plan;
      });
    },
  };
  const audits: AuditEvent[] = [];
  bus.on('audit', (e) => audits.push(e));
  const [listener, addresses] = await Promise.all([startListener(token), hostAddresses()]);
  let attempts: Attempt[] | undefined;
  try {
    const config = { ...loaded.config, plugins: [...loaded.config.plugins, keeper] };
    let kernel: ReturnType<typeof makeKernel> | undefined;
    const backend = new SelftestBackend(backendFor(loaded), async (guest, spec, s) => {
      if (!plan || !kernel) throw new BottleError('selftest: the bottle started without a plan', { code: 'INTERNAL' });
      const agent = loaded.config.agents[kernel.agentName]!;
      bus.emit('audit', { type: 'selftest.start', plugin: 'selftest', addresses: addresses.map((a) => a.address), port: listener.port });
      attempts = await bus.step('selftest', 'selftest: attempts from inside the bottle', () =>
        runAttempts({
          guest,
          spec,
          plan: plan!,
          bottleConfig: loaded.config.bottles[agent.bottle] as unknown as Record<string, unknown>,
          configDir: loaded.dir,
          hostEnv: process.env,
          stateRoot: stateRoot(),
          egress: kernel!.plugins.find((p) => p.name === 'egress')?.api as EgressApi | undefined,
          listener,
          addresses,
          token,
          audits,
          bus,
          signal: s,
        }),
      );
    });
    kernel = makeKernel({ ...loaded, config }, { ...opts, bus, signal, backend });
    const result = await kernel.run();
    const teardownFailures = result.teardownFailures.map((f) => `${f.label}: ${f.error instanceof Error ? f.error.message : String(f.error)}`);
    if (result.error !== undefined || !attempts || !plan) return { error: result.error ?? new BottleError('selftest: no attempt was run', { code: 'INTERNAL' }), slug: result.slug, teardownFailures };
    return { report: buildReport({ slug: result.slug, agent: plan.agent, bottle: plan.bottle }, attempts), slug: result.slug, teardownFailures };
  } finally {
    await listener.close();
  }
}

// The kernel: owns the lifecycle, fires the hooks, keeps the undo stack, and
// knows no capability by name. Plugins do everything else.
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { BottleError, configError, describeError, isBottleError } from './errors.ts';
import { Bus } from './bus.ts';
import { createHooks, HOOK_ORDER, type BottleHooks, type BottlePlugin, type ConfigSlice, type ExecContext, type GuestContext, type HookName, type Outcome, type PlanContext, type StartContext, type TeardownContext } from './hooks.ts';
import type { Backend, GuestExecResult, StartedGuest } from './backends/types.ts';
import { doorOf, doorProblem, doorSocketPath, LIFELINE, type Door, type DoorRequest } from './doors.ts';
import type { ResolvedConfig } from './config/schema.ts';
import { packFiles, parseMarkers, provisionScript } from './guest-files.ts';
import { ownerToken } from './owner.ts';
import { GUEST_WORKSPACE, type ExecSpec, type GuestFile, type Plan, type PlanDraft } from './plan.ts';
import { recordHostProcess } from './host-processes.ts';
import { startLifeline } from './lifeline.ts';
import { AuditLog } from './audit-log.ts';
import { recordWritableMounts } from './writable-mounts.ts';
import { createDoorsDir, createStateDir, doorsDirFor, exposedState, removeStateDir } from './state.ts';
import { UndoStack, type UndoFailure } from './undo.ts';

export interface KernelOptions {
  config: ResolvedConfig;
  /** How the config file is shown in errors, e.g. `bottle.config.ts`. */
  configName: string;
  configDir: string;
  /** Which agent; may be left out when the config has exactly one. */
  agent?: string | undefined;
  cwd: string;
  backend: Backend;
  /** Built-in plugins; `config.disable` switches them off, `config.plugins` adds in-house ones. */
  builtins: BottlePlugin[];
  stateRoot: string;
  hostEnv?: Readonly<Record<string, string | undefined>>;
  bus?: Bus;
  /** Aborted on SIGINT/SIGTERM. */
  signal?: AbortSignal;
  /** Fixed slug (tests); normally `<agent>-<random>`. */
  slug?: string;
  /**
   * Makes the text filter every string of every audit record goes through
   * before it is written (the CLI gives one that replaces secrets by their
   * rule and a short hash: the host's audit file must not keep what DLP
   * refused). Started with the run, awaited before the first record is written.
   */
  auditRedactor?: () => Promise<(text: string) => string>;
  /** The config file and the modules of the host it loaded (see PlanContext.configFiles). */
  configFiles?: readonly string[];
}

export type Phase = 'idle' | 'planning' | 'starting' | 'running' | 'tearing-down' | 'closed' | 'invalid';

export interface RunResult {
  /** The agent's exit code, or the failure's (1, 2, 130). */
  exitCode: number;
  outcome: Outcome;
  error?: unknown;
  teardownFailures: UndoFailure[];
  slug: string;
}

export class Kernel {
  readonly hooks: BottleHooks = createHooks();
  readonly bus: Bus;
  readonly plugins: readonly BottlePlugin[];
  readonly agentName: string;
  phase: Phase = 'idle';
  #opts: KernelOptions;
  #undo = new UndoStack();
  #signal: AbortSignal;
  #slug: string;
  #baseExec: ExecSpec | undefined;
  /** The draft while `plan` runs: where doors are recorded. */
  #draft: PlanDraft | undefined;
  /** Settles once the audit file is open (its secret filter loaded) and the records so far are in it. */
  #auditReady: Promise<void> = Promise.resolve();
  /** What plugins asked to run once every plan tap is done. */
  #whenPlanned: Array<{ plugin: string; fn: (draft: PlanDraft) => void | Promise<void> }> = [];

  constructor(opts: KernelOptions) {
    this.#opts = opts;
    this.bus = opts.bus ?? new Bus();
    this.#signal = opts.signal ?? new AbortController().signal;
    this.agentName = pickAgent(opts.config, opts.agent, opts.configName);
    this.#slug = opts.slug ?? `${this.agentName}-${randomBytes(4).readUInt32BE(0).toString(36).padStart(5, '0').slice(-5)}`;
    this.plugins = selectPlugins(opts);
    // What plugins read is not theirs to change: a contribution goes through the other plugin's `api`.
    deepFreeze(opts.config.agents);
    deepFreeze(opts.config.bottles);
    for (const name of HOOK_ORDER) this.#intercept(name);
    for (const p of this.plugins) {
      try {
        p.apply(this.hooks, { bus: this.bus, config: this.#sliceFor(p), use: (name) => this.#use(p, name), find: (name) => this.#find(p, name) });
      } catch (e) {
        throw new BottleError(`plugin "${p.name}" failed to load: ${describeError(e)}`, { code: 'PLUGIN', plugin: p.name, cause: e });
      }
    }
  }

  /** A plugin's own keys of the config, for the agent being run and its bottle. */
  #sliceFor(p: BottlePlugin): ConfigSlice {
    const { config } = this.#opts;
    const agent = config.agents[this.agentName]!;
    const bottle = config.bottles[agent.bottle]!;
    const pick = (from: Record<string, unknown>, shape: object | undefined) => Object.fromEntries(Object.keys(shape ?? {}).map((k) => [k, from[k]]));
    return Object.freeze({ top: pick(config, p.config?.top), agent: pick(agent, p.config?.agent), bottle: pick(bottle, p.config?.bottle) }) as ConfigSlice;
  }

  /** `api.use(name)` of plugin `p`: the other plugin's api, if `p` declared it as a dependency. */
  #use(p: BottlePlugin, name: string): never {
    if (!(p.dependencies ?? []).includes(name)) {
      throw new BottleError(`plugin "${p.name}" uses plugin "${name}" without declaring it: add "${name}" to its \`dependencies\``, { code: 'PLUGIN', plugin: p.name });
    }
    const other = this.plugins.find((o) => o.name === name);
    if (!other?.api) throw new BottleError(`plugin "${p.name}" uses plugin "${name}", which offers no api`, { code: 'PLUGIN', plugin: p.name });
    return other.api as never;
  }

  /** `api.find(name)` of plugin `p`: the other plugin's api when it is enabled. */
  #find(p: BottlePlugin, name: string): never {
    if (!(p.optionalDependencies ?? []).includes(name)) {
      throw new BottleError(`plugin "${p.name}" looks for plugin "${name}" without declaring it: add "${name}" to its \`optionalDependencies\``, { code: 'PLUGIN', plugin: p.name });
    }
    return this.plugins.find((o) => o.name === name)?.api as never;
  }

  get slug(): string {
    return this.#slug;
  }

  /** Every tap is wrapped: its errors name the plugin and hook, and it shows as a progress step. */
  #intercept(hookName: HookName): void {
    const hook = this.hooks[hookName] as unknown as { intercept(i: object): void };
    hook.intercept({
      register: (tap: { name: string; type: string; fn: (...a: unknown[]) => unknown }) => {
        const original = tap.fn;
        // Each tap sees its own context: its undos and warnings carry its name.
        const inner = (...args: unknown[]) => original(...args.map((a) => this.#ownContext(a, tap.name)));
        const title = `${tap.name}: ${hookName}`;
        const wrap = (e: unknown) => wrapPluginError(e, tap.name, hookName);
        if (tap.type === 'promise') {
          tap.fn = (...args: unknown[]) =>
            this.bus.step(`${hookName}:${tap.name}`, title, async () => {
              try {
                const run = inner(...args) as Promise<unknown>;
                // A tap that ignores the abort signal must not hold up teardown;
                // teardown taps themselves run to the end.
                const out = hookName === 'teardown' ? await run : await raceAbort(run, this.#signal);
                if (hookName === 'plan') stampPlugin(args[0] as PlanDraft, tap.name);
                return out;
              } catch (e) {
                throw wrap(e);
              }
            }, { plugin: tap.name, hook: hookName });
        } else if (tap.type === 'async') {
          tap.fn = (...args: unknown[]) => {
            const cb = args.pop() as (err?: unknown, r?: unknown) => void;
            inner(...args, (err?: unknown, r?: unknown) => (err ? cb(wrap(err)) : cb(null, r)));
          };
        } else {
          tap.fn = (...args: unknown[]) => {
            try {
              const out = inner(...args);
              if (hookName === 'plan') stampPlugin(args[0] as PlanDraft, tap.name);
              return out;
            } catch (e) {
              throw wrap(e);
            }
          };
        }
        return tap;
      },
    });
  }

  #ownContext(arg: unknown, plugin: string): unknown {
    if (!arg || typeof arg !== 'object') return arg;
    const c = arg as Partial<StartContext & PlanContext>;
    if (typeof c.onUndo === 'function') {
      return { ...c, onUndo: (label: string, run: () => Promise<void> | void) => this.#undo.push({ label: `${plugin}: ${label}`, plugin, run }) };
    }
    if (typeof c.warn === 'function' && 'agent' in c) {
      return {
        ...c,
        warn: (message: string) => this.bus.emit('warn', { message, plugin }),
        door: (req: DoorRequest) => this.#openDoor(req, plugin),
        whenPlanned: (fn: (draft: PlanDraft) => void | Promise<void>) => this.#whenPlanned.push({ plugin, fn }),
      };
    }
    return arg;
  }

  /** Records a door in the plan being drafted; its socket lives in the bottle's doors dir. */
  #openDoor(req: DoorRequest, plugin: string): Door {
    const draft = this.#draft;
    if (!draft) throw new BottleError(`plugin "${plugin}" asked for door "${req.name}" outside \`plan\``, { code: 'PLUGIN', plugin });
    const problem = doorProblem(req, draft.doors);
    if (problem) throw new BottleError(problem, { code: 'PLUGIN', plugin, hook: 'plan' });
    const decl = { name: req.name, port: req.port, description: req.description, plugin, socketPath: doorSocketPath(doorsDirFor(this.#opts.stateRoot, this.#slug), req.name), guest: `127.0.0.1:${req.port}` };
    draft.doors.push(decl);
    return doorOf(decl);
  }

  /** Runs `plan` and the pure `exec` waterfall. No side effects: `bottle plan` is this. */
  async plan(commandOverride?: string[]): Promise<Plan> {
    const { config, configName } = this.#opts;
    const agent = config.agents[this.agentName]!;
    const bottleConfig = config.bottles[agent.bottle]!;
    if (config.backend !== this.#opts.backend.name) {
      throw new BottleError(`${configName}: backend: "${config.backend}", but this kernel was given the ${this.#opts.backend.name} backend`, { code: 'INTERNAL' });
    }
    const owner = ownerToken();
    const created = new Date().toISOString();
    const draft: PlanDraft = {
      slug: this.#slug,
      agent: this.agentName,
      bottle: agent.bottle,
      backend: config.backend,
      image: config.image,
      hostCwd: this.#opts.cwd,
      configDir: this.#opts.configDir,
      workspace: { mode: bottleConfig.workspace, hostDir: this.#opts.cwd, guestDir: GUEST_WORKSPACE },
      files: [],
      commands: [],
      env: { ...bottleConfig.env },
      mounts: [],
      daemons: [],
      doors: [],
      exec: { argv: commandOverride?.length ? [...commandOverride] : [...agent.command], env: {}, user: 'node', workdir: GUEST_WORKSPACE },
      labels: { 'claude-bottle.slug': this.#slug, 'claude-bottle.agent': this.agentName, 'claude-bottle.owner': owner, 'claude-bottle.created': created },
    };
    const ctx: PlanContext = {
      config,
      agent,
      bottleConfig,
      hostEnv: this.#opts.hostEnv ?? process.env,
      configName,
      configFiles: this.#opts.configFiles ?? [],
      warn: (message) => this.bus.emit('warn', { message }),
      configError: (path, message, hint) => configError(configName, path, message, hint),
      door: (req) => this.#openDoor(req, '(unknown)'),
      whenPlanned: (fn) => this.#whenPlanned.push({ plugin: '(unknown)', fn }),
    };
    this.phase = 'planning';
    this.#draft = draft;
    this.#whenPlanned = [];
    try {
      await this.hooks.plan.promise(draft, ctx);
      for (const w of this.#whenPlanned) {
        try {
          await w.fn(draft);
        } catch (e) {
          throw wrapPluginError(e, w.plugin, 'plan');
        }
        stampPlugin(draft, w.plugin);
      }
    } finally {
      this.#draft = undefined;
    }
    mergeJsonFiles(draft);
    checkDraft(draft);
    this.#checkExposure(draft);
    // The run-time exec pass starts again from this, not from its own output.
    this.#baseExec = structuredClone(draft.exec);
    draft.exec = await this.#execSpec(draft.exec, draft, false);
    return deepFreeze(draft);
  }

  /** Nothing mounted or copied into the guest may contain the host's bottle state (the agent could read or write it). */
  #checkExposure(d: PlanDraft): void {
    const sources = [
      ...d.mounts.filter((m) => m.kind !== 'volume').map((m) => ({ hostPath: m.hostPath, what: d.workspace.mode === 'mount' && m.hostPath === d.workspace.hostDir ? `bottles.${d.bottle}.workspace: mount` : `a mount to ${m.guestPath}` })),
      ...d.files.filter((f) => f.hostPath).map((f) => ({ hostPath: f.hostPath!, what: f.plugin === 'workspace' ? `bottles.${d.bottle}.workspace: copy` : `plugin "${f.plugin}"'s copy to ${f.guestPath}` })),
    ];
    for (const s of sources) {
      const exposed = exposedState(s.hostPath, this.#opts.stateRoot, d.slug);
      if (exposed) {
        throw new BottleError(`${this.#opts.configName}: ${s.what}: ${s.hostPath} contains ${exposed}; the agent could read and change it`, {
          code: 'CONFIG',
          hint: 'run bottle from a directory that does not contain the state dir, or move the state dir out (BOTTLE_STATE_HOME or XDG_STATE_HOME)',
        });
      }
    }
  }

  async #execSpec(from: ExecSpec, plan: Plan, starting: boolean): Promise<ExecSpec> {
    const ctx: ExecContext = { plan, starting };
    const spec = await this.hooks.exec.promise(structuredClone(from), ctx);
    // The agent always runs as node: root in the guest could undo its isolation.
    if (spec.user !== 'node') {
      throw new BottleError(`the exec hook set the agent's user to "${spec.user}"; the agent always runs as node`, { code: 'PLUGIN', hook: 'exec' });
    }
    return spec;
  }

  /** The whole life of a bottle. Never throws: failures come back in the result, after teardown. */
  async run(commandOverride?: string[]): Promise<RunResult> {
    if (this.phase !== 'idle') throw new BottleError('a kernel runs one bottle, once', { code: 'INTERNAL' });
    let plan: Plan | undefined;
    let stateDir = '';
    let outcome: Outcome = 'success';
    let error: unknown;
    let exitCode = 0;
    const auditBuffer: Array<Record<string, unknown>> = [];
    let auditLog: AuditLog | undefined;
    const redactor = this.#opts.auditRedactor?.();
    // Never an unhandled rejection; awaited (and its failure reported) below.
    redactor?.catch(() => {});
    const onAudit = (e: object) => {
      const rec = { time: new Date().toISOString(), slug: this.#slug, ...e };
      if (auditLog) auditLog.write(rec);
      else auditBuffer.push(rec);
    };
    this.bus.on('audit', onAudit);
    try {
      plan = await this.plan(commandOverride);
      this.phase = 'starting';
      const { backend, stateRoot } = this.#opts;
      const p = plan;
      this.#checkAborted();
      stateDir = createStateDir(stateRoot, { slug: p.slug, owner: p.labels['claude-bottle.owner']!, created: p.labels['claude-bottle.created']! });
      // Before the guest exists: the config loader refuses files changed in these dirs while it could write them.
      recordWritableMounts(stateRoot, p.slug, p.mounts.flatMap((m) => (m.kind !== 'volume' && !m.readOnly ? [m.hostPath] : [])));
      // The redactor (the DLP rules) loads while the guest starts: records wait in memory until it is there, never written unfiltered.
      const dir = stateDir;
      this.#auditReady = (redactor ?? Promise.resolve(undefined)).then((redact) => {
        auditLog = new AuditLog(dir, redact);
        for (const rec of auditBuffer.splice(0)) auditLog.write(rec);
      });
      this.#auditReady.catch(() => {});
      this.bus.emit('audit', { type: 'bottle.start', agent: p.agent, bottle: p.bottle, image: p.image });

      // The doors dir and the lifeline, before any daemon: the guest's init
      // holds the lifeline, and loses it when this process ends, however it ends.
      const doorsDir = createDoorsDir(stateRoot, p.slug);
      const lifeline = await startLifeline(doorSocketPath(doorsDir, LIFELINE));
      this.#undo.push({ label: 'close the lifeline', run: () => lifeline.close() });

      const startCtx: StartContext = {
        plan: p,
        stateDir,
        onUndo: (label, run) => this.#undo.push({ label, run }),
        trackProcess: (pid, label) => recordHostProcess(stateDir, pid, label),
        bus: this.bus,
        signal: this.#signal,
      };
      // The guest's container starts WHILE the preStart taps run (the
      // daemons' start-up hides behind the engine's), but its init only
      // waits on its stdin: the planned files are read and streamed, the
      // post-commands run and the doors open only once every preStart tap
      // is done. The init puts the files in (one tar stream) and runs the
      // post-commands before it offers any door: no exec of their own.
      const script = p.files.length || p.commands.length ? provisionScript(p.files, p.commands) : undefined;
      const input = script !== undefined ? new PassThrough() : undefined;
      const title = script !== undefined ? `start guest, provision ${p.files.length} file${p.files.length === 1 ? '' : 's'}` : 'start guest';
      let started: StartedGuest | undefined;
      const starting = this.bus.step('guest', title, () =>
        backend.startGuest({
          slug: p.slug,
          image: p.image,
          doors: { hostDir: doorsDir, lifeline: `${LIFELINE}.sock`, forwards: p.doors.map((d) => ({ port: d.port, socket: `${d.name}.sock` })) },
          env: p.env,
          mounts: p.mounts,
          workdir: GUEST_WORKSPACE,
          labels: p.labels,
          ...(input && script !== undefined ? { provision: { script, input } } : {}),
          signal: this.#signal,
        }),
      );
      // Looked at below, after preStart; never an unhandled rejection meanwhile.
      starting.then((s) => (started = s), () => {});
      try {
        try {
          await this.hooks.preStart.promise(startCtx);
          this.#checkAborted();
        } catch (e) {
          // Nothing may go into a guest whose host side failed: its init gets no files and ends.
          input?.destroy();
          await starting.catch(() => {});
          throw e;
        }
        if (input) packFiles(p.files).on('error', (e) => input.destroy(e)).pipe(input);
        started = await starting;
      } finally {
        // Registered whatever happened: `docker run` may have left a container.
        const id = started?.guest.id ?? `claude-bottle-${p.slug}`;
        this.#undo.push({ label: 'remove guest', run: () => backend.removeGuest(id) });
      }
      const guest = started.guest;
      if (started.provisioning) this.#checkProvisioning(p, started.provisioning);
      const guestCtx: GuestContext = { ...startCtx, guest };
      await this.hooks.postStart.promise(guestCtx);
      this.#checkAborted();
      await this.hooks.provision.promise(guestCtx);
      this.#checkAborted();

      const spec = await this.#execSpec(this.#baseExec!, p, true);
      this.phase = 'running';
      this.bus.emit('log', { message: `running ${spec.argv.join(' ')}` });
      exitCode = await backend.attach(guest, spec, this.#signal);
      this.bus.emit('audit', { type: 'agent.exit', exitCode });
    } catch (e) {
      error = e;
      outcome = this.#signal.aborted || (isBottleError(e) && e.code === 'ABORTED') ? 'signal' : 'error';
      exitCode = outcome === 'signal' ? 130 : isBottleError(e) ? e.exitCode : 1;
      this.phase = 'invalid';
    }
    const teardownFailures = plan ? await this.#teardown(plan, stateDir, outcome, error, exitCode) : [];
    this.bus.off('audit', onAudit);
    this.phase = 'closed';
    return { exitCode, outcome, ...(error !== undefined ? { error } : {}), teardownFailures, slug: this.#slug };
  }

  #checkAborted(): void {
    if (this.#signal.aborted) throw new BottleError('interrupted', { code: 'ABORTED' });
  }

  /** Reports what the provisioning script said: warnings for optional commands, an error naming the plugin for the rest. */
  #checkProvisioning(p: Plan, r: GuestExecResult): void {
    const { failed, warned } = parseMarkers(r.stderr);
    for (const w of warned) {
      const c = p.commands[w.step as number]!;
      this.bus.emit('warn', { plugin: c.plugin, message: `\`${c.title ?? c.argv.join(' ')}\` failed in the guest (exit ${w.exitCode}); going on` });
    }
    if (r.exitCode === 0) return;
    const detail = r.stderr.split('\n').filter((l) => l && !l.startsWith('__bottle_')).slice(-3).join(' / ');
    if (failed && failed.step !== 'tar') {
      const c = p.commands[failed.step]!;
      throw new BottleError(`\`${c.title ?? c.argv.join(' ')}\` failed in the guest (exit ${failed.exitCode})${detail ? `: ${detail}` : ''}`, { code: 'PLUGIN', plugin: c.plugin, hook: 'provision' });
    }
    throw new BottleError(`copying files into the guest failed${detail ? `: ${detail}` : ''}`, { code: 'BACKEND', hint: 'check that the agent image has GNU tar and that the files are readable' });
  }

  /**
   * Exactly once: the undo stack newest first, then the teardown taps in
   * reverse, then the state dir. Every step runs whatever failed before it.
   */
  async #teardown(plan: Plan, stateDir: string, outcome: Outcome, error: unknown, exitCode: number): Promise<UndoFailure[]> {
    this.phase = 'tearing-down';
    const ctx: TeardownContext = { plan, stateDir, outcome, ...(error !== undefined ? { error } : {}) };
    const t0 = performance.now();
    this.bus.emit('step', { id: 'teardown', title: 'tear down', state: 'start' });
    const failures = await this.#undo.unwind();
    for (const tap of [...this.hooks.teardown.taps].reverse()) {
      try {
        await callTap(tap, ctx);
      } catch (e) {
        failures.push({ label: `${tap.name}: teardown`, plugin: tap.name, error: e });
      }
    }
    if (stateDir) {
      try {
        await this.#auditReady;
      } catch (e) {
        failures.push({ label: 'write the audit trail (its secret filter did not load)', error: e });
      }
      this.bus.emit('audit', { type: 'bottle.end', outcome, exitCode, teardownFailures: failures.map((f) => `${f.label}: ${describeError(f.error)}`) });
      try {
        removeStateDir(this.#opts.stateRoot, plan.slug);
      } catch (e) {
        failures.push({ label: 'remove state dir', error: e });
      }
    }
    const durationMs = performance.now() - t0;
    this.bus.emit('step', failures.length
      ? { id: 'teardown', title: 'tear down', state: 'fail', durationMs, error: failures.map((f) => `${f.label}: ${describeError(f.error)}`).join('; ') }
      : { id: 'teardown', title: 'tear down', state: 'done', durationMs });
    return failures;
  }
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new BottleError('interrupted', { code: 'ABORTED' }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BottleError('interrupted', { code: 'ABORTED' }));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function callTap(tap: { type: string; fn: Function }, ctx: TeardownContext): Promise<void> {
  if (tap.type === 'async') {
    return new Promise((resolve, reject) => tap.fn(ctx, (err?: unknown) => (err ? reject(err) : resolve())));
  }
  return Promise.resolve(tap.fn(ctx)).then(() => undefined);
}

/** Files and commands a plan tap added without saying whose: they are the tap's plugin's. */
function stampPlugin(draft: PlanDraft, plugin: string): void {
  for (const f of draft.files) if (!f.plugin) f.plugin = plugin;
  for (const c of draft.commands) if (!c.plugin) c.plugin = plugin;
}

function wrapPluginError(e: unknown, plugin: string, hook: string): BottleError {
  if (isBottleError(e)) {
    if (e.plugin) return e;
    return new BottleError(e.message, { code: e.code, plugin, hook, cause: e.cause, ...(e.hint ? { hint: e.hint } : {}) });
  }
  return new BottleError(`plugin "${plugin}" failed in ${hook}: ${describeError(e)}`, { code: 'PLUGIN', plugin, hook, cause: e });
}

function pickAgent(config: ResolvedConfig, wanted: string | undefined, configName: string): string {
  const names = Object.keys(config.agents);
  if (wanted !== undefined) {
    if (!(wanted in config.agents)) {
      throw new BottleError(`${configName}: no agent named "${wanted}" (agents: ${names.join(', ')})`, { code: 'USAGE' });
    }
    return wanted;
  }
  if (names.length === 1) return names[0]!;
  throw new BottleError(`${configName} defines ${names.length} agents (${names.join(', ')}): choose one with --agent NAME`, { code: 'USAGE' });
}

function selectPlugins(opts: KernelOptions): BottlePlugin[] {
  const { config, builtins, configName } = opts;
  const builtinNames = new Set(builtins.map((p) => p.name));
  config.disable.forEach((name, i) => {
    if (!builtinNames.has(name)) {
      throw new BottleError(`${configName}: disable[${i}]: no built-in plugin named "${name}" (built-ins: ${[...builtinNames].join(', ') || 'none'})`, { code: 'CONFIG' });
    }
  });
  const plugins = [...builtins.filter((p) => !config.disable.includes(p.name)), ...config.plugins];
  const seen = new Set<string>();
  plugins.forEach((p) => {
    if (seen.has(p.name)) {
      throw new BottleError(`${configName}: plugins: two plugins are named "${p.name}"`, { code: 'CONFIG', hint: 'give each plugin a unique name' });
    }
    seen.add(p.name);
  });
  for (const p of plugins) {
    for (const dep of p.dependencies ?? []) {
      if (!seen.has(dep)) {
        throw new BottleError(`${configName}: plugin "${p.name}" needs plugin "${dep}", which is ${builtinNames.has(dep) ? 'disabled' : 'not loaded'}`, {
          code: 'CONFIG',
          hint: builtinNames.has(dep) ? `remove "${dep}" from \`disable\`` : `add ${dep}() to \`plugins\``,
        });
      }
    }
  }
  return plugins;
}

/** Files several plugins add to (`mergeJson`) become one, where the first of them was declared. */
function mergeJsonFiles(d: PlanDraft): void {
  const merged = new Map<string, { file: GuestFile; value: unknown }>();
  const files: GuestFile[] = [];
  for (const f of d.files) {
    if (!f.mergeJson) {
      files.push(f);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(typeof f.content === 'string' ? f.content : Buffer.from(f.content ?? '').toString('utf8'));
    } catch (e) {
      throw new BottleError(`plugin "${f.plugin}" declared ${f.guestPath} with mergeJson but its content is not JSON: ${describeError(e)}`, { code: 'PLUGIN', plugin: f.plugin, hook: 'plan' });
    }
    const seen = merged.get(f.guestPath);
    if (!seen) {
      const file = { ...f };
      merged.set(f.guestPath, { file, value });
      files.push(file);
    } else {
      seen.value = deepMerge(seen.value, value);
      const by = seen.file.plugin ?? '?';
      if (!by.split('+').includes(f.plugin ?? '?')) seen.file.plugin = `${by}+${f.plugin ?? '?'}`;
    }
  }
  for (const { file, value } of merged.values()) file.content = `${JSON.stringify(value, null, 2)}\n`;
  d.files = files;
}

function deepMerge(a: unknown, b: unknown): unknown {
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return b;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/** Catches a plugin's mistakes in its declarations before anything starts. */
function checkDraft(d: PlanDraft): void {
  for (const f of d.files) {
    const bad = !f.guestPath.startsWith('/')
      ? 'is not absolute'
      : (f.content === undefined) === (f.hostPath === undefined)
        ? 'needs exactly one of content and hostPath'
        : f.guestPath.split('/').includes('..')
          ? 'contains ".."'
          : undefined;
    if (bad) throw new BottleError(`plugin "${f.plugin}" declared a guest file whose path ${f.guestPath} ${bad}`, { code: 'PLUGIN', plugin: f.plugin, hook: 'plan' });
  }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o) && !(o instanceof Uint8Array)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

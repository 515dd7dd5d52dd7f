// Every lifecycle hook in one table, in the order they fire. Each hook gets
// one context object, so payloads can grow without breaking taps.
import { AsyncSeriesHook, AsyncSeriesWaterfallHook } from 'tapable';
import type { z } from 'zod';
import type { Bus } from './bus.ts';
import type { BottleError } from './errors.ts';
import type { ResolvedAgent, ResolvedBottle, ResolvedConfig } from './config/schema.ts';
import type { GuestHandle } from './backends/types.ts';
import type { Door, DoorRequest } from './doors.ts';
import type { ExecSpec, Plan, PlanDraft } from './plan.ts';

/**
 * Context of `plan`. It has no port that acts: planning reads the config and
 * the host's environment and fills the draft, nothing else.
 */
export interface PlanContext {
  config: ResolvedConfig;
  agent: ResolvedAgent;
  bottleConfig: ResolvedBottle;
  /** The host environment `bottle` runs in, read-only. */
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** How the config file is named in messages, e.g. `bottle.config.ts`. */
  configName: string;
  /** The config file and every module of the host it loaded: what a mount that the agent writes must keep read-only. */
  configFiles: readonly string[];
  warn(message: string): void;
  /** An exit-2 error naming the config file and the field: `configError('agents.demo.skills[0]', 'no skill "x"')`. */
  configError(path: string, message: string, hint?: string): BottleError;
  /**
   * Asks for a door: a Unix socket path for the plugin's daemon to listen on
   * in `preStart` (with `listenOnDoor`), offered to guest clients on
   * `127.0.0.1:<port>`. Recorded in the plan; a name or port already taken is
   * an error naming both plugins.
   */
  door(request: DoorRequest): Door;
  /**
   * Runs `fn` once every plan tap is done (all stages), in the order
   * registered, before the plan is checked and frozen. A plugin that takes
   * contributions from others (`api`) settles them here, so a contribution
   * made at any stage of `plan` counts.
   */
  whenPlanned(fn: (draft: PlanDraft) => void | Promise<void>): void;
}

/** Context of `preStart`: the doors dir exists (start daemons on their doors), the guest does not yet. */
export interface StartContext {
  plan: Plan;
  /** This bottle's private host directory (removed at teardown). */
  stateDir: string;
  /** Registers the undo of something just created; teardown runs it, newest first. */
  onUndo(label: string, run: () => Promise<void> | void): void;
  /**
   * Records a host process this bottle started that could outlive `bottle`
   * (a daemonised helper): teardown, `bottle down` and `bottle gc` end it,
   * even after a kill -9 of `bottle`.
   */
  trackProcess(pid: number, label: string): void;
  bus: Bus;
  /** Aborted on SIGINT/SIGTERM: pass it to long operations. */
  signal: AbortSignal;
}

/** Context of `postStart` and `provision`: the guest is running. */
export interface GuestContext extends StartContext {
  guest: GuestHandle;
}

/** Context of `exec`: pure, so `bottle plan` can show the final argv. */
export interface ExecContext {
  plan: Plan;
  /** True when the bottle is really starting; false for `bottle plan`. */
  starting: boolean;
}

export type Outcome = 'success' | 'error' | 'signal';

/** Context of `teardown`: runs exactly once, however the bottle ended. */
export interface TeardownContext {
  plan: Plan;
  stateDir: string;
  outcome: Outcome;
  error?: unknown;
}

export function createHooks() {
  return Object.freeze({
    /** Declare files, env, mounts, daemons, exec flags; validate. No side effects. */
    plan: new AsyncSeriesHook<[PlanDraft, PlanContext]>(['draft', 'ctx']),
    /** Host side effects (daemons, CA); each registers its undo. */
    preStart: new AsyncSeriesHook<[StartContext]>(['ctx']),
    /** The guest is up: readiness checks. */
    postStart: new AsyncSeriesHook<[GuestContext]>(['ctx']),
    /** In-guest changes after the planned files are in. */
    provision: new AsyncSeriesHook<[GuestContext]>(['ctx']),
    /** Shape the agent's argv, env and user. */
    exec: new AsyncSeriesWaterfallHook<[ExecSpec, ExecContext]>(['spec', 'ctx']),
    /** Runs after the undo stack, taps in reverse order, every one. */
    teardown: new AsyncSeriesHook<[TeardownContext]>(['ctx']),
  });
}

export type BottleHooks = ReturnType<typeof createHooks>;
export type HookName = keyof BottleHooks;

/** The order the kernel fires them in. */
export const HOOK_ORDER: readonly HookName[] = ['plan', 'preStart', 'postStart', 'provision', 'exec', 'teardown'];

/** Named stages for the rare tap that must run early or late: `tapPromise({ name, stage: STAGE.LATE }, fn)`. */
export const STAGE = Object.freeze({ EARLY: -100, NORMAL: 0, LATE: 100 });

/** Config keys a plugin adds to the schema, by level: zod shapes, with `.describe()` on every field. */
export interface ConfigShapes {
  /** Top-level keys, e.g. `{ skillsDir: z.string().default('~/.claude/skills') }`. */
  top?: z.ZodRawShape;
  /** Keys of every agent, e.g. `{ prompt: z.string().default('') }`. */
  agent?: z.ZodRawShape;
  /** Keys of every bottle, e.g. `{ egress: egressSchema.optional() }`. */
  bottle?: z.ZodRawShape;
}

type Parsed<S> = S extends z.ZodRawShape ? z.output<z.ZodObject<S>> : Record<never, never>;

/** A plugin's own config for the bottle being run: only its keys, typed from its shapes, defaults applied by the schema. */
export interface ConfigSlice<S extends ConfigShapes = ConfigShapes> {
  top: Parsed<S['top']>;
  /** The agent being run. */
  agent: Parsed<S['agent']>;
  /** The agent's bottle. */
  bottle: Parsed<S['bottle']>;
}

/**
 * What plugins offer each other, by plugin name: each plugin with an `api`
 * adds its entry, so `api.use('egress')` is typed:
 * `declare module 'claude-bottle' { interface PluginApis { mine: MyApi } }`.
 */
export interface PluginApis {}

/** What a plugin gets besides the hooks. */
export interface PluginApi<S extends ConfigShapes = ConfigShapes> {
  bus: Bus;
  /** This plugin's config slice (see `config` on the plugin). */
  config: ConfigSlice<S>;
  /**
   * Another plugin's `api`, to contribute to its plan or call it later. The
   * other plugin must be in this one's `dependencies` (so a disabled one is
   * an error naming both when the kernel loads).
   */
  use<K extends keyof PluginApis>(name: K): PluginApis[K];
  /** Another plugin's `api` if it is enabled, else undefined; it must be in this one's `optionalDependencies`. */
  find<K extends keyof PluginApis>(name: K): PluginApis[K] | undefined;
}

/** A plugin: a plain object made by a factory. `name` is also its tap name. */
export interface BottlePlugin<S extends ConfigShapes = ConfigShapes, A extends object = object> {
  name: string;
  /** Names of plugins that must also be enabled; checked when the kernel loads. */
  dependencies?: string[];
  /** Names of plugins this one calls when they are enabled (`api.find`). */
  optionalDependencies?: string[];
  /** The config keys this plugin adds (validated with the rest of the config; the plugin reads them as `api.config`). */
  config?: S;
  /** What this plugin offers others through `api.use(name)`. */
  api?: A;
  apply(hooks: BottleHooks, api: PluginApi<S>): void;
}

/** Identity function that types a plugin from its config shapes: `api.config` in `apply` gets their types. */
export function definePlugin<const S extends ConfigShapes = Record<never, never>, A extends object = object, const N extends string = string>(
  plugin: BottlePlugin<S, A> & { name: N },
): BottlePlugin<S, A> & { name: N } {
  return plugin;
}

// The public API: what `import ... from 'claude-bottle'` gives a config file
// or an in-house plugin.
import type { ConfigInput } from './core/config/schema.ts';
import type { BottlePlugin, ConfigShapes } from './core/hooks.ts';
import type { builtinSchemaExtensions, BuiltinName } from './plugins/index.ts';

type Ext = typeof builtinSchemaExtensions;

/** An entry of `plugins`: a plugin, or a falsy value (dropped), so `cond && myPlugin()` works. */
export type PluginEntry = BottlePlugin<any, any> | false | null | undefined | 0 | '';

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type ShapesOf<P> = P extends BottlePlugin<infer S, object> ? S : never;
type LevelOf<S, L extends keyof ConfigShapes> = S extends ConfigShapes ? (L extends keyof S ? NonNullable<S[L]> : never) : never;
/** The keys the in-house plugins `P` add at level `L` (none: an empty shape). */
type InHouse<P extends readonly PluginEntry[], L extends keyof ConfigShapes> = [LevelOf<ShapesOf<P[number]>, L>] extends [never] ? Record<never, never> : UnionToIntersection<LevelOf<ShapesOf<P[number]>, L>>;

/**
 * What a `bottle.config.ts` exports: every defaulted field optional, the
 * built-ins' keys and those of the in-house plugins in `plugins`.
 */
export type BottleConfig<P extends readonly PluginEntry[] = readonly PluginEntry[]> = Omit<
  ConfigInput<Ext['top'] & InHouse<P, 'top'>, Ext['agent'] & InHouse<P, 'agent'>, Ext['bottle'] & InHouse<P, 'bottle'>>,
  'plugins' | 'disable'
> & {
  /** In-house plugins, same API as the built-ins; falsy entries are dropped. */
  plugins?: P;
  /** Built-in plugins to switch off, by name. */
  disable?: BuiltinName[];
};

/** Identity function that gives `bottle.config.ts` its types (the in-house plugins' keys included). */
export function defineConfig<const P extends readonly PluginEntry[] = []>(config: BottleConfig<P>): BottleConfig<P> {
  return config;
}

export type { ResolvedConfig, ResolvedAgent, ResolvedBottle } from './core/config/schema.ts';
export { STAGE, HOOK_ORDER, definePlugin } from './core/hooks.ts';
export type { BottlePlugin, BottleHooks, PluginApi, PluginApis, ConfigShapes, ConfigSlice, PlanContext, StartContext, GuestContext, ExecContext, TeardownContext, Outcome } from './core/hooks.ts';
export type { PlanDraft, Plan, GuestFile, GuestCommand, ExecSpec, Mount, BindMount, VolumeMount, DaemonDecl } from './core/plan.ts';
export type { Door, DoorRequest, DoorDecl } from './core/doors.ts';
export { listenOnDoor, closeServer, safeSink, DOOR_GUEST_HOST } from './core/doors.ts';
export type { GuestHandle, GuestExecOptions, GuestExecResult } from './core/backends/types.ts';
export type { Bus, StepEvent, AuditEvent, WarnEvent, LogEvent } from './core/bus.ts';
export type { BuiltinName } from './plugins/index.ts';
export type { EgressApi, RouteContribution, EgressStatus } from './plugins/egress/index.ts';
export type { CaApi } from './plugins/ca/index.ts';
export type { GitGateApi, GitGateStatus } from './plugins/git-gate/index.ts';
export { BottleError } from './core/errors.ts';
export { Kernel } from './core/kernel.ts';
export * as plugins from './plugins/index.ts';

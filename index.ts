// The public API: what `import ... from 'claude-bottle'` gives a config file
// or an in-house plugin.
import type { ConfigInput } from './core/config/schema.ts';
import type { builtinSchemaExtensions } from './plugins/index.ts';

type Ext = typeof builtinSchemaExtensions;
/** What a `bottle.config.ts` exports: every defaulted field optional. */
export type BottleConfig = ConfigInput<Ext['top'], Ext['agent'], Ext['bottle']>;

/** Identity function that gives `bottle.config.ts` its types. */
export function defineConfig(config: BottleConfig): BottleConfig {
  return config;
}

export type { ResolvedConfig, ResolvedAgent, ResolvedBottle } from './core/config/schema.ts';
export { STAGE, HOOK_ORDER } from './core/hooks.ts';
export type { BottlePlugin, BottleHooks, PluginApi, PlanContext, StartContext, GuestContext, ExecContext, TeardownContext, Outcome } from './core/hooks.ts';
export type { PlanDraft, Plan, GuestFile, GuestCommand, ExecSpec, Mount, DaemonDecl } from './core/plan.ts';
export type { Door, DoorRequest, DoorDecl } from './core/doors.ts';
export { listenOnDoor, closeServer, safeSink, DOOR_GUEST_HOST } from './core/doors.ts';
export type { GuestHandle, GuestExecOptions, GuestExecResult } from './core/backends/types.ts';
export type { StepEvent, AuditEvent, WarnEvent } from './core/bus.ts';
export { BottleError } from './core/errors.ts';
export { Kernel } from './core/kernel.ts';
export * as plugins from './plugins/index.ts';

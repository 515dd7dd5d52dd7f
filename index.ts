// The public API: what `import ... from 'claude-bottle'` gives a config file
// or an in-house plugin.
export { defineConfig } from './core/config/schema.ts';
export type { BottleConfig, ResolvedConfig, ResolvedAgent, ResolvedBottle } from './core/config/schema.ts';
export { STAGE, HOOK_ORDER } from './core/hooks.ts';
export type { BottlePlugin, BottleHooks, PluginApi, PlanContext, StartContext, GuestContext, ExecContext, TeardownContext, Outcome } from './core/hooks.ts';
export type { PlanDraft, Plan, GuestFile, GuestCommand, ExecSpec, Mount, DaemonDecl } from './core/plan.ts';
export type { NetworkInfo, GuestHandle } from './core/backends/types.ts';
export type { StepEvent, AuditEvent, WarnEvent } from './core/bus.ts';
export { BottleError } from './core/errors.ts';
export { Kernel } from './core/kernel.ts';
export * as plugins from './plugins/index.ts';

// The built-in plugins: the one registry. Their order is the order they tap;
// their config keys (each plugin's `config`) make the config schema; their
// names are what `disable` accepts. Plugins find each other by name
// (`api.use`), so nothing is wired here.
import type { BottlePlugin, ConfigShapes } from '../core/hooks.ts';
import { BUILT_IN, mergeExtensions } from '../core/config/schema.ts';
import { caPlugin } from './ca/index.ts';
import { claude } from './claude/index.ts';
import { egress } from './egress/index.ts';
import { gitGate } from './git-gate/index.ts';
import { gitUser } from './git-user/index.ts';
import { prompt } from './prompt/index.ts';
import { skills } from './skills/index.ts';
import { supervise } from './supervise/index.ts';
import { workspace } from './workspace/index.ts';

export { caPlugin, claude, egress, gitGate, gitUser, prompt, skills, supervise, workspace };

const FACTORIES = [workspace, prompt, skills, gitUser, gitGate, egress, caPlugin, supervise, claude] as const;

type Builtin = ReturnType<(typeof FACTORIES)[number]>;
/** The names `disable` accepts. */
export type BuiltinName = Builtin['name'];

export function builtinPlugins(): BottlePlugin[] {
  return FACTORIES.map((f) => f() as BottlePlugin);
}

/** The names of the built-ins, in tap order. */
export const BUILTIN_NAMES: readonly string[] = builtinPlugins().map((p) => p.name);

type ShapesOf<P> = P extends BottlePlugin<infer S, object> ? S : never;
type LevelOf<S, L extends keyof ConfigShapes> = S extends ConfigShapes ? (L extends keyof S ? NonNullable<S[L]> : never) : never;
type Level<L extends keyof ConfigShapes> = UnionToIntersection<LevelOf<ShapesOf<Builtin>, L>>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** The config keys of the built-ins, merged (a key two of them share is one schema). */
export const builtinSchemaExtensions = mergeExtensions(...builtinPlugins().map((p) => ({ by: BUILT_IN, shapes: p.config ?? {} }))) as {
  top: Level<'top'>;
  agent: Level<'agent'>;
  bottle: Level<'bottle'>;
};

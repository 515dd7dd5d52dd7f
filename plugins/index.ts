// The built-in plugins, in the order they tap. `disable: [name]` in the
// config switches one off.
import type { BottlePlugin } from '../core/hooks.ts';
import type { SchemaExtensions } from '../core/config/schema.ts';
import { workspace } from './workspace/index.ts';

export { workspace };

export function builtinPlugins(): BottlePlugin[] {
  return [workspace()];
}

/** Bottle keys the built-ins add to the config schema. */
export const builtinSchemaExtensions: SchemaExtensions = { bottle: {} };

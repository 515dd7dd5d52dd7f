// The config schema: the one source of the config's types. Built-in plugins
// add their own bottle keys (egress, git, supervise) through `extensions`, so
// the kernel never names a capability.
import { z } from 'zod';
import type { BottlePlugin, ConfigShapes } from '../hooks.ts';

const pluginSchema = z.custom<BottlePlugin>(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { name?: unknown }).name === 'string' &&
    (v as { name: string }).name.length > 0 &&
    typeof (v as { apply?: unknown }).apply === 'function',
  { error: 'a plugin must be an object with a non-empty `name` and an `apply(hooks, api)` function' },
);

const nameRe = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const nameSchema = z.string().regex(nameRe, {
  error: 'names use lower-case letters, digits, "-" and "_" (at most 40, starting with a letter or digit)',
});

/** The agent keys the kernel itself reads; plugins add theirs (prompt, skills) as extensions. */
export const baseAgentShape = {
  bottle: z.string().describe('The bottle (a key of `bottles`) this agent runs in.'),
  command: z
    .array(z.string())
    .min(1, { error: 'command needs at least the program name, e.g. ["claude"]' })
    .default(['claude'])
    .describe('What runs in the bottle; `bottle run -- CMD...` overrides it.'),
};

export const baseBottleShape = {
  workspace: z
    .enum(['copy', 'mount', 'none'])
    .default('copy')
    .describe('copy: the current directory is copied in (.git included); mount: bind-mounted; none: empty.'),
  env: z.record(z.string(), z.string()).default({}).describe('Environment variables for the guest.'),
};

/** Config keys added to the schema by plugins, by level (the plugins' `config`). */
export type SchemaExtensions = ConfigShapes;

/** The config keys of one plugin, with its name for messages. */
export interface OwnedExtensions {
  by: string;
  shapes: SchemaExtensions;
}

/** The `by` of the built-ins' merged keys. */
export const BUILT_IN = '(built-in)';

const LEVEL_PATH = { top: '', agent: 'agents.<name>.', bottle: 'bottles.<name>.' } as const;

/**
 * Merges the config keys of several plugins. Two plugins may declare one key
 * only with the very same schema (shared code both import, e.g. the `git`
 * key of git-user and git-gate); anything else is an error naming both.
 */
export function mergeExtensions(...all: OwnedExtensions[]): SchemaExtensions {
  const out: { top: Record<string, z.ZodType>; agent: Record<string, z.ZodType>; bottle: Record<string, z.ZodType> } = { top: {}, agent: {}, bottle: {} };
  const owner = new Map<string, string>();
  for (const { by, shapes } of all) {
    for (const level of ['top', 'agent', 'bottle'] as const) {
      for (const [k, v] of Object.entries(shapes[level] ?? {})) {
        const id = `${level}.${k}`;
        if (k in out[level] && out[level][k] !== v) {
          const who = (n: string | undefined) => (n === BUILT_IN ? 'a built-in plugin' : `plugin "${n}"`);
          throw new Error(`${who(owner.get(id))} and ${who(by)} both define the config key ${LEVEL_PATH[level]}${k}; rename one of them`);
        }
        if (!owner.has(id)) owner.set(id, by);
        out[level][k] = v as z.ZodType;
      }
    }
  }
  return out;
}

export function createConfigSchema<T extends z.ZodRawShape = {}, A extends z.ZodRawShape = {}, B extends z.ZodRawShape = {}>(
  ext: { top?: T; agent?: A; bottle?: B } = {},
) {
  const bottleSchema = z.strictObject({ ...baseBottleShape, ...((ext.bottle ?? {}) as B) });
  const agentSchema = z.strictObject({ ...baseAgentShape, ...((ext.agent ?? {}) as A) });
  return z
    .strictObject({
      ...((ext.top ?? {}) as T),
      backend: z.enum(['docker', 'smolvm']).default('docker').describe('Sandbox backend.'),
      image: z.string().min(1).default('claude-bottle-agent:latest').describe('The agent image.'),
      agents: z
        .record(nameSchema, agentSchema)
        .refine((a) => Object.keys(a).length > 0, { error: 'define at least one agent' })
        .describe('Agents by name.'),
      bottles: z.record(nameSchema, bottleSchema).describe('Bottles (sandboxes) by name.'),
      plugins: z
        .preprocess((v) => (Array.isArray(v) ? v.filter(Boolean) : v), z.array(pluginSchema))
        .default([])
        .describe('In-house plugins, same API as the built-ins; falsy entries are dropped.'),
      disable: z.array(z.string()).default([]).describe('Names of built-in plugins to switch off.'),
    })
    .superRefine((parsed, ctx) => {
      const cfg = parsed as unknown as { agents: Record<string, { bottle: string }>; bottles: Record<string, unknown> };
      for (const [name, agent] of Object.entries(cfg.agents)) {
        if (!(agent.bottle in cfg.bottles)) {
          const known = Object.keys(cfg.bottles);
          ctx.addIssue({
            code: 'custom',
            path: ['agents', name, 'bottle'],
            message: `no bottle named "${agent.bottle}"${known.length ? ` (bottles: ${known.join(', ')})` : ' (`bottles` is empty)'}`,
          });
        }
      }
    });
}

/** An agent as the kernel sees it; plugins read their own keys with their own types. */
export type ResolvedAgent = z.output<z.ZodObject<typeof baseAgentShape>> & Record<string, unknown>;
export type ResolvedBottle = z.output<z.ZodObject<typeof baseBottleShape>> & Record<string, unknown>;
export interface ResolvedConfig {
  [key: string]: unknown;
  backend: 'docker' | 'smolvm';
  image: string;
  agents: Record<string, ResolvedAgent>;
  bottles: Record<string, ResolvedBottle>;
  plugins: BottlePlugin[];
  disable: string[];
}

/** What users write, given the schema extensions of the plugins in use. */
export type ConfigInput<T extends z.ZodRawShape = {}, A extends z.ZodRawShape = {}, B extends z.ZodRawShape = {}> = z.input<
  ReturnType<typeof createConfigSchema<T, A, B>>
>;

// The config schema: the one source of the config's types. Built-in plugins
// add their own bottle keys (egress, git, supervise) through `extensions`, so
// the kernel never names a capability.
import { z } from 'zod';
import type { BottlePlugin } from '../hooks.ts';

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

export const agentSchema = z.strictObject({
  bottle: z.string().describe('The bottle (a key of `bottles`) this agent runs in.'),
  prompt: z.string().default('').describe('System prompt text appended to the agent\'s own.'),
  skills: z.array(z.string()).default([]).describe('Names of Claude skills to install.'),
  command: z
    .array(z.string())
    .min(1, { error: 'command needs at least the program name, e.g. ["claude"]' })
    .default(['claude'])
    .describe('What runs in the bottle; `bottle run -- CMD...` overrides it.'),
});

export const baseBottleShape = {
  workspace: z
    .enum(['copy', 'mount', 'none'])
    .default('copy')
    .describe('copy: the current directory is copied in (.git included); mount: bind-mounted; none: empty.'),
  env: z.record(z.string(), z.string()).default({}).describe('Environment variables for the guest.'),
};

export interface SchemaExtensions {
  /** Extra keys of a bottle, contributed by built-in plugins: `{ egress: egressSchema }`. */
  bottle?: Record<string, z.ZodType>;
}

export function createConfigSchema(ext: SchemaExtensions = {}) {
  const extra = Object.fromEntries(Object.entries(ext.bottle ?? {}).map(([k, s]) => [k, s.optional()]));
  const bottleSchema = z.strictObject({ ...baseBottleShape, ...extra });
  return z
    .strictObject({
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
    .superRefine((cfg, ctx) => {
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

export type ResolvedAgent = z.output<typeof agentSchema>;
export type ResolvedBottle = z.output<z.ZodObject<typeof baseBottleShape>> & Record<string, unknown>;
export interface ResolvedConfig {
  backend: 'docker' | 'smolvm';
  image: string;
  agents: Record<string, ResolvedAgent>;
  bottles: Record<string, ResolvedBottle>;
  plugins: BottlePlugin[];
  disable: string[];
}

/** What users write: every defaulted field optional. */
export type BottleConfig = z.input<ReturnType<typeof createConfigSchema>>;

/** Identity function that gives `bottle.config.ts` its types. */
export function defineConfig(config: BottleConfig): BottleConfig {
  return config;
}

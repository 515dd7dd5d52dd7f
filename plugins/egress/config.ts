// The `egress` key of a bottle: the hosts it may reach, the routes that get
// a credential injected or go elsewhere, and DLP.
import { z } from 'zod';

/** Bodies are scanned up to this size by default: the Anthropic API's own request limit. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'an environment variable name, e.g. ANTHROPIC_API_KEY' });

export const injectSchema = z.strictObject({
  header: z.string().regex(/^[A-Za-z0-9-]+$/, { error: 'a header name, e.g. x-api-key' }).describe('The header the proxy sets.'),
  env: envName.describe('The host environment variable holding the real token; the guest gets a placeholder.'),
  format: z
    .string()
    .refine((f) => f.includes('{token}'), { error: 'format must contain {token}, e.g. "Bearer {token}"' })
    .optional()
    .describe('How the header value is made from the token (default: the token itself).'),
});

export type InjectConfig = z.output<typeof injectSchema>;

export const routeSchema = z.strictObject({
  host: z.string().min(1).describe('The host this route is for (allowed implicitly, always intercepted).'),
  inject: z
    .union([injectSchema, z.literal(false)])
    .optional()
    .describe('The credential the proxy puts in; `false`: none, not even one a plugin (claude) would add.'),
  upstream: z
    .url({ protocol: /^https?$/, error: 'an http:// or https:// URL, e.g. http://127.0.0.1:8080' })
    .optional()
    .describe('Send this host\'s traffic here instead (your own gateway; may be on loopback).'),
  dlp: z
    .enum(['block', 'redact'])
    .optional()
    .describe("A secret in a request body to this host: refused (block, the default) or replaced by a marker naming the rule and sent on (redact; the claude route's default)."),
});

export const dlpSchema = z.union([
  z.boolean(),
  z.strictObject({
    maxBodyBytes: z.number().int().positive().optional().describe('Bodies are scanned up to this size.'),
    oversize: z.enum(['block', 'pass']).default('block').describe('What happens to a body larger than maxBodyBytes.'),
  }),
]);

export const egressSchema = z
  .strictObject({
    allow: z.array(z.string()).default([]).describe('Hosts the guest may reach: exact, or `*.example.com` for its subdomains.'),
    routes: z.array(routeSchema).default([]).describe('Hosts with credential injection and/or another upstream.'),
    dlp: dlpSchema.default(true).describe('Scan what leaves for secrets (default on).'),
  })
  .describe('The bottle\'s only door to the network.');

export type EgressConfig = z.output<typeof egressSchema>;

export const egressShape = { egress: egressSchema.optional() };

// The `supervise` key of a bottle: `true`, or how long a request waits.
import { z } from 'zod';

/** The MCP server's port on the guest's loopback. */
export const SUPERVISE_PORT = 8767;
/** How long a request waits for the human unless configured. */
export const DEFAULT_TIMEOUT_MS = 10 * 60 * 1000;

export const superviseSchema = z
  .union([
    z.boolean(),
    z.strictObject({
      timeoutSeconds: z.number().int().positive().max(24 * 3600).default(600).describe('How long a request waits for the human.'),
    }),
  ])
  .describe('An MCP server through which the agent asks a human for what its bottle does not allow.');

export const superviseShape = { supervise: superviseSchema.optional() };

// The `claude` key of a bottle: how Claude Code runs in it.
import { z } from 'zod';

export const claudeSchema = z
  .strictObject({
    permissionPrompts: z
      .boolean()
      .default(false)
      .describe("Keep Claude Code's own permission prompts (default: off, the bottle is the boundary: IS_SANDBOX=1 and --dangerously-skip-permissions)."),
  })
  .describe('How Claude Code runs in this bottle (the claude plugin).');

export type ClaudeConfig = z.output<typeof claudeSchema>;

export const claudeShape = { claude: claudeSchema.optional() };

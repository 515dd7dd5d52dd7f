// The agent's git identity: `git.user` of a bottle.
import { z } from 'zod';

export const gitUserSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe('user.name for commits made in the bottle.'),
    email: z.string().min(1).optional().describe('user.email for commits made in the bottle.'),
  })
  .describe('The git identity of the agent.');

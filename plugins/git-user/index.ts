// git-user: the guest's git identity, `git config --global user.name/email`
// run as node with HOME=/home/node; either key alone works; nothing when unset.
import { z } from 'zod';
import type { BottlePlugin } from '../../core/hooks.ts';
import { GUEST_HOME } from '../../core/plan.ts';

export const gitUserSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe('user.name for commits made in the bottle.'),
    email: z.string().min(1).optional().describe('user.email for commits made in the bottle.'),
  })
  .describe('The git identity of the agent.');

/** The bottle's `git` key. The git gate adds `remotes` and `policy` beside `user`. */
export const gitShape = {
  git: z.strictObject({ user: gitUserSchema.optional() }).optional().describe('Git inside the bottle.'),
};
type GitFields = z.output<z.ZodObject<typeof gitShape>>;

export const gitUser = (): BottlePlugin => ({
  name: 'git-user',
  apply(hooks) {
    hooks.plan.tapPromise('git-user', async (draft, ctx) => {
      const user = (ctx.bottleConfig as typeof ctx.bottleConfig & GitFields).git?.user;
      for (const key of ['name', 'email'] as const) {
        const value = user?.[key];
        if (value === undefined) continue;
        draft.commands.push({ argv: ['git', 'config', '--global', `user.${key}`, value], user: 'node', env: { HOME: GUEST_HOME }, plugin: 'git-user' });
      }
    });
  },
});

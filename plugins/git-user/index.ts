// git-user: the guest's git identity, `git config --global user.name/email`
// run as node with HOME=/home/node; either key alone works; nothing when unset.
import type { z } from 'zod';
import type { gitUserSchema } from './schema.ts';
import type { BottlePlugin } from '../../core/hooks.ts';
import { GUEST_HOME } from '../../core/plan.ts';

type GitFields = { git?: { user?: z.output<typeof gitUserSchema> } };

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

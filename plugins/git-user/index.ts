// git-user: the guest's git identity, `git config --global user.name/email`
// run as node with HOME=/home/node; either key alone works; nothing when unset.
import { definePlugin } from '../../core/hooks.ts';
import { GUEST_HOME } from '../../core/plan.ts';
import { gitShape } from '../../lib/git-config.ts';

export const gitUser = () =>
  definePlugin({
    name: 'git-user',
    config: { bottle: gitShape },
    apply(hooks, { config }) {
      hooks.plan.tapPromise('git-user', async (draft) => {
        const user = config.bottle.git?.user;
        for (const key of ['name', 'email'] as const) {
          const value = user?.[key];
          if (value === undefined) continue;
          draft.commands.push({ argv: ['git', 'config', '--global', `user.${key}`, value], user: 'node', env: { HOME: GUEST_HOME }, plugin: 'git-user' });
        }
      });
    },
  });

// workspace: what the agent finds in /home/node/workspace. `copy` copies the
// directory `bottle` runs in (everything, .git included, mtimes kept so git's
// index still matches) through the one provisioning tar; `mount` bind-mounts
// it; `none` leaves it empty.
import { lstat } from 'node:fs/promises';
import path from 'node:path';
import type { BottlePlugin } from '../../core/hooks.ts';

export const workspace = (): BottlePlugin => ({
  name: 'workspace',
  apply(hooks) {
    hooks.plan.tapPromise('workspace', async (draft, ctx) => {
      const { mode, hostDir, guestDir } = draft.workspace;
      if (mode === 'copy') {
        draft.files.push({ hostPath: hostDir, guestPath: guestDir, owner: 'node', plugin: 'workspace' });
        // A worktree's or submodule's .git is a file pointing elsewhere on the host.
        const dotGit = await lstat(path.join(hostDir, '.git')).catch(() => undefined);
        if (dotGit?.isFile()) ctx.warn('the workspace .git is a link to a git dir elsewhere (a worktree or submodule); git will not work on the copy in the bottle');
      } else if (mode === 'mount') {
        draft.mounts.push({ hostPath: hostDir, guestPath: guestDir, readOnly: false });
      }
    });
  },
});

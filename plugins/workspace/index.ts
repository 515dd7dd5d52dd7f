// workspace: what the agent finds in /home/node/workspace. `copy` copies the
// directory `bottle` runs in (everything, .git included, mtimes kept so git's
// index still matches) through the one provisioning tar; `mount` bind-mounts
// it; `none` leaves it empty.
//
// In `mount` mode the agent writes into a host directory, so nothing there
// that the host runs or reads as config may be the agent's (mount-guard.ts):
// the repository's `.git` is never mounted (the guest gets a copy of its own),
// and bottle's config files are mounted read-only.
import { lstat, mkdir, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { definePlugin } from '../../core/hooks.ts';
import { guardMountedWorkspace } from './mount-guard.ts';

export const workspace = () => definePlugin({
  name: 'workspace',
  apply(hooks) {
    /** The empty `.git` made on the host to hold the guest's own, when the workspace had none. */
    let placeholder: string | undefined;
    hooks.plan.tapPromise('workspace', async (draft, ctx) => {
      const { mode, hostDir, guestDir } = draft.workspace;
      if (mode === 'copy') {
        draft.files.push({ hostPath: hostDir, guestPath: guestDir, owner: 'node', plugin: 'workspace' });
        // A worktree's or submodule's .git is a file pointing elsewhere on the host.
        const dotGit = await lstat(path.join(hostDir, '.git')).catch(() => undefined);
        if (dotGit?.isFile()) ctx.warn('the workspace .git is a link to a git dir elsewhere (a worktree or submodule); git will not work on the copy in the bottle');
      } else if (mode === 'mount') {
        draft.mounts.push({ hostPath: hostDir, guestPath: guestDir, readOnly: false });
        const guard = await guardMountedWorkspace(draft, ctx);
        placeholder = guard.placeholder;
        for (const w of guard.warnings) ctx.warn(w);
      }
    });
    hooks.preStart.tapPromise('workspace', async (ctx) => {
      if (!placeholder) return;
      const dir = placeholder;
      // Holds the mount point of the guest's own .git, so the agent cannot
      // make a repository of the host's (whose config the host's git would run).
      await mkdir(dir, { mode: 0o755 });
      ctx.onUndo('remove the placeholder .git', () => rmdir(dir).catch(() => {}));
    });
  },
});

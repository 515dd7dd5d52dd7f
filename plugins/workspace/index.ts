// workspace: what the agent finds in /home/node/workspace. `copy` copies the
// directory `bottle` runs in (everything, .git included) through the one
// provisioning tar; `mount` bind-mounts it; `none` leaves it empty.
import type { BottlePlugin } from '../../core/hooks.ts';

export const workspace = (): BottlePlugin => ({
  name: 'workspace',
  apply(hooks) {
    hooks.plan.tapPromise('workspace', async (draft) => {
      const { mode, hostDir, guestDir } = draft.workspace;
      if (mode === 'copy') {
        draft.files.push({ hostPath: hostDir, guestPath: guestDir, owner: 'node', plugin: 'workspace' });
      } else if (mode === 'mount') {
        draft.mounts.push({ hostPath: hostDir, guestPath: guestDir, readOnly: false });
      }
    });
  },
});

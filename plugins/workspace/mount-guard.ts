// What `workspace: mount` keeps out of the agent's reach. The agent writes
// into the host directory; the host later runs git and bottle there. So:
//
// - `.git` is never the host's in the guest. Git on the host runs what its
//   repository says (core.fsmonitor, core.pager, hooks, filter and diff
//   drivers, aliases; and `commondir` or `gitdir` files move all of that
//   elsewhere), so no part of it can be left writable. The guest gets a
//   volume of its own at `.git` with a copy of the host's repository: the
//   agent's edits to the files show up on the host as uncommitted changes;
//   its commits stay in the bottle unless pushed through the git gate. A
//   workspace without `.git` gets an empty one (made on the host for the
//   duration, removed after) so the agent cannot create one there either.
// - bottle's config files present at the workspace root are mounted
//   read-only. A config file created or changed anyway (a new name, a
//   module it imports) is refused by the config loader, which knows when
//   bottles had the directory mounted (core/writable-mounts.ts).
// - a `bottle` installed inside the workspace (node_modules) could be
//   rewritten by the agent before the user's next `npx bottle`: warned.
import { existsSync, readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILES, LOOKS_LIKE_CONFIG } from '../../core/config/load.ts';
import type { PlanContext } from '../../core/hooks.ts';
import { GUEST_HOME, type PlanDraft } from '../../core/plan.ts';

export interface MountGuard {
  /** `.git` to create on the host for the guest's own (the workspace has none). */
  placeholder?: string;
  warnings: string[];
}

/** Config file names at a workspace root that are mounted read-only (package.json stays writable: npm edits it; the loader still checks it). */
const isConfigName = (n: string) => n !== 'package.json' && (CONFIG_FILES.includes(n) || LOOKS_LIKE_CONFIG.test(n));

export async function guardMountedWorkspace(draft: PlanDraft, ctx: Pick<PlanContext, 'configError' | 'configFiles'>): Promise<MountGuard> {
  const { hostDir, guestDir } = draft.workspace;
  const warnings: string[] = [];
  let placeholder: string | undefined;
  const hostGit = path.join(hostDir, '.git');
  const guestGit = `${guestDir}/.git`;
  const git = await lstat(hostGit).catch(() => undefined);
  if (git?.isSymbolicLink()) {
    throw ctx.configError(`bottles.${draft.bottle}.workspace`, `mount: ${hostGit} is a symbolic link; bottle cannot keep the repository it points to out of the agent's reach`, "use workspace: 'copy', or replace the link by the repository itself");
  }
  if (git?.isFile()) {
    // A worktree's or submodule's pointer to a git dir elsewhere (not mounted): read-only, so it cannot be pointed at one the agent makes.
    draft.mounts.push({ hostPath: hostGit, guestPath: guestGit, readOnly: true });
    warnings.push('the workspace .git is a link to a git dir elsewhere (a worktree or submodule); git will not work in the bottle');
  } else {
    draft.mounts.push({ kind: 'volume', guestPath: guestGit });
    if (git?.isDirectory()) draft.files.push({ hostPath: hostGit, guestPath: guestGit, owner: 'node', plugin: 'workspace' });
    else placeholder = hostGit;
    // The volume's root is root's (tar keeps an existing dir's owner); the
    // work tree is the host user's, which git would call dubious ownership.
    draft.commands.push({ argv: ['chown', 'node:node', guestGit], title: 'give the guest its own .git', user: 'root', plugin: 'workspace' });
    draft.commands.push({ argv: ['git', 'config', '--global', '--add', 'safe.directory', guestDir], user: 'node', env: { HOME: GUEST_HOME }, plugin: 'workspace' });
  }
  let names: string[] = [];
  try {
    names = await readdir(hostDir);
  } catch {
    // unreadable: docker will say so
  }
  for (const name of names.filter(isConfigName).sort()) {
    const st = await lstat(path.join(hostDir, name)).catch(() => undefined);
    if (st?.isFile()) draft.mounts.push({ hostPath: path.join(hostDir, name), guestPath: `${guestDir}/${name}`, readOnly: true });
  }
  // The config and every module of the workspace it loaded: what the next `bottle` runs.
  const bound = new Set(draft.mounts.map((m) => (m.kind === 'volume' ? '' : m.hostPath)));
  for (const file of ctx.configFiles) {
    if (!isInside(file, hostDir) || file === hostDir || bound.has(file) || isInside(file, hostGit)) continue;
    const st = await lstat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    draft.mounts.push({ hostPath: file, guestPath: `${guestDir}/${path.relative(hostDir, file).split(path.sep).join('/')}`, readOnly: true });
    bound.add(file);
  }
  const own = ownPackageRoot();
  if (own && isInside(own, hostDir)) {
    warnings.push(`bottle itself is installed inside the mounted workspace (${path.relative(hostDir, own)}): the agent can rewrite it before your next \`npx bottle\`. Install it outside the project (npm install -g claude-bottle) or use workspace: 'copy'`);
  }
  return { ...(placeholder ? { placeholder } : {}), warnings };
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The directory of the claude-bottle package this code runs from (source checkout or installed). */
function ownPackageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'claude-bottle') return dir;
      } catch {
        // not ours
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

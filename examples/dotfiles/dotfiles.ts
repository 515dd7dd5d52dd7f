// dotfiles: an example in-house plugin. It copies your dotfiles from a host
// directory into the guest's home (/home/node, owned by node, modes kept) and
// runs an optional setup command there, as node, once they are in.
//
//   plan       checks the options and the directory, declares the files (no side effects)
//   provision  runs the setup command in the guest, records an audit event
//
// It changes nothing on the host, so it registers no undo: the files and
// whatever the setup command does go away with the guest.
//
// Only types come from 'claude-bottle' (they vanish when Node strips them),
// so this file runs as it is, wherever it lives.
import { access, constants, lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { BottlePlugin } from 'claude-bottle';

export interface DotfilesOptions {
  /** Host directory whose entries land in /home/node. `~` is your home; a relative path is relative to the config file. */
  dir: string;
  /** Run in the guest as node, in /home/node, after the files are in: a shell line (run by `sh -c`) or an argv. */
  setup?: string | string[];
}

const NAME = 'dotfiles';
const GUEST_HOME = '/home/node';
/** Copied if present (they are yours to hand over), but never silently. */
const CREDENTIALS = ['.ssh', '.aws', '.gnupg', '.netrc', '.git-credentials', '.docker', '.kube'];

export function dotfiles(options: DotfilesOptions): BottlePlugin {
  // Mistakes in the options themselves surface when the config is loaded.
  const o = options as Partial<DotfilesOptions> | undefined;
  if (typeof o?.dir !== 'string' || !o.dir.trim()) {
    throw new TypeError(`${NAME}({ dir }): \`dir\` must be a non-empty string, the host directory holding your dotfiles`);
  }
  const setup = o.setup === undefined ? undefined : typeof o.setup === 'string' ? ['sh', '-c', o.setup] : o.setup;
  if (setup !== undefined && (!Array.isArray(setup) || !setup.length || !setup.every((a) => typeof a === 'string') || !setup[0])) {
    throw new TypeError(`${NAME}({ setup }): \`setup\` must be a shell line or a non-empty array of strings`);
  }
  const dirOption = o.dir;
  const shown = typeof o.setup === 'string' ? o.setup : setup?.join(' ');

  return {
    name: NAME,
    apply(hooks, { bus }) {
      hooks.plan.tapPromise(NAME, async (draft, ctx) => {
        const dir = resolveHostPath(dirOption, draft.configDir, ctx.hostEnv.HOME);
        const fail = (message: string, hint?: string) => ctx.configError('plugins', `${NAME}({ dir: ${JSON.stringify(dirOption)} }): ${message}`, hint);

        const st = await lstat(dir).catch(() => undefined);
        if (!st) throw fail(`${dir} does not exist`, 'create it, or point `dir` at your dotfiles (a relative path is relative to the config file)');
        if (!st.isDirectory()) throw fail(`${dir} is not a directory`, '`dir` names a directory whose entries go into /home/node');

        const real = await realpath(dir);
        const names = (await readdir(dir)).sort();
        if (!names.length) bus.emit('warn', { plugin: NAME, message: `${dir} is empty; no dotfiles to install` });
        for (const name of names) {
          const guestPath = `${GUEST_HOME}/${name}`;
          if (guestPath === draft.workspace.guestDir) {
            throw fail(`${path.join(dir, name)} would land on the workspace (${guestPath})`, 'rename or move it out of the dotfiles directory');
          }
          if (CREDENTIALS.includes(name)) {
            bus.emit('warn', { plugin: NAME, message: `${name} looks like credentials; the agent can read everything ${NAME} copies in` });
          }
          // Found now, not half-way through the copy.
          const problem = await unfit(real, path.join(dir, name));
          if (problem) throw fail(problem, 'copy the file into the dotfiles directory instead of linking to it, or fix its permissions');
          // No `mode`: host modes are kept. No `replace`: merged into what the image has (~/.claude, ...).
          draft.files.push({ hostPath: path.join(dir, name), guestPath, owner: 'node', plugin: NAME });
        }
      });

      hooks.provision.tapPromise(NAME, async (ctx) => {
        // The planned files are in by now; the plan says which they were.
        const files = ctx.plan.files.filter((f) => f.plugin === NAME).map((f) => f.guestPath);
        bus.emit('audit', { type: 'dotfiles.installed', plugin: NAME, files });
        if (!setup) return;

        const t0 = performance.now();
        const r = await ctx.guest.exec(setup, { user: 'node', env: { HOME: GUEST_HOME }, workdir: GUEST_HOME, signal: ctx.signal });
        bus.emit('audit', { type: 'dotfiles.setup', plugin: NAME, argv: setup, exitCode: r.exitCode, durationMs: Math.round(performance.now() - t0) });
        if (r.exitCode !== 0) {
          const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' / ');
          // The kernel prefixes it: `plugin "dotfiles" failed in provision: ...`, exit 1, then tears down.
          throw new Error(`setup command \`${shown}\` failed in the guest (exit ${r.exitCode})${said ? `: ${said}` : ''}`);
        }
      });
    },
  };
}

/** `~` is the host user's home; anything else relative is relative to the config file. */
function resolveHostPath(p: string, configDir: string, home: string | undefined): string {
  if (home && (p === '~' || p.startsWith('~/'))) return path.join(home, p.slice(1));
  return path.resolve(configDir, p);
}

/**
 * Why `p` cannot be copied as it is, or undefined. Symlinks are copied as
 * symlinks, so one must be relative and stay inside the dotfiles directory
 * (`root`, a real path): anything else dangles in the guest. Everything must
 * be readable.
 */
async function unfit(root: string, p: string): Promise<string | undefined> {
  const st = await lstat(p);
  if (st.isSymbolicLink()) {
    const target = await readlink(p);
    const real = await realpath(p).catch(() => undefined);
    const inside = real !== undefined && (real === root || real.startsWith(root + path.sep));
    return path.isAbsolute(target) || !inside ? `${p} is a symlink to ${target}, which is not inside the dotfiles directory` : undefined;
  }
  if (st.isDirectory()) {
    const names = await readdir(p).catch(() => undefined);
    if (!names) return `${p} is not readable`;
    for (const name of names) {
      const problem = await unfit(root, path.join(p, name));
      if (problem) return problem;
    }
    return undefined;
  }
  if (st.isFile()) {
    return (await access(p, constants.R_OK).then(() => true, () => false)) ? undefined : `${p} is not readable`;
  }
  return undefined; // sockets, fifos and devices are not copied
}

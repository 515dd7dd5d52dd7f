// dotfiles: an example in-house plugin. It copies your dotfiles from a host
// directory into the guest's home (/home/node, owned by node, modes kept) and
// runs an optional setup command there, as node, once they are in. Its
// settings are a config key of its own, `dotfiles`, typed and checked with
// the rest of the config:
//
//   dotfiles: { dir: '~/dotfiles', setup: 'git config --global init.defaultBranch main' }
//
//   plan       checks the directory, declares the files (no side effects)
//   provision  runs the setup command in the guest, records an audit event
//
// It changes nothing on the host, so it registers no undo: the files and
// whatever the setup command does go away with the guest.
//
// Only types come from 'claude-bottle' (they vanish when Node strips them),
// so this file runs as it is, wherever it lives; the config shape is a zod 4
// schema.
import { access, constants, lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { BottlePlugin, ConfigShapes } from 'claude-bottle';
import { z } from 'zod';

const NAME = 'dotfiles';
const GUEST_HOME = '/home/node';
/** Copied if present (they are yours to hand over), but never silently. */
const CREDENTIALS = ['.ssh', '.aws', '.gnupg', '.netrc', '.git-credentials', '.docker', '.kube'];

/** The top-level key this plugin adds: off when absent. */
export const dotfilesConfig = {
  top: {
    dotfiles: z
      .strictObject({
        dir: z.string().trim().min(1).describe('Host directory whose entries land in /home/node. `~` is your home; a relative path is relative to the config file.'),
        setup: z
          .union([z.string().min(1), z.array(z.string()).min(1).refine((a) => a[0] !== '', { error: 'the program name is empty' })])
          .optional()
          .describe('Run in the guest as node, in /home/node, after the files are in: a shell line (run by `sh -c`) or an argv.'),
      })
      .optional()
      .describe('Your dotfiles, copied into every bottle (everything copied in can be read by the agent).'),
  },
} satisfies ConfigShapes;

export function dotfiles(): BottlePlugin<typeof dotfilesConfig> {
  return {
    name: NAME,
    config: dotfilesConfig,
    apply(hooks, { bus, config }) {
      // `config` is this plugin's slice of the validated config: `config.top.dotfiles`, typed from the shape above.
      hooks.plan.tapPromise(NAME, async (draft, ctx) => {
        const opts = config.top.dotfiles;
        if (!opts) return;
        const dir = resolveHostPath(opts.dir, draft.configDir, ctx.hostEnv.HOME);
        const fail = (message: string, hint?: string) => ctx.configError('dotfiles.dir', message, hint);

        const st = await lstat(dir).catch(() => undefined);
        if (!st) throw fail(`${dir} does not exist`, 'create it, or point `dir` at your dotfiles (a relative path is relative to the config file)');
        if (!st.isDirectory()) throw fail(`${dir} is not a directory`, '`dir` names a directory whose entries go into /home/node');

        const real = await realpath(dir);
        const names = (await readdir(dir)).sort();
        if (!names.length) ctx.warn(`${dir} is empty; no dotfiles to install`);
        for (const name of names) {
          const guestPath = `${GUEST_HOME}/${name}`;
          if (guestPath === draft.workspace.guestDir) {
            throw fail(`${path.join(dir, name)} would land on the workspace (${guestPath})`, 'rename or move it out of the dotfiles directory');
          }
          if (CREDENTIALS.includes(name)) {
            ctx.warn(`${name} looks like credentials; the agent can read everything ${NAME} copies in`);
          }
          // Found now, not half-way through the copy.
          const problem = await unfit(real, path.join(dir, name));
          if (problem) throw fail(problem, 'copy the file into the dotfiles directory instead of linking to it, or fix its permissions');
          // No `mode`: host modes are kept. No `replace`: merged into what the image has (~/.claude, ...).
          // No `plugin`: the kernel fills in the tap's.
          draft.files.push({ hostPath: path.join(dir, name), guestPath, owner: 'node' });
        }
      });

      hooks.provision.tapPromise(NAME, async (ctx) => {
        const opts = config.top.dotfiles;
        if (!opts) return;
        // The planned files are in by now; the plan says which they were.
        const files = ctx.plan.files.filter((f) => f.plugin === NAME).map((f) => f.guestPath);
        bus.emit('audit', { type: 'dotfiles.installed', plugin: NAME, files });
        if (opts.setup === undefined) return;
        const setup = typeof opts.setup === 'string' ? ['sh', '-c', opts.setup] : opts.setup;

        const t0 = performance.now();
        const r = await ctx.guest.exec(setup, { user: 'node', env: { HOME: GUEST_HOME }, workdir: GUEST_HOME, signal: ctx.signal });
        bus.emit('audit', { type: 'dotfiles.setup', plugin: NAME, argv: setup, exitCode: r.exitCode, durationMs: Math.round(performance.now() - t0) });
        if (r.exitCode !== 0) {
          const said = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' / ');
          const shown = typeof opts.setup === 'string' ? opts.setup : setup.join(' ');
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

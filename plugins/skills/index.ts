// skills: each named Claude skill directory from the host replaces
// /home/node/.claude/skills/<name> in the guest (CLAUDE_BOTTLE_GUEST_SKILLS_DIR
// overrides the guest dir), owned by node, nested files and modes kept. All of
// them go in with the one provisioning tar. Every mistake is found at plan time.
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { definePlugin, type PlanContext } from '../../core/hooks.ts';
import { resolveUserPath } from '../../core/paths.ts';

export const DEFAULT_GUEST_SKILLS_DIR = '/home/node/.claude/skills';

export const skillsTopShape = {
  skillsDir: z.string().min(1).default('~/.claude/skills').describe('Where host skills live; relative to the config file.'),
};
export const skillsAgentShape = {
  skills: z.array(z.string()).default([]).describe('Names of skill directories under `skillsDir` to install.'),
};

/** A skill name is one directory name: no separators, not `.` or `..`. */
export function badSkillName(name: string): string | undefined {
  if (!name.trim()) return 'is empty';
  if (/[/\\]/.test(name)) return 'has a path separator';
  if (name === '.' || name === '..' || name.includes('..')) return 'contains ".."';
  if (name.includes('\0')) return 'has a NUL byte';
  return undefined;
}

/** The first symlink under `dir` that leads outside it (or nowhere), if any. */
export async function escapingLink(dir: string): Promise<{ link: string; target: string } | undefined> {
  const root = await realpath(dir);
  const walk = async (d: string): Promise<{ link: string; target: string } | undefined> => {
    for (const name of await readdir(d)) {
      const p = path.join(d, name);
      const st = await lstat(p);
      if (st.isSymbolicLink()) {
        const target = await readlink(p);
        let real: string;
        try {
          real = await realpath(p);
        } catch {
          return { link: p, target: `${target} (which does not exist)` };
        }
        if (real !== root && !real.startsWith(root + path.sep)) return { link: p, target };
      } else if (st.isDirectory()) {
        const found = await walk(p);
        if (found) return found;
      }
    }
    return undefined;
  };
  return walk(root);
}

function guestSkillsDir(ctx: PlanContext): string {
  const dir = ctx.hostEnv.CLAUDE_BOTTLE_GUEST_SKILLS_DIR || DEFAULT_GUEST_SKILLS_DIR;
  if (!path.posix.isAbsolute(dir) || dir.split('/').includes('..')) {
    throw ctx.configError('', `CLAUDE_BOTTLE_GUEST_SKILLS_DIR must be an absolute guest path without "..", got "${dir}"`);
  }
  return dir.replace(/\/+$/, '');
}

export const skills = () =>
  definePlugin({
    name: 'skills',
    config: { top: skillsTopShape, agent: skillsAgentShape },
    apply(hooks, { config }) {
      hooks.plan.tapPromise('skills', async (draft, ctx) => {
        const names = config.agent.skills;
        if (!names.length) return;
        const hostDir = resolveUserPath(config.top.skillsDir, draft.configDir, ctx.hostEnv.HOME);
        const guestDir = guestSkillsDir(ctx);
        for (const [i, name] of names.entries()) {
          const field = `agents.${draft.agent}.skills[${i}]`;
          const bad = badSkillName(name);
          if (bad) throw ctx.configError(field, `"${name}" is not a skill name: it ${bad}`, 'name a directory directly under skillsDir');
          const host = path.join(hostDir, name);
          const st = await lstat(host).catch(() => undefined);
          if (!st?.isDirectory()) {
            throw ctx.configError(field, `no skill "${name}" in ${hostDir} (${host} ${st ? 'is not a directory' : 'does not exist'})`, 'create it (with a SKILL.md), fix the name, or set `skillsDir`');
          }
          const escape = await escapingLink(host);
          if (escape) {
            throw ctx.configError(field, `skill "${name}" has a symlink that leads outside it: ${path.relative(host, escape.link)} -> ${escape.target}`, 'copy the file into the skill instead of linking to it');
          }
          draft.files.push({ hostPath: host, guestPath: `${guestDir}/${name}`, owner: 'node', replace: true, plugin: 'skills' });
        }
      });
    },
  });

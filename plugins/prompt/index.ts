// prompt: the agent's system prompt. Always put in the guest (node:node, 600)
// at /home/node/.claude-bottle-prompt.txt, kept host-side in the state dir
// (0600); claude gets `--append-system-prompt-file` only when it is non-empty.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { definePlugin } from '../../core/hooks.ts';
import { resolveUserPath } from '../../core/paths.ts';
import type { Plan } from '../../core/plan.ts';

export const PROMPT_GUEST_PATH = '/home/node/.claude-bottle-prompt.txt';
export const PROMPT_FLAG = '--append-system-prompt-file';

export const promptAgentShape = {
  prompt: z.string().default('').describe('System prompt text appended to the agent\'s own.'),
  promptFile: z.string().min(1).optional().describe('A file holding the prompt, relative to the config file (instead of `prompt`).'),
};

/** The prompt text the plan carries. */
export function plannedPrompt(plan: Plan): string | undefined {
  const f = plan.files.find((x) => x.plugin === 'prompt' && x.guestPath === PROMPT_GUEST_PATH);
  return f?.content === undefined ? undefined : String(f.content);
}

/** claude, by any path: `claude`, `/usr/local/bin/claude`. */
export const isClaude = (argv0: string | undefined) => argv0 !== undefined && path.posix.basename(argv0) === 'claude';

export const prompt = () =>
  definePlugin({
    name: 'prompt',
    config: { agent: promptAgentShape },
    apply(hooks, { config }) {
      hooks.plan.tapPromise('prompt', async (draft, ctx) => {
        const agent = config.agent;
        let text = agent.prompt;
        if (agent.promptFile) {
          if (agent.prompt) throw ctx.configError(`agents.${draft.agent}`, 'set `prompt` or `promptFile`, not both');
          const file = resolveUserPath(agent.promptFile, draft.configDir, ctx.hostEnv.HOME);
          try {
            text = await readFile(file, 'utf8');
          } catch (e) {
            throw ctx.configError(`agents.${draft.agent}.promptFile`, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'the path is relative to the config file');
          }
        }
        // Always there, even empty: the path the agent is told about must exist.
        draft.files.push({ guestPath: PROMPT_GUEST_PATH, content: text, owner: 'node', mode: 0o600, plugin: 'prompt' });
      });

      hooks.preStart.tapPromise('prompt', async (ctx) => {
        await writeFile(path.join(ctx.stateDir, 'prompt.txt'), plannedPrompt(ctx.plan) ?? '', { mode: 0o600 });
      });

      hooks.exec.tapPromise('prompt', async (spec, ctx) => {
        const text = plannedPrompt(ctx.plan);
        if (text && isClaude(spec.argv[0]) && !spec.argv.includes(PROMPT_FLAG)) {
          spec.argv.splice(1, 0, PROMPT_FLAG, PROMPT_GUEST_PATH);
        }
        return spec;
      });
    },
  });

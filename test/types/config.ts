// What an editor tells a config author: checked by tsc against the built
// declarations, in a project without @types/node (types.test.ts runs it).
// Each @ts-expect-error must be an error, or tsc fails ("unused directive").
import { defineConfig, definePlugin } from 'claude-bottle';
import { z } from 'zod';

defineConfig({
  agents: { dev: { bottle: 'box', skills: ['review'], prompt: 'Be brief.' } },
  bottles: { box: { workspace: 'mount', egress: { allow: ['registry.npmjs.org'] }, supervise: true, git: { user: { name: 'A' } } } },
  disable: ['skills', 'supervise'],
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  bottles: { box: {} },
  // @ts-expect-error -- a typo in `disable` names no built-in
  disable: ['egres'],
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  bottles: { box: {} },
  // @ts-expect-error -- `plugins` takes plugins (and falsy values), not numbers
  plugins: [42],
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  // @ts-expect-error -- a wrong option type: workspace is 'copy' | 'mount' | 'none'
  bottles: { box: { workspace: 'shared' } },
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  // @ts-expect-error -- an unknown key of a bottle
  bottles: { box: { egres: {} } },
});

// An in-house plugin's own keys are known to the config that uses it.
const ticket = definePlugin({
  name: 'ticket',
  config: { bottle: { ticket: z.string().describe('The ticket the agent works on.').optional() } },
  apply(hooks, api) {
    hooks.plan.tap('ticket', (draft) => {
      const t: string | undefined = api.config.bottle.ticket;
      if (t) draft.env.TICKET = t;
    });
  },
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  bottles: { box: { ticket: 'ABC-1' } },
  plugins: [ticket, process.env.CI === 'x' && ticket],
});

defineConfig({
  agents: { dev: { bottle: 'box' } },
  // @ts-expect-error -- the plugin's key has its plugin's type
  bottles: { box: { ticket: 7 } },
  plugins: [ticket],
});

declare const process: { env: Record<string, string | undefined> };

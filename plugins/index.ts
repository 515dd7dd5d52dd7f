// The built-in plugins, in the order they tap, and the config keys they add.
// `disable: [name]` in the config switches one off.
import type { BottlePlugin } from '../core/hooks.ts';
import { caPlugin } from './ca/index.ts';
import { claude, claudeShape } from './claude/index.ts';
import { egress, egressShape } from './egress/index.ts';
import { gitShape } from './git-gate/config.ts';
import { gitGate } from './git-gate/index.ts';
import { gitUser } from './git-user/index.ts';
import { prompt, promptAgentShape } from './prompt/index.ts';
import { skills, skillsAgentShape, skillsTopShape } from './skills/index.ts';
import { supervise, superviseShape } from './supervise/index.ts';
import { workspace } from './workspace/index.ts';

export { caPlugin, claude, egress, gitGate, gitUser, prompt, skills, supervise, workspace };

export function builtinPlugins(): BottlePlugin[] {
  // The egress proxy gets the bottle's CA by injection: one CA per kernel.
  const ca = caPlugin();
  const gate = gitGate();
  const proxy = egress({ ca });
  // supervise changes the running proxy and gate when a human approves.
  // claude adds the credential route to the proxy.
  return [workspace(), prompt(), skills(), gitUser(), gate, proxy, ca, supervise({ egress: proxy, gitGate: gate }), claude({ egress: proxy })];
}

/** Config keys the built-ins add to the schema (they are accepted even when the plugin is disabled). */
export const builtinSchemaExtensions = {
  top: { ...skillsTopShape },
  agent: { ...promptAgentShape, ...skillsAgentShape },
  bottle: { ...gitShape, ...egressShape, ...superviseShape, ...claudeShape },
};

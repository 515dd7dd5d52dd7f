// conditional-host: an example in-house plugin. It lets the guest reach one
// more host through the egress proxy, but only while a variable is set in
// the environment `bottle` runs in:
//
//   bottles.dev.extraHost: 'api.example.com'     the host (or `*.example.com`)
//   EXTRA_HOST_ON=1 npx bottle run                switched on for this run
//
// It does not touch the config (that is frozen): it contributes the host to
// the egress plugin's plan through egress's api, which it declares as a
// dependency, so a config that disables egress is refused up front with a
// message naming both plugins.
//
// Only types come from 'claude-bottle' (Node strips them), so this file runs
// wherever it lives; the config shapes are zod 4 schemas.
import type { BottlePlugin, ConfigShapes } from 'claude-bottle';
import { z } from 'zod';

const NAME = 'conditional-host';

/** A host or `*.` pattern as a person writes one; egress canonicalises and checks it further. */
const HOST = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The keys this plugin adds to every bottle; `defineConfig` types them, the schema checks them and fills the defaults. */
export const conditionalHostConfig = {
  bottle: {
    extraHost: z
      .string()
      .regex(HOST, { error: 'a host name or `*.example.com`, without scheme, port or path' })
      .optional()
      .describe('A host (or `*.example.com`) the guest may reach through the egress proxy, only while the switch variable is set on the host.'),
    extraHostSwitch: z
      .string()
      .regex(ENV_NAME, { error: 'an environment variable name' })
      .default('EXTRA_HOST_ON')
      .describe('The host environment variable that switches `extraHost` on: set and not empty.'),
  },
} satisfies ConfigShapes;

export function conditionalHost(): BottlePlugin<typeof conditionalHostConfig> {
  return {
    name: NAME,
    config: conditionalHostConfig,
    // `api.use('egress')` needs it; the kernel refuses to load this plugin when egress is disabled.
    dependencies: ['egress'],
    apply(hooks, api) {
      // A sync tap: planning here reads and decides, it does no I/O.
      hooks.plan.tap(NAME, (draft, ctx) => {
        const { extraHost, extraHostSwitch } = api.config.bottle;
        if (!extraHost) return;
        const at = `bottles.${draft.bottle}.extraHost`;
        if (!ctx.hostEnv[extraHostSwitch]) {
          api.bus.emit('log', { plugin: NAME, message: `${at} (${extraHost}) stays closed: ${extraHostSwitch} is not set` });
          return;
        }
        // Any plan stage will do: egress settles what it was given once every plan tap has run.
        api.use('egress').allowHost(extraHost, NAME);
        // Held by the kernel until the bottle's audit log exists; `bottle plan` records nothing.
        api.bus.emit('audit', { type: 'conditional-host.allowed', plugin: NAME, host: extraHost, switch: extraHostSwitch });
      });
    },
  };
}

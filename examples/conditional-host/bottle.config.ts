// A project's bottle.config.ts using the conditional-host example plugin.
// In your project, copy conditional-host.ts next to this file and import it.
//
//   npx bottle run                       api.example.com is refused (403)
//   EXTRA_HOST_ON=1 npx bottle run       api.example.com is allowed for this run
//
// Only types come from 'claude-bottle', so this file also runs from a clone
// of the repository; with claude-bottle installed, `export default
// defineConfig({ ... })` types it the same way.
import type { BottleConfig } from 'claude-bottle';
import { conditionalHost } from './conditional-host.ts';

const plugins = [conditionalHost()];

export default {
  agents: {
    claude: { bottle: 'dev' },
  },
  bottles: {
    dev: {
      egress: { allow: ['registry.npmjs.org'] },
      // The plugin's own keys, typed and checked like the built-ins' (a number here is exit 2).
      extraHost: 'api.example.com',
      extraHostSwitch: 'EXTRA_HOST_ON', // the default, shown
    },
  },
  plugins,
} satisfies BottleConfig<typeof plugins>;

// A project's bottle.config.ts using the kv example plugin (a host daemon
// with its own door). In your project, copy kv-store.ts next to this file.
//
//   npx bottle plan            shows the door (127.0.0.1:7070 -> kv.sock) and the daemon
//   npx bottle run -- sh -c 'curl -s $KV_URL/kv/greeting'
//
// Only types come from 'claude-bottle' here, so this file also runs from a
// clone of the repository; with claude-bottle installed, `export default
// defineConfig({ ... })` types it the same way.
import type { BottleConfig } from 'claude-bottle';
import { kvStore } from './kv-store.ts';

const plugins = [kvStore()];

export default {
  agents: {
    claude: { bottle: 'dev' },
  },
  bottles: {
    dev: {
      // The plugin's key: every field has a default but `saveTo`; `kv: {}` is enough.
      kv: {
        port: 7070,
        seed: { greeting: 'hello from the host' },
        saveTo: './kv-store.json', // what the agent left, after the bottle ends
      },
    },
  },
  plugins,
} satisfies BottleConfig<typeof plugins>;

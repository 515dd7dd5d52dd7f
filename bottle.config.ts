// The bottle this repository's own contributors use: Claude Code on a copy
// of the repo. `npx bottle run` picks it up; `npx bottle plan` shows it.
import { defineConfig } from 'claude-bottle';

export default defineConfig({
  agents: {
    claude: { bottle: 'dev', command: ['claude'] },
  },
  bottles: {
    dev: { workspace: 'copy' },
  },
});

// A project's bottle.config.ts using the dotfiles example plugin. In your
// project, copy dotfiles.ts next to this file (or anywhere) and import it.
//
// Only types come from 'claude-bottle' here, so this file also runs from a
// clone of the repository; with claude-bottle installed, `export default
// defineConfig({ ... })` types it the same way.
import type { BottleConfig } from 'claude-bottle';
import { dotfiles } from './dotfiles.ts';

const plugins = [dotfiles()];

export default {
  agents: {
    claude: { bottle: 'dev' },
  },
  bottles: {
    dev: { workspace: 'copy' },
  },
  // The plugin's own key, typed and checked like the built-ins' (a typo in it is exit 2).
  dotfiles: {
    dir: '~/dotfiles', // its entries land in /home/node: .bashrc, .gitconfig, .config/...
    setup: 'git config --global init.defaultBranch main && touch ~/.hushlogin',
  },
  plugins,
} satisfies BottleConfig<typeof plugins>;

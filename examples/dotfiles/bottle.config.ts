// A project's bottle.config.ts using the dotfiles example plugin. In your
// project, copy dotfiles.ts next to this file (or anywhere) and import it.
import { defineConfig } from 'claude-bottle';
import { dotfiles } from './dotfiles.ts';

export default defineConfig({
  agents: {
    claude: { bottle: 'dev' },
  },
  bottles: {
    dev: { workspace: 'copy' },
  },
  plugins: [
    dotfiles({
      dir: '~/dotfiles', // its entries land in /home/node: .bashrc, .gitconfig, .config/...
      setup: 'git config --global init.defaultBranch main && touch ~/.hushlogin',
    }),
  ],
});

// The seeds' git user contract: `git config --global` as node with
// HOME=/home/node, per key set; nothing when unset.
import { describe, expect, it } from 'vitest';
import { kernelFor, oneAgent } from '../../helpers/plan.ts';

async function gitCommands(git?: object) {
  const { kernel } = kernelFor(oneAgent({}, git ? { git } : {}));
  return (await kernel.plan()).commands.filter((c) => c.plugin === 'git-user');
}

describe('git-user plugin', () => {
  it('sets name and email as node with HOME=/home/node', async () => {
    expect(await gitCommands({ user: { name: 'Eric Bauerfeld', email: 'eric@dideric.is' } })).toEqual([
      { argv: ['git', 'config', '--global', 'user.name', 'Eric Bauerfeld'], user: 'node', env: { HOME: '/home/node' }, plugin: 'git-user' },
      { argv: ['git', 'config', '--global', 'user.email', 'eric@dideric.is'], user: 'node', env: { HOME: '/home/node' }, plugin: 'git-user' },
    ]);
  });
  it('name only', async () => {
    expect((await gitCommands({ user: { name: 'Bot' } })).map((c) => c.argv.slice(3))).toEqual([['user.name', 'Bot']]);
  });
  it('email only', async () => {
    expect((await gitCommands({ user: { email: 'bot@example.com' } })).map((c) => c.argv.slice(3))).toEqual([['user.email', 'bot@example.com']]);
  });
  it('nothing when no git user is configured', async () => {
    expect(await gitCommands()).toEqual([]);
    expect(await gitCommands({})).toEqual([]);
  });
});

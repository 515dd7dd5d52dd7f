// The seeds' supervise contract: registered at user scope (where `claude mcp
// add --scope user --transport http supervise <url>` writes it, in node's
// ~/.claude.json), nothing when not enabled. What Claude Code makes of the
// file is checked with the real binary in test/e2e/supervise-claude.test.ts.
import { describe, expect, it } from 'vitest';
import { kernelFor, oneAgent } from '../../../helpers/plan.ts';

async function plan(supervise?: unknown) {
  const { kernel } = kernelFor(oneAgent({}, supervise === undefined ? {} : { supervise }));
  return kernel.plan();
}

describe('supervise plugin', () => {
  it('registers the MCP server at user scope, owned by node, and gives Claude Code time to wait', async () => {
    const p = await plan(true);
    // One file, shared with the claude plugin's first-run state (merged).
    const [file, ...more] = p.files.filter((f) => f.guestPath === '/home/node/.claude.json');
    expect(more).toEqual([]);
    expect(file).toMatchObject({ owner: 'node', mode: 0o600 });
    expect(file!.plugin).toMatch(/supervise/);
    expect(JSON.parse(String(file!.content))).toMatchObject({ mcpServers: { supervise: { type: 'http', url: 'http://127.0.0.1:8767/mcp' } }, hasCompletedOnboarding: true });
    // Nothing runs in the guest for it: no command waits on Claude Code's start-up.
    expect(p.commands.filter((c) => c.plugin === 'supervise')).toEqual([]);
    expect(p.env.MCP_TOOL_TIMEOUT).toBe(String(600_000 + 60_000));
    expect(p.daemons.map((d) => d.name)).toContain('supervise');
    // Its door: a socket in the bottle's doors dir, offered in the guest on the URL registered above.
    const door = p.doors.find((d) => d.plugin === 'supervise')!;
    expect(door).toMatchObject({ name: 'supervise', port: 8767, guest: '127.0.0.1:8767' });
    expect(door.socketPath).toMatch(/\/bottles\/demo-abc12\/doors\/supervise\.sock$/);
  });

  it('takes a timeout', async () => {
    expect((await plan({ timeoutSeconds: 30 })).env.MCP_TOOL_TIMEOUT).toBe('90000');
  });

  it('does nothing when not enabled', async () => {
    for (const p of [await plan(), await plan(false)]) {
      expect(p.files.filter((f) => String(f.plugin).includes('supervise'))).toEqual([]);
      expect(p.env.MCP_TOOL_TIMEOUT).toBeUndefined();
    }
  });
});

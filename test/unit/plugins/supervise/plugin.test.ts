// The seeds' supervise contract: registered with `claude mcp add --scope
// user --transport http supervise <url>` as node with HOME=/home/node, a
// failure to register is a warning (optional), nothing when not enabled.
import { describe, expect, it } from 'vitest';
import { kernelFor, oneAgent } from '../../../helpers/plan.ts';

async function plan(supervise?: unknown) {
  const { kernel } = kernelFor(oneAgent({}, supervise === undefined ? {} : { supervise }));
  return kernel.plan();
}

describe('supervise plugin', () => {
  it('registers the MCP server as node, optional, and gives Claude Code time to wait', async () => {
    const p = await plan(true);
    expect(p.commands.filter((c) => c.plugin === 'supervise')).toEqual([
      {
        argv: ['claude', 'mcp', 'add', '--scope', 'user', '--transport', 'http', 'supervise', 'http://127.0.0.1:8767/mcp'],
        title: 'claude mcp add supervise',
        user: 'node',
        env: { HOME: '/home/node' },
        optional: true,
        plugin: 'supervise',
      },
    ]);
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
      expect(p.commands.filter((c) => c.plugin === 'supervise')).toEqual([]);
      expect(p.env.MCP_TOOL_TIMEOUT).toBeUndefined();
    }
  });
});

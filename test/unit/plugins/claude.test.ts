// The claude plugin: the host's credential reaches api.anthropic.com through
// the proxy and never the guest; Claude Code's first-run state is seeded; it
// runs unattended unless the config keeps its prompts; nothing of it for a
// command that is not claude.
import { describe, expect, it } from 'vitest';
import type { BottleError } from '../../../core/errors.ts';
import type { Plan } from '../../../core/plan.ts';
import type { EgressApi } from '../../../plugins/egress/index.ts';
import { kernelFor, oneAgent, TEST_API_KEY } from '../../helpers/plan.ts';

const OAUTH = 'sk-ant-oat01-test-not-a-real-token-abcdef';

async function planWith(hostEnv: Record<string, string | undefined>, bottle: object = {}, command?: string[], top: object = {}) {
  const { kernel } = kernelFor(oneAgent({}, bottle, top), { hostEnv: { ANTHROPIC_API_KEY: undefined, ...hostEnv } });
  const plan = await kernel.plan(command);
  const egress = kernel.plugins.find((p) => p.name === 'egress')?.api as EgressApi | undefined;
  return { plan, egress: egress?.status() };
}
const claudeJson = (plan: Plan) => JSON.parse(String(plan.files.find((f) => f.guestPath === '/home/node/.claude.json')?.content ?? 'null'));

describe('claude plugin', () => {
  it('an API key goes in at the proxy as x-api-key for api.anthropic.com; the guest holds a placeholder', async () => {
    const { plan, egress } = await planWith({ ANTHROPIC_API_KEY: TEST_API_KEY });
    expect(egress).toMatchObject({ enabled: true, routes: [{ host: 'api.anthropic.com', injects: 'x-api-key' }] });
    expect(plan.env.ANTHROPIC_API_KEY).toMatch(/^bottle-placeholder-/);
    expect(JSON.stringify(plan)).not.toContain(TEST_API_KEY);
    expect(plan.doors.map((d) => d.name)).toContain('proxy');
    expect(plan.exec.env.HTTPS_PROXY).toBe('http://127.0.0.1:3128');
  });

  it('without one, the token of `claude setup-token` goes in as a Bearer token', async () => {
    const { plan, egress } = await planWith({ CLAUDE_CODE_OAUTH_TOKEN: OAUTH });
    expect(egress).toMatchObject({ routes: [{ host: 'api.anthropic.com', injects: 'authorization' }] });
    expect(plan.env.CLAUDE_CODE_OAUTH_TOKEN).toMatch(/^bottle-placeholder-/);
    expect(plan.env.ANTHROPIC_API_KEY).toBeUndefined();
    expect(JSON.stringify(plan)).not.toContain(OAUTH);
  });

  it('no credential at all: exit 2 before anything starts, saying which variables or command provide one', async () => {
    const e = await planWith({}).then(() => undefined, (err: BottleError) => err);
    expect(e?.exitCode).toBe(2);
    expect(e?.message).toBe('bottle.config.ts: agents.demo: Claude Code needs a credential, and none is set: ANTHROPIC_API_KEY (an Anthropic API key) or CLAUDE_CODE_OAUTH_TOKEN (the long-lived token of `claude setup-token`)');
    expect(e?.hint).toContain('claude setup-token');
  });

  it("a user's route for api.anthropic.com keeps its upstream and gets the injection; inject: false turns it off", async () => {
    const upstream = { egress: { routes: [{ host: 'API.anthropic.com', upstream: 'http://127.0.0.1:8080' }] } };
    const kept = await planWith({ ANTHROPIC_API_KEY: TEST_API_KEY }, upstream);
    expect(kept.egress?.routes).toEqual([{ host: 'api.anthropic.com', injects: 'x-api-key', upstream: 'http://127.0.0.1:8080' }]);
    // Nothing to inject, so no credential is needed either.
    const off = await planWith({}, { egress: { routes: [{ host: 'api.anthropic.com', inject: false, upstream: 'http://127.0.0.1:8080' }] } });
    expect(off.egress?.routes).toEqual([{ host: 'api.anthropic.com', upstream: 'http://127.0.0.1:8080' }]);
    expect(off.plan.env.ANTHROPIC_API_KEY).toBeUndefined();
  });

  it('seeds the first-run state so no prompt appears, and runs unattended (for `bottle run -- claude ...` too)', async () => {
    for (const command of [undefined, ['claude', '-p', 'task']]) {
      const { plan } = await planWith({ ANTHROPIC_API_KEY: TEST_API_KEY }, {}, command);
      const state = claudeJson(plan);
      expect(state).toMatchObject({
        hasCompletedOnboarding: true,
        theme: 'dark',
        bypassPermissionsModeAccepted: true,
        customApiKeyResponses: { approved: [plan.env.ANTHROPIC_API_KEY!.slice(-20)] },
        projects: { '/home/node/workspace': { hasTrustDialogAccepted: true } },
      });
      expect(plan.files.find((f) => f.guestPath === '/home/node/.claude.json')).toMatchObject({ owner: 'node', mode: 0o600 });
      expect(plan.env).toMatchObject({ IS_SANDBOX: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' });
      expect(plan.exec.argv.filter((a) => a === '--dangerously-skip-permissions')).toHaveLength(1);
      expect(plan.exec.argv[0]).toBe('claude');
    }
  });

  it('permissionPrompts: true keeps Claude Code asking', async () => {
    const { plan } = await planWith({ ANTHROPIC_API_KEY: TEST_API_KEY }, { claude: { permissionPrompts: true } });
    expect(plan.exec.argv).not.toContain('--dangerously-skip-permissions');
    expect(plan.env.IS_SANDBOX).toBeUndefined();
    expect(claudeJson(plan).bypassPermissionsModeAccepted).toBeUndefined();
  });

  it('does nothing for another command, or when disabled', async () => {
    for (const [command, top] of [[['sh', '-c', 'true'], {}], [undefined, { disable: ['claude'] }]] as const) {
      const { plan, egress } = await planWith({}, {}, command ? [...command] : undefined, top);
      expect(egress?.enabled ?? false).toBe(false);
      expect(plan.files.find((f) => f.guestPath === '/home/node/.claude.json')).toBeUndefined();
      expect(plan.exec.argv).not.toContain('--dangerously-skip-permissions');
    }
  });
});

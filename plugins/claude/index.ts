// claude: "Claude Code in a bottle", for agents whose command is `claude`.
// The host's credential goes in at the egress proxy, never into the guest:
// a route for api.anthropic.com injects ANTHROPIC_API_KEY (x-api-key) or,
// without one, CLAUDE_CODE_OAUTH_TOKEN (`claude setup-token`, as a Bearer
// token), and the guest gets a placeholder in the same variable. A secret
// the conversation carries to the model (a file the agent read) is redacted,
// not refused: every later request carries the history, so refusing one
// would end the session. Claude
// Code's first-run state is seeded (onboarding, theme, the placeholder key
// accepted, the workspace trusted), and it runs unattended: the bottle is the
// boundary (IS_SANDBOX=1, --dangerously-skip-permissions), unless the config
// keeps its own permission prompts.
import { definePlugin, STAGE } from '../../core/hooks.ts';
import { GUEST_HOME, GUEST_WORKSPACE } from '../../core/plan.ts';
import '../egress/index.ts';
import { isClaude } from '../prompt/index.ts';
import { claudeShape } from './config.ts';

export { claudeShape } from './config.ts';

export const ANTHROPIC_API_HOST = 'api.anthropic.com';
const USER_CONFIG = `${GUEST_HOME}/.claude.json`;
const SKIP_PERMISSIONS = '--dangerously-skip-permissions';

/** Where the host's credential comes from, in order of preference. */
export const CREDENTIALS = [
  { env: 'ANTHROPIC_API_KEY', inject: { header: 'x-api-key', env: 'ANTHROPIC_API_KEY' }, what: 'an Anthropic API key' },
  { env: 'CLAUDE_CODE_OAUTH_TOKEN', inject: { header: 'authorization', env: 'CLAUDE_CODE_OAUTH_TOKEN', format: 'Bearer {token}' }, what: 'the long-lived token of `claude setup-token`' },
] as const;


export const claude = () => {
  let on = false;
  let prompts = false;
  return definePlugin({
    name: 'claude',
    config: { bottle: claudeShape },
    dependencies: ['egress'],
    apply(hooks, { config, use }) {
      hooks.plan.tapPromise('claude', async (draft, ctx) => {
        on = isClaude(draft.exec.argv[0]);
        if (!on) return;
        prompts = config.bottle.claude?.permissionPrompts ?? false;
        const egress = use('egress');
        // A route of the user's that injects (or says inject: false) decides; otherwise ours.
        if (egress.userRoute(ANTHROPIC_API_HOST)?.inject === undefined) {
          const found = CREDENTIALS.find((c) => ctx.hostEnv[c.env]);
          if (!found) {
            throw ctx.configError(
              `agents.${draft.agent}`,
              `Claude Code needs a credential, and none is set: ${CREDENTIALS.map((c) => `${c.env} (${c.what})`).join(' or ')}`,
              'export ANTHROPIC_API_KEY=... or run `claude setup-token` and export CLAUDE_CODE_OAUTH_TOKEN=...; the guest only ever sees a placeholder',
            );
          }
          egress.addRoute({ host: ANTHROPIC_API_HOST, inject: { ...found.inject }, dlp: 'redact', by: 'claude' });
        } else {
          egress.addRoute({ host: ANTHROPIC_API_HOST, dlp: 'redact', by: 'claude' });
        }
        // Only what Claude Code needs to work: no telemetry, error reports or update checks.
        draft.env.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC ??= '1';
        draft.env.DISABLE_AUTOUPDATER ??= '1';
        if (!prompts) draft.env.IS_SANDBOX = '1';
      });

      // After egress settled its plan (egress registered first): its placeholder is in the guest env by now.
      hooks.plan.tap({ name: 'claude', stage: STAGE.LATE }, (draft, ctx) => ctx.whenPlanned(() => {
        if (!on) return;
        const key = draft.env.ANTHROPIC_API_KEY;
        const state = {
          hasCompletedOnboarding: true,
          theme: 'dark',
          ...(prompts ? {} : { bypassPermissionsModeAccepted: true }),
          // "Do you want to use this API key?" answers by its last 20 characters.
          ...(key ? { customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] } } : {}),
          projects: { [GUEST_WORKSPACE]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, projectOnboardingSeenCount: 1 } },
        };
        draft.files.push({ guestPath: USER_CONFIG, content: JSON.stringify(state), owner: 'node', mode: 0o600, mergeJson: true, plugin: 'claude' });
      }));

      hooks.exec.tapPromise('claude', async (spec) => {
        if (on && !prompts && isClaude(spec.argv[0]) && !spec.argv.includes(SKIP_PERMISSIONS)) spec.argv.splice(1, 0, SKIP_PERMISSIONS);
        return spec;
      });
    },
  });
};

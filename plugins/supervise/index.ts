// supervise: the agent's one honest way to ask for more. An MCP server per
// bottle on its door (tools: bottle_status, request_egress, request_push,
// ask); the human answers from the host (`bottle approvals`, `approve`,
// `deny`); an approved host goes into the running proxy, an approved push
// through the gate once. Registered in the guest with `claude mcp add`.
import { DOOR_GUEST_HOST, type Door } from '../../core/doors.ts';
import { definePlugin } from '../../core/hooks.ts';
import { GUEST_HOME } from '../../core/plan.ts';
import '../egress/index.ts';
import '../git-gate/index.ts';
import { DEFAULT_TIMEOUT_MS, SUPERVISE_PORT, superviseShape } from './config.ts';

export { superviseShape } from './config.ts';
/** The human's side (`bottle approvals`, `approve`, `deny`, selftest): the queue in each bottle's state dir. */
export { answerRequest, findRequest, listPending, SuperviseError, watchPending, type PendingView } from './queue.ts';

export const SUPERVISE_URL = `http://${DOOR_GUEST_HOST}:${SUPERVISE_PORT}/mcp`;

/** Claude Code's user-scope config, where `claude mcp add --scope user` registers servers. */
export const CLAUDE_USER_CONFIG = `${GUEST_HOME}/.claude.json`;

/** The user config with supervise registered, as `claude mcp add --scope user --transport http supervise URL` leaves it. */
export const claudeUserConfig = () => `${JSON.stringify({ mcpServers: { supervise: { type: 'http', url: SUPERVISE_URL } } }, null, 2)}\n`;

/** Approved hosts go to egress and approved pushes to the git gate, when those run in the bottle. */
export const supervise = () => {
  let timeoutMs = 0;
  let door: Door | undefined;
  return definePlugin({
    name: 'supervise',
    config: { bottle: superviseShape },
    optionalDependencies: ['egress', 'git-gate'],
    apply(hooks, { config, find }) {
      hooks.plan.tapPromise('supervise', async (draft, ctx) => {
        const cfg = config.bottle.supervise;
        timeoutMs = cfg === undefined || cfg === false ? 0 : cfg === true ? DEFAULT_TIMEOUT_MS : cfg.timeoutSeconds * 1000;
        if (!timeoutMs) return;
        // Registered at user scope, where `claude mcp add --scope user` (the
        // seeds' way) writes it: Claude Code's user config, owned by node.
        // Written as a planned file rather than by running the CLI, which
        // costs 1-2 s of every start and waits on name lookups without a
        // network (measured: ~15 s with DNS failing slowly).
        // Merged with what other plugins put in the same file (the claude plugin's first-run state).
        draft.files.push({ guestPath: CLAUDE_USER_CONFIG, content: claudeUserConfig(), owner: 'node', mode: 0o600, mergeJson: true, plugin: 'supervise' });
        // Claude Code must wait for a human as long as the request does.
        draft.env.MCP_TOOL_TIMEOUT = String(timeoutMs + 60_000);
        const description = `MCP server; requests wait ${Math.round(timeoutMs / 1000)} s for \`bottle approve\`/\`deny\``;
        door = ctx.door({ name: 'supervise', port: SUPERVISE_PORT, description });
        draft.daemons.push({ name: 'supervise', plugin: 'supervise', description: `${description}; door ${SUPERVISE_URL}` });
      });

      hooks.preStart.tapPromise('supervise', async (ctx) => {
        if (!timeoutMs || !door) return;
        const egress = find('egress');
        const gitGate = find('git-gate');
        // The MCP SDK is loaded only for bottles that supervise.
        const { startSupervise } = await import('./server.ts');
        const server = await startSupervise({
          socketPath: door.socketPath,
          stateDir: ctx.stateDir,
          slug: ctx.plan.slug,
          timeoutMs,
          status: () => ({ bottle: ctx.plan.bottle, egress: egress?.status() ?? NO_EGRESS, git: gitGate?.status() ?? NO_GIT }),
          onEgressApproved: (host) => {
            if (!egress) throw new Error('this bottle has no egress proxy (egress is disabled): nothing can be allowed');
            egress.allowHost(host);
          },
          onPushApproved: (ref) => {
            if (!gitGate) throw new Error('this bottle has no git gate (git-gate is disabled): nothing can be pushed');
            void gitGate.allowPushOnce(ref);
          },
          onAudit: (e) => ctx.bus.emit('audit', { plugin: 'supervise', ...e }),
        });
        ctx.onUndo('stop supervise', () => server.close());
        ctx.bus.emit('log', { plugin: 'supervise', message: `supervise on ${SUPERVISE_URL} (${server.socketPath}); answer with \`bottle approvals\`` });
      });
    },
  });
};

const NO_EGRESS = { enabled: false, allow: [], routes: [], dlp: false };
const NO_GIT = { remotes: [] };

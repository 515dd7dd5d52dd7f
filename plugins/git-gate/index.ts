// git-gate: the agent works on real repositories without holding a key. Each
// remote's upstream URL is rewritten in the guest's gitconfig to the gate's
// door (127.0.0.1:9418 in the guest); the gate (a daemon in the `bottle` process) keeps a bare repo
// per remote, fetches from the upstream, checks every push against the
// policy and DLP, and pushes on with the remote's key, which never leaves
// the host.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { DOOR_GUEST_HOST, type Door } from '../../core/doors.ts';
import { definePlugin } from '../../core/hooks.ts';
import { resolveUserPath } from '../../core/paths.ts';
import { GUEST_HOME } from '../../core/plan.ts';
import { gitShape, type GitConfig } from './config.ts';
import type { Gate, GateRemote } from './types.ts';

export { gitShape } from './config.ts';
/** How `push` patterns match a branch (selftest picks a branch outside them). */
export { globToRegExp } from './policy.ts';

/** The gate's port on the guest's loopback. */
export const GATE_PORT = 9418;

/** What the guest's git talks to instead of `remote.upstream`. */
export const gateUrl = (name: string) => `http://${DOOR_GUEST_HOST}:${GATE_PORT}/${name}.git`;

/** The gate's policy, without secrets. */
export interface GitGateStatus {
  remotes: Array<{ name: string; upstream: string }>;
  policy?: GitConfig['policy'];
}

/** What the git gate offers other plugins (what a human's approval may change while the bottle runs): `api.use('git-gate')`. */
export interface GitGateApi {
  /** A one-time exception: the next push of this branch skips the ref rules (not DLP). */
  allowPushOnce(ref: string): string;
  status(): GitGateStatus;
}

declare module '../../core/hooks.ts' {
  interface PluginApis {
    'git-gate': GitGateApi;
  }
}

export const gitGate = () => {
  let remotes: GateRemote[] = [];
  let policy: GitConfig['policy'] | undefined;
  let gate: Gate | undefined;
  let door: Door | undefined;
  const api: GitGateApi = {
    allowPushOnce(ref) {
      if (!gate) throw new Error('this bottle has no git gate running: there is nothing to push through');
      return gate.allowOnce(ref);
    },
    status() {
      return { remotes: remotes.map((r) => ({ name: r.name, upstream: r.upstream })), ...(policy ? { policy } : {}) };
    },
  };

  return definePlugin({
    name: 'git-gate',
    config: { bottle: gitShape },
    api,
    apply(hooks, { config }) {
      hooks.plan.tapPromise('git-gate', async (draft, ctx) => {
        const cfg = config.bottle.git;
        const entries = Object.entries(cfg?.remotes ?? {});
        if (!cfg || !entries.length) return;
        policy = cfg.policy;
        const at = `bottles.${draft.bottle}.git.remotes`;
        remotes = [];
        for (const [name, r] of entries) {
          const identityFile = resolveUserPath(r.identityFile, draft.configDir, ctx.hostEnv.HOME);
          const knownHosts = resolveUserPath(r.knownHosts ?? '~/.ssh/known_hosts', draft.configDir, ctx.hostEnv.HOME);
          if (!(await readable(identityFile))) {
            throw ctx.configError(`${at}.${name}.identityFile`, `cannot read ${identityFile}`, 'name the private key the gate should push with (it stays on this machine)');
          }
          if (!(await readable(knownHosts))) {
            throw ctx.configError(`${at}.${name}.${r.knownHosts ? 'knownHosts' : 'upstream'}`, `no known_hosts file at ${knownHosts}: the upstream's host key cannot be checked`, 'add the host key (ssh-keyscan HOST >> ~/.ssh/known_hosts, after checking it) or set knownHosts');
          }
          remotes.push({ name, upstream: r.upstream, identityFile, knownHosts });
          // The agent keeps using the real URL; its git goes to the gate instead.
          draft.commands.push({
            argv: ['git', 'config', '--global', '--add', `url.${gateUrl(name)}.insteadOf`, r.upstream],
            user: 'node',
            env: { HOME: GUEST_HOME },
            plugin: 'git-gate',
          });
        }
        const description = `git smart HTTP for ${remotes.map((r) => r.name).join(', ')}; push to ${policy.push.join(', ')}; protected ${policy.protected.join(', ')}`;
        door = ctx.door({ name: 'git', port: GATE_PORT, description });
        draft.daemons.push({ name: 'git-gate', plugin: 'git-gate', description: `${description}; door ${door.url}` });
      });

      hooks.preStart.tapPromise('git-gate', async (ctx) => {
        if (!remotes.length || !policy || !door) return;
        const [{ startGate }, { createScanner }] = await Promise.all([import('./gate.ts'), import('../../lib/dlp/index.ts')]);
        gate = await startGate({
          socketPath: door.socketPath,
          stateDir: ctx.stateDir,
          remotes,
          policy,
          scanner: createScanner(),
          onAudit: (e) => ctx.bus.emit('audit', { plugin: 'git-gate', ...e }),
          onHostProcess: (pid, label) => ctx.trackProcess(pid, label),
        });
        const g = gate;
        ctx.onUndo('stop git gate', async () => {
          await g.close();
          gate = undefined;
        });
        ctx.bus.emit('log', { plugin: 'git-gate', message: `git gate on ${door.url} (${g.socketPath})` });
      });
    },
  });
};

/** The git gate plugin as the registry holds it. */
export type GitGatePlugin = ReturnType<typeof gitGate>;

async function readable(file: string): Promise<boolean> {
  try {
    await access(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

// The gate's work while receive-pack waits on its pre-receive hook: the facts
// judge.ts decides on (quarantine, ancestry, DLP scan), then the upstream push.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { DlpScanner } from '../../lib/dlp/types.ts';
import { type RunOptions, runGit } from './git.ts';
import type { HookContext, Verdict } from './hook.ts';
import { ancestryRefusal, needsFastForward, type PushRefusal, quarantineRefusal, refusedByName, scanRefusal, upstreamVerdict } from './judge.ts';
import { isZero, type RefRules, type RefUpdate } from './policy.ts';
import { type Remote, scrub } from './remote.ts';
import { commitOf, type ScanLimits, scanPush } from './scan.ts';
import type { GateAudit } from './types.ts';

export interface PreReceiveDeps {
  /** Options of every local git call (git.ts). */
  local: RunOptions;
  /** The policy's ref rules, with the gate's one-time exceptions applied. */
  rules: RefRules;
  /** The one-time exceptions; one is spent when its branch reaches the upstream. */
  exceptions: Set<string>;
  scanner: DlpScanner | undefined;
  scanLimits: ScanLimits;
  pushTimeoutMs: number;
  audit(e: GateAudit): void;
}

/** Decides one push, in the pre-receive hook's time: policy, DLP, then the upstream. */
export async function judgePush(d: PreReceiveDeps, r: Remote, ctx: HookContext): Promise<Verdict> {
  const repo = r.mirror.repo;
  const refuse = (x: PushRefusal): Verdict => {
    for (const e of x.audits) d.audit(e);
    return { ok: false, lines: x.lines };
  };
  const noQuarantine = quarantineRefusal(ctx.updates, ctx.quarantine, (p) => existsSync(p) && statSync(p).isDirectory());
  if (noQuarantine) return refuse(noQuarantine);
  // Every git call from here reads the pushed objects where receive-pack keeps them until the hook says yes.
  const qenv: RunOptions = {
    ...d.local,
    extra: ctx.quarantine ? { GIT_OBJECT_DIRECTORY: ctx.quarantine, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, 'objects'), GIT_QUARANTINE_PATH: ctx.quarantine } : {},
  };

  const byName = refusedByName(r.cfg.name, d.rules, ctx.updates);
  if (byName) return refuse(byName);
  for (const u of ctx.updates) {
    if (!needsFastForward(d.rules, u)) continue;
    const a = await runGit([`--git-dir=${repo}`, 'merge-base', '--is-ancestor', u.old, u.new], qenv);
    if (a.code !== 0) return refuse(ancestryRefusal(r.cfg.name, u.ref, a));
  }
  const tips = ctx.updates.filter((u) => !isZero(u.new)).map((u) => u.new);
  if (d.scanner && tips.length) {
    const s = await scanPush(repo, tips, d.scanner, d.scanLimits, qenv);
    if (!s.ok) {
      const commit = s.kind === 'secret' ? await commitOf(repo, tips, s.oid, s.type, qenv) : undefined;
      return refuse(scanRefusal(r.cfg.name, ctx.updates, s, d.scanLimits, commit));
    }
  }
  return pushUpstream(d, r, ctx.updates, qenv);
}

/**
 * The push itself, a compare-and-swap on what the agent saw
 * (`--force-with-lease=<ref>:<old>`), atomic when the upstream supports it.
 */
async function pushUpstream(d: PreReceiveDeps, r: Remote, updates: RefUpdate[], qenv: RunOptions): Promise<Verdict> {
  await r.master.ensure();
  const leases = updates.map((u) => `--force-with-lease=${u.ref}:${isZero(u.old) ? '' : u.old}`);
  const specs = updates.map((u) => (isZero(u.new) ? `:${u.ref}` : `${u.new}:${u.ref}`));
  const push = (atomic: boolean) =>
    runGit([`--git-dir=${r.mirror.repo}`, 'push', '--porcelain', '--no-verify', ...(atomic ? ['--atomic'] : []), ...leases, '--', r.cfg.upstream, ...specs], {
      ...qenv,
      sshCommand: r.sshCommand,
      timeoutMs: d.pushTimeoutMs,
    });
  let res = await push(updates.length > 1);
  if (res.code !== 0 && /does not support --atomic/.test(res.stderr)) res = await push(false);
  const { verdict, audits } = upstreamVerdict(
    { remote: r.cfg.name, upstream: r.cfg.upstream, updates, excepted: d.exceptions, scrub: (text) => scrub(r, text) },
    res,
  );
  for (const e of audits) d.audit(e);
  if (verdict.ok) for (const u of updates) d.exceptions.delete(u.ref);
  return verdict;
}

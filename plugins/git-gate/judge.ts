// Deciding a push, with no I/O: ref rules, ancestry, DLP findings, size and the
// upstream's answer, as the text the client sees and the audit records.
import { tail } from './git.ts';
import type { Verdict } from './hook.ts';
import { isZero, notFastForward, type RefRules, type RefUpdate } from './policy.ts';
import type { ScanLimits, ScanOutcome } from './scan.ts';
import type { GateAudit } from './types.ts';

/** A push the gate refuses: what the client is told, and what is audited. */
export interface PushRefusal {
  /** Lines the client shows as `remote: ...`; the whole text of a 413 when the gate never read the push's head. */
  lines: string[];
  /**
   * The reason in each ref's `ng` line when the gate answers instead of
   * receive-pack; a ref not named gets "refused with the rest of this push".
   * Unused in the hook, where receive-pack reports "pre-receive hook declined".
   */
  reasons?: Map<string, string>;
  /** The `unpack` status of that answer (default `ok`: only the refs are refused). */
  unpack?: string;
  audits: GateAudit[];
}

const refused = (why: string) => `git-gate: refused: ${why}`;

/** receive-pack reads no pack, hence makes no quarantine, for a push that only deletes; any other push without one is refused. */
export function quarantineRefusal(updates: readonly RefUpdate[], quarantine: string | undefined, isDirectory: (path: string) => boolean): PushRefusal | undefined {
  const deletesOnly = updates.every((u) => isZero(u.new));
  if (quarantine === undefined ? deletesOnly : isDirectory(quarantine)) return undefined;
  return { lines: ['git-gate: the push has no quarantine; refused'], audits: [] };
}

/** Every update the ref rules (policy.ts) refuse on its name and kind alone; undefined when none is. */
export function refusedByName(remote: string, rules: RefRules, updates: readonly RefUpdate[]): PushRefusal | undefined {
  const out = updates.flatMap((u) => {
    const why = rules.refusal(u);
    return why ? [{ ref: u.ref, why }] : [];
  });
  if (!out.length) return undefined;
  return {
    lines: out.map(({ why }) => refused(why)),
    // An `ng` line names the ref already: the reason without its leading `<ref>: `.
    reasons: new Map(out.map(({ ref, why }) => [ref, `git-gate: ${why.replace(/^\S+: /, '')}`])),
    audits: out.map(({ ref, why }) => ({ type: 'git.refuse', remote, ref, reason: why })),
  };
}

/** An update that must be shown to be a fast-forward: a protected branch moved (created and deleted branches have no history to rewrite). */
export const needsFastForward = (rules: RefRules, u: RefUpdate) => !isZero(u.old) && !isZero(u.new) && rules.isProtected(u.ref);

/** The refusal when `git merge-base --is-ancestor <old> <new>` did not exit 0: 1 means not a fast-forward, anything else that git could not tell. */
export function ancestryRefusal(remote: string, ref: string, check: { code: number | null; stderr: string }): PushRefusal {
  const why = check.code === 1 ? notFastForward(ref) : `${ref}: cannot tell whether this is a fast-forward (${tail(check.stderr, 1)})`;
  return { lines: [refused(why)], audits: [{ type: 'git.refuse', remote, ref, reason: why }] };
}

/**
 * The refusal of a push the DLP scan did not pass, audited once per ref.
 * `commit` is the new commit that brings a secret (scan.ts's commitOf), when
 * it could be found.
 */
export function scanRefusal(remote: string, updates: readonly RefUpdate[], s: Exclude<ScanOutcome, { ok: true }>, limits: ScanLimits, commit?: string): PushRefusal {
  if (s.kind === 'secret') {
    const where = s.type === 'commit' ? 'in its message or headers' : s.type === 'tree' ? `in a file name${s.path ? ` under ${s.path}` : ''}` : `in ${s.path ?? `blob ${s.oid}`}`;
    const why = `commit ${commit?.slice(0, 12) ?? '(unknown)'} carries a secret (${s.rule}) ${where}; remove it from that commit (rewrite the history, e.g. git rebase -i) and push again`;
    return {
      lines: [refused(why)],
      audits: updates.map((u) => ({ type: 'git.refuse', remote, ref: u.ref, reason: `DLP: ${why}`, rule: s.rule, ...(commit ? { commit } : {}) })),
    };
  }
  const why =
    s.kind === 'too-large'
      ? `${s.type} ${s.oid.slice(0, 12)}${s.path ? ` (${s.path})` : ''} is too large to scan (${s.size} bytes; limits ${limits.maxObjectBytes} per object, ${limits.maxTotalBytes} per push)`
      : `cannot scan this push: ${s.message}`;
  return { lines: [refused(why)], audits: updates.map((u) => ({ type: 'git.refuse', remote, ref: u.ref, reason: why })) };
}

/**
 * The one refusal of a push over policy.maxPackBytes, however it was found:
 * a declared Content-Length, the body counted as it streams, or git's own
 * receive.maxInputSize. `refs` are the push's commands when its head was read
 * (one audit record each), else empty (one record for the push). `declared`
 * is the Content-Length, named only when it is what exceeds the limit: a count
 * cut at the bound is no size.
 */
export function oversize(remote: string, maxPack: number, refs: readonly string[], declared?: number): PushRefusal {
  const size = declared !== undefined && declared > maxPack ? `${declared} bytes, ` : '';
  const why = `this push is ${size}more than the limit of ${maxPack} bytes (policy.maxPackBytes)`;
  return {
    lines: [refused(why)],
    reasons: new Map(refs.map((ref) => [ref, 'git-gate: push too large'])),
    unpack: 'pack too large',
    audits: refs.length ? refs.map((ref) => ({ type: 'git.refuse', remote, ref, reason: why })) : [{ type: 'git.refuse', remote, reason: why }],
  };
}

export interface UpstreamPush {
  remote: string;
  upstream: string;
  updates: readonly RefUpdate[];
  /** Refs pushed under a human's one-time exception (gate.ts's allowOnce). */
  excepted: ReadonlySet<string>;
  /** Hides host paths in what the guest sees (remote.ts). */
  scrub(text: string): string;
}

/**
 * What `git push --porcelain` to the upstream answered, as the hook's verdict:
 * the upstream's own `remote:` lines relayed, its refusal told apart from a
 * failure to reach it, and a stale lease explained as "fetch first".
 */
export function upstreamVerdict(p: UpstreamPush, res: { code: number | null; stdout: Buffer | string; stderr: string }): { verdict: Verdict; audits: GateAudit[] } {
  const stderr = res.stderr.split(/\r?\n/).filter((l) => l.trim());
  const porcelain = res.stdout.toString().split('\n');
  const relayed = stderr.filter((l) => l.startsWith('remote:')).map((l) => `upstream ${l}`);
  if (res.code === 0) {
    return {
      verdict: { ok: true, lines: [...relayed, `git-gate: pushed to ${p.upstream}: ${p.updates.map((u) => u.ref.replace(/^refs\/heads\//, '')).join(', ')}`] },
      audits: p.updates.map((u) => ({
        type: 'git.push',
        remote: p.remote,
        ref: u.ref,
        upstream: p.upstream,
        ...(isZero(u.new) ? {} : { commit: u.new }),
        ...(p.excepted.has(u.ref) ? { exception: true } : {}),
      })),
    };
  }
  const rejected = porcelain.filter((l) => l.startsWith('!'));
  // What --force-with-lease and a moved upstream say: the agent's view is stale.
  const stale = rejected.some((l) => /stale info|fetch first|non-fast-forward/.test(l));
  const refusedByUpstream = rejected.length > 0 || relayed.length > 0;
  const lines = [
    refusedByUpstream ? `git-gate: the upstream (${p.upstream}) refused this push:` : `git-gate: could not push to the upstream (${p.upstream}):`,
    ...stderr.filter((l) => !l.startsWith('To ')).map((l) => `  ${p.scrub(l)}`),
    ...rejected.map((l) => `  ${l.replace(/\t/g, ' ')}`),
    ...(stale ? ['git-gate: the upstream has moved since your last fetch: git fetch, rebase or merge, and push again'] : []),
  ];
  // The audit keeps the host paths the guest's text hides.
  const reason = `upstream: ${tail([...stderr, ...rejected].join('\n'), 3).replace(/\n/g, ' | ')}`;
  return {
    verdict: { ok: false, lines },
    audits: p.updates.map((u) => ({ type: refusedByUpstream ? 'git.refuse' : 'git.error', remote: p.remote, ref: u.ref, reason, upstream: p.upstream })),
  };
}

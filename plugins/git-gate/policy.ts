// Push policy on ref names and updates: what may be pushed where. Pure; the
// checks that need objects (fast-forward, DLP) are in scan.ts and the gate.
//
// The rules, in the order they are checked:
// - only branches: refs/tags (no tag is created, moved or deleted through the
//   gate), refs/notes, refs/replace and anything else outside refs/heads are
//   refused;
// - the branch must match a `push` pattern (creation, update and deletion);
// - a protected branch is never deleted, and only fast-forwarded
//   (`isProtected` tells the gate when to check ancestry).
// Patterns are branch names (`refs/heads/` may be written or not) where `*`
// matches within one path segment and `**` across segments.

export interface GatePolicy {
  /** Branches that can be neither force-pushed nor deleted. */
  protected: string[];
  /** Branch patterns the agent may push to. */
  push: string[];
  /** Largest push accepted (request body bytes). */
  maxPackBytes: number;
}

export interface RefUpdate {
  old: string;
  new: string;
  ref: string;
}

export const isZero = (oid: string) => /^0+$/.test(oid);

/** `claude/*` -> /^claude\/[^/]*$/; `**` crosses `/`. */
export function globToRegExp(pattern: string): RegExp {
  const p = pattern.replace(/^refs\/heads\//, '');
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '*') {
      if (p[i + 1] === '*') {
        // `a/**/b` also matches `a/b`.
        if (p[i + 2] === '/') {
          re += '(?:.*/)?';
          i += 2;
        } else {
          re += '.*';
          i += 1;
        }
      } else re += '[^/]*';
    } else re += ch.replace(/[.+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export interface RefRules {
  /** Why this update is refused on its name and kind alone, or undefined. */
  refusal(u: RefUpdate): string | undefined;
  /** True when updates of `ref` must be fast-forwards. */
  isProtected(ref: string): boolean;
}

export function refRules(policy: Pick<GatePolicy, 'protected' | 'push'>): RefRules {
  const push = policy.push.map(globToRegExp);
  const prot = policy.protected.map(globToRegExp);
  const branch = (ref: string) => (ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined);
  const allowed = policy.push.length ? policy.push.join(', ') : 'none';
  return {
    isProtected: (ref) => {
      const b = branch(ref);
      return b !== undefined && prot.some((r) => r.test(b));
    },
    refusal(u) {
      const kind = isZero(u.new) ? 'delete' : isZero(u.old) ? 'create' : 'update';
      if (u.ref.startsWith('refs/tags/')) return `${u.ref}: tags cannot be pushed through the gate (no tag is created, moved or deleted here; ask a human to tag)`;
      if (u.ref.startsWith('refs/notes/')) return `${u.ref}: notes cannot be pushed through the gate`;
      if (u.ref.startsWith('refs/replace/')) return `${u.ref}: replace refs cannot be pushed through the gate`;
      const b = branch(u.ref);
      if (b === undefined || b === '') return `${u.ref}: only branches (refs/heads/*) can be pushed`;
      if (!push.some((r) => r.test(b))) return `${u.ref}: the agent may push only to branches matching ${allowed}; push to one of those instead`;
      if (kind === 'delete' && prot.some((r) => r.test(b))) return `${u.ref}: protected branch, it cannot be deleted`;
      return undefined;
    },
  };
}

/** The refusal for a protected branch whose update is not a fast-forward. */
export const notFastForward = (ref: string) => `${ref}: protected branch, only fast-forwards are accepted (this push rewrites its history)`;

// Which pushes the gate refuses and with what words, decided without git or a
// listener: ref rules, fast-forwards, the quarantine, DLP findings, size, and
// what the upstream's answer becomes for the agent and the audit.
import { describe, expect, it } from 'vitest';
import {
  ancestryRefusal,
  needsFastForward,
  oversize,
  quarantineRefusal,
  refusedByName,
  scanRefusal,
  type UpstreamPush,
  upstreamVerdict,
} from '../../../../plugins/git-gate/judge.ts';
import { refRules, type RefUpdate } from '../../../../plugins/git-gate/policy.ts';

const Z = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = '0123456789abcdef0123456789abcdef01234567';
const rules = refRules({ protected: ['main', 'claude/keep'], push: ['claude/*'] });
const create = (ref: string): RefUpdate => ({ old: Z, new: A, ref });
const update = (ref: string): RefUpdate => ({ old: A, new: B, ref });
const remove = (ref: string): RefUpdate => ({ old: A, new: Z, ref });

describe('refusedByName', () => {
  it.each([
    ['creating a claude/ branch', [create('refs/heads/claude/x')]],
    ['updating one', [update('refs/heads/claude/x')]],
    ['deleting one', [remove('refs/heads/claude/x')]],
    ['rewriting a protected claude/ branch (ancestry is checked later)', [update('refs/heads/claude/keep')]],
  ])('lets through %s', (_what, updates) => {
    expect(refusedByName('app', rules, updates)).toBeUndefined();
  });

  it.each([
    [
      'a push to main',
      [update('refs/heads/main')],
      'refs/heads/main: the agent may push only to branches matching claude/*; push to one of those instead',
      'git-gate: the agent may push only to branches matching claude/*; push to one of those instead',
    ],
    [
      'a tag',
      [create('refs/tags/v1')],
      'refs/tags/v1: tags cannot be pushed through the gate (no tag is created, moved or deleted here; ask a human to tag)',
      'git-gate: tags cannot be pushed through the gate (no tag is created, moved or deleted here; ask a human to tag)',
    ],
    ['deleting a protected branch', [remove('refs/heads/claude/keep')], 'refs/heads/claude/keep: protected branch, it cannot be deleted', 'git-gate: protected branch, it cannot be deleted'],
    ['a ref outside refs/heads', [create('refs/pull/1/head')], 'refs/pull/1/head: only branches (refs/heads/*) can be pushed', 'git-gate: only branches (refs/heads/*) can be pushed'],
  ])('refuses %s, per ref and in the remote: lines', (_what, updates, why, ng) => {
    const ref = updates[0]!.ref;
    expect(refusedByName('app', rules, updates)).toEqual({
      lines: [`git-gate: refused: ${why}`],
      reasons: new Map([[ref, ng]]),
      audits: [{ type: 'git.refuse', remote: 'app', ref, reason: why }],
    });
  });

  it('names only the refused refs of a mixed push (the rest go down with it)', () => {
    const x = refusedByName('app', rules, [create('refs/heads/claude/ok'), create('refs/tags/v3'), update('refs/heads/main')])!;
    expect([...x.reasons!.keys()]).toEqual(['refs/tags/v3', 'refs/heads/main']);
    expect(x.lines).toEqual([expect.stringMatching(/^git-gate: refused: refs\/tags\/v3: /), expect.stringMatching(/^git-gate: refused: refs\/heads\/main: /)]);
    expect(x.audits.map((a) => a.ref)).toEqual(['refs/tags/v3', 'refs/heads/main']);
  });
});

describe('fast-forwards', () => {
  it.each([
    ['an update of a protected branch', update('refs/heads/main'), true],
    ['an update of another protected branch', update('refs/heads/claude/keep'), true],
    ['the creation of a protected branch', create('refs/heads/main'), false],
    ['the deletion of a protected branch', remove('refs/heads/main'), false],
    ['an update of an unprotected branch', update('refs/heads/claude/x'), false],
  ])('%s must be a fast-forward: %s', (_what, u, needed) => {
    expect(needsFastForward(rules, u)).toBe(needed);
  });

  it.each([
    [1, '', 'refs/heads/main: protected branch, only fast-forwards are accepted (this push rewrites its history)'],
    [128, 'warning: x\nfatal: Not a valid commit name bbbb\n', 'refs/heads/main: cannot tell whether this is a fast-forward (fatal: Not a valid commit name bbbb)'],
  ])('merge-base --is-ancestor exiting %i refuses with: %s', (code, stderr, why) => {
    expect(ancestryRefusal('app', 'refs/heads/main', { code, stderr })).toEqual({
      lines: [`git-gate: refused: ${why}`],
      audits: [{ type: 'git.refuse', remote: 'app', ref: 'refs/heads/main', reason: why }],
    });
  });
});

describe('quarantineRefusal', () => {
  const isDir = (p: string) => p === '/repo/objects/incoming-abc';
  it.each([
    ['a push that only deletes, without one', [remove('refs/heads/claude/x')], undefined, false],
    ['a push with its quarantine', [create('refs/heads/claude/x')], '/repo/objects/incoming-abc', false],
    ['a push of objects without one', [create('refs/heads/claude/x')], undefined, true],
    ['a push mixing a delete and a create, without one', [remove('refs/heads/claude/x'), create('refs/heads/claude/y')], undefined, true],
    ['a push whose quarantine is gone', [create('refs/heads/claude/x')], '/repo/objects/incoming-gone', true],
  ])('%s: refused %s', (_what, updates, quarantine, refused) => {
    const x = quarantineRefusal(updates, quarantine, isDir);
    expect(x).toEqual(refused ? { lines: ['git-gate: the push has no quarantine; refused'], audits: [] } : undefined);
  });
});

describe('scanRefusal', () => {
  const limits = { maxObjectBytes: 10, maxTotalBytes: 100 };
  const updates = [create('refs/heads/claude/a'), update('refs/heads/claude/b')];
  const secret = (type: string, path: string | undefined) => ({ ok: false as const, kind: 'secret' as const, rule: 'aws-access-key-id', oid: B, type, path });

  it.each([
    ['a blob', secret('blob', 'config/deploy.env'), C, `commit 0123456789ab carries a secret (aws-access-key-id) in config/deploy.env`],
    ['a blob at no known path', secret('blob', undefined), C, `commit 0123456789ab carries a secret (aws-access-key-id) in blob ${B}`],
    ['a commit message', secret('commit', undefined), C, 'commit 0123456789ab carries a secret (aws-access-key-id) in its message or headers'],
    ['a file name', secret('tree', 'src'), C, 'commit 0123456789ab carries a secret (aws-access-key-id) in a file name under src'],
    ['a file name at the top', secret('tree', undefined), C, 'commit 0123456789ab carries a secret (aws-access-key-id) in a file name;'],
    ['an object no commit could be found for', secret('blob', 'x'), undefined, 'commit (unknown) carries a secret (aws-access-key-id) in x'],
  ])('a secret in %s names the commit and where, and how to fix it', (_what, s, commit, text) => {
    const x = scanRefusal('app', updates, s, limits, commit);
    expect(x.lines).toHaveLength(1);
    expect(x.lines[0]).toContain(`git-gate: refused: ${text}`);
    expect(x.lines[0]).toMatch(/; remove it from that commit \(rewrite the history, e\.g\. git rebase -i\) and push again$/);
    // Audited once per ref, with the rule and the commit; never the secret, which the finding does not carry.
    expect(x.audits).toEqual(
      updates.map((u) => ({ type: 'git.refuse', remote: 'app', ref: u.ref, reason: `DLP: ${x.lines[0]!.replace('git-gate: refused: ', '')}`, rule: 'aws-access-key-id', ...(commit ? { commit } : {}) })),
    );
  });

  it.each([
    [
      'an object too large to scan',
      { ok: false as const, kind: 'too-large' as const, oid: C, type: 'blob', path: 'big.bin', size: 99 },
      'blob 0123456789ab (big.bin) is too large to scan (99 bytes; limits 10 per object, 100 per push)',
    ],
    ['a scan that failed', { ok: false as const, kind: 'error' as const, message: 'cat-file died' }, 'cannot scan this push: cat-file died'],
  ])('refuses %s (fail closed)', (_what, s, why) => {
    expect(scanRefusal('app', updates, s, limits)).toEqual({
      lines: [`git-gate: refused: ${why}`],
      audits: updates.map((u) => ({ type: 'git.refuse', remote: 'app', ref: u.ref, reason: why })),
    });
  });
});

describe('oversize: the one refusal of a push over maxPackBytes', () => {
  const MAX = 262_144;
  it.each([
    ['a declared Content-Length over the limit', ['refs/heads/claude/big'], 400_000, 'this push is 400000 bytes, more than the limit of 262144 bytes (policy.maxPackBytes)'],
    ['a body counted past the limit', ['refs/heads/claude/big'], undefined, 'this push is more than the limit of 262144 bytes (policy.maxPackBytes)'],
    ['no Content-Length at all (chunked)', ['refs/heads/claude/big'], NaN, 'this push is more than the limit of 262144 bytes (policy.maxPackBytes)'],
    ['a Content-Length under the limit (the count found it): no size is claimed', ['refs/heads/claude/big'], 1000, 'this push is more than the limit of 262144 bytes (policy.maxPackBytes)'],
    ['two refs', ['refs/heads/claude/a', 'refs/heads/claude/b'], undefined, 'this push is more than the limit of 262144 bytes (policy.maxPackBytes)'],
  ])('%s', (_what, refs, declared, why) => {
    expect(oversize('app', MAX, refs, declared)).toEqual({
      lines: [`git-gate: refused: ${why}`],
      reasons: new Map(refs.map((ref) => [ref, 'git-gate: push too large'])),
      unpack: 'pack too large',
      audits: refs.map((ref) => ({ type: 'git.refuse', remote: 'app', ref, reason: why })),
    });
  });

  it('a push whose refs the gate never read is audited once, without a ref', () => {
    const x = oversize('app', MAX, [], 10_000_000);
    expect(x.lines).toEqual(['git-gate: refused: this push is 10000000 bytes, more than the limit of 262144 bytes (policy.maxPackBytes)']);
    expect(x.audits).toEqual([{ type: 'git.refuse', remote: 'app', reason: 'this push is 10000000 bytes, more than the limit of 262144 bytes (policy.maxPackBytes)' }]);
  });
});

describe('upstreamVerdict', () => {
  const UP = 'ssh://git@host/acme/app.git';
  const push = (updates: RefUpdate[], excepted: string[] = []): UpstreamPush => ({
    remote: 'app',
    upstream: UP,
    updates,
    excepted: new Set(excepted),
    scrub: (t) => t.split('/home/u/.ssh/id_app').join('<identity>'),
  });
  const porcelain = (...lines: string[]) => [`To ${UP}`, ...lines, 'Done', ''].join('\n');

  it('a push that went through relays the upstream and names the branches; each ref audited', () => {
    const p = push([create('refs/heads/claude/x'), remove('refs/heads/claude/old')], ['refs/heads/claude/x']);
    const { verdict, audits } = upstreamVerdict(p, { code: 0, stdout: porcelain('*\trefs/heads/claude/x\t[new branch]'), stderr: 'remote: Create a pull request:\nremote:   https://host/pr\n' });
    expect(verdict).toEqual({
      ok: true,
      lines: ['upstream remote: Create a pull request:', 'upstream remote:   https://host/pr', `git-gate: pushed to ${UP}: claude/x, claude/old`],
    });
    expect(audits).toEqual([
      { type: 'git.push', remote: 'app', ref: 'refs/heads/claude/x', upstream: UP, commit: A, exception: true },
      { type: 'git.push', remote: 'app', ref: 'refs/heads/claude/old', upstream: UP },
    ]);
  });

  it.each([
    ['stale info', '!\trefs/heads/claude/x:refs/heads/claude/x\t[rejected] (stale info)'],
    ['fetch first', '!\trefs/heads/claude/x:refs/heads/claude/x\t[rejected] (fetch first)'],
    ['non-fast-forward', '!\trefs/heads/claude/x:refs/heads/claude/x\t[rejected] (non-fast-forward)'],
  ])('an upstream that moved (%s) is a refusal that says to fetch', (_what, line) => {
    const { verdict, audits } = upstreamVerdict(push([update('refs/heads/claude/x')]), { code: 1, stdout: porcelain(line), stderr: `error: failed to push some refs to '${UP}'\n` });
    expect(verdict.ok).toBe(false);
    expect(verdict.lines[0]).toBe(`git-gate: the upstream (${UP}) refused this push:`);
    expect(verdict.lines).toContain(`  ${line.replace(/\t/g, ' ')}`);
    expect(verdict.lines.at(-1)).toBe('git-gate: the upstream has moved since your last fetch: git fetch, rebase or merge, and push again');
    expect(audits).toEqual([{ type: 'git.refuse', remote: 'app', ref: 'refs/heads/claude/x', upstream: UP, reason: expect.stringContaining('upstream: ') }]);
  });

  it("the upstream's own refusal is relayed, without the advice to fetch", () => {
    const stderr = `remote: upstream says: no pushes today\nerror: failed to push some refs to '${UP}'\n`;
    const { verdict, audits } = upstreamVerdict(push([create('refs/heads/claude/x')]), { code: 1, stdout: porcelain('!\trefs/heads/claude/x:refs/heads/claude/x\t[remote rejected] (pre-receive hook declined)'), stderr });
    expect(verdict.lines).toEqual([
      `git-gate: the upstream (${UP}) refused this push:`,
      '  remote: upstream says: no pushes today',
      `  error: failed to push some refs to '${UP}'`,
      '  ! refs/heads/claude/x:refs/heads/claude/x [remote rejected] (pre-receive hook declined)',
    ]);
    expect(audits[0]!.reason).toContain('no pushes today');
  });

  it('an upstream that cannot be reached is an error, with the host paths hidden from the agent but kept in the audit', () => {
    const stderr = "Warning: Identity file /home/u/.ssh/id_app not accessible\ngit@host: Permission denied (publickey).\nfatal: Could not read from remote repository.\n";
    const { verdict, audits } = upstreamVerdict(push([create('refs/heads/claude/x')]), { code: 128, stdout: '', stderr });
    expect(verdict).toEqual({
      ok: false,
      lines: [
        `git-gate: could not push to the upstream (${UP}):`,
        '  Warning: Identity file <identity> not accessible',
        '  git@host: Permission denied (publickey).',
        '  fatal: Could not read from remote repository.',
      ],
    });
    expect(audits).toEqual([
      {
        type: 'git.error',
        remote: 'app',
        ref: 'refs/heads/claude/x',
        upstream: UP,
        reason: 'upstream: Warning: Identity file /home/u/.ssh/id_app not accessible | git@host: Permission denied (publickey). | fatal: Could not read from remote repository.',
      },
    ]);
  });
});

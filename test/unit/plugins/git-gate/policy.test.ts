// Push policy on ref names (which refs, which branches, protected deletes) and
// the pkt-line pieces the gate speaks itself.
import { describe, expect, it } from 'vitest';
import { errAdvertisement, parsePushHead, pkt, refusePush } from '../../../../plugins/git-gate/pktline.ts';
import { globToRegExp, refRules } from '../../../../plugins/git-gate/policy.ts';
import { treeNames } from '../../../../plugins/git-gate/scan.ts';
import { sshTarget } from '../../../../plugins/git-gate/ssh.ts';

const Z = '0'.repeat(40);
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

describe('globToRegExp', () => {
  it('`*` stays within a segment, `**` crosses them', () => {
    const one = globToRegExp('claude/*');
    expect(one.test('claude/x')).toBe(true);
    expect(one.test('claude/x/y')).toBe(false);
    expect(one.test('claude/')).toBe(true);
    expect(one.test('claudex')).toBe(false);
    const two = globToRegExp('claude/**');
    expect(two.test('claude/x/y')).toBe(true);
    const mid = globToRegExp('a/**/b');
    expect(mid.test('a/b')).toBe(true);
    expect(mid.test('a/x/y/b')).toBe(true);
    expect(mid.test('a/x/c')).toBe(false);
  });
  it('treats everything else literally and accepts refs/heads/ prefixes', () => {
    expect(globToRegExp('release.1').test('releasex1')).toBe(false);
    expect(globToRegExp('refs/heads/main').test('main')).toBe(true);
    expect(globToRegExp('a+(b)').test('a+(b)')).toBe(true);
  });
});

describe('refRules', () => {
  const rules = refRules({ protected: ['main', 'claude/keep'], push: ['claude/*', 'main'] });
  it('allows creating, updating and deleting pushable branches', () => {
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/heads/claude/x' })).toBeUndefined();
    expect(rules.refusal({ old: A, new: B, ref: 'refs/heads/claude/x' })).toBeUndefined();
    expect(rules.refusal({ old: A, new: Z, ref: 'refs/heads/claude/x' })).toBeUndefined();
    expect(rules.refusal({ old: A, new: B, ref: 'refs/heads/main' })).toBeUndefined();
  });
  it('refuses branches outside the push patterns, naming the patterns', () => {
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/heads/feature' })).toMatch(/refs\/heads\/feature: .*claude\/\*, main/);
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/heads/claude/x/y' })).toBeDefined();
  });
  it('refuses tags, notes, replace refs and anything outside refs/heads', () => {
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/tags/v1' })).toMatch(/tags/);
    expect(rules.refusal({ old: A, new: B, ref: 'refs/tags/v1' })).toMatch(/tags/);
    expect(rules.refusal({ old: A, new: Z, ref: 'refs/tags/v1' })).toMatch(/tags/);
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/notes/commits' })).toMatch(/notes/);
    expect(rules.refusal({ old: Z, new: A, ref: `refs/replace/${A}` })).toMatch(/replace/);
    expect(rules.refusal({ old: Z, new: A, ref: 'refs/pull/1/head' })).toMatch(/only branches/);
    expect(rules.refusal({ old: Z, new: A, ref: 'HEAD' })).toMatch(/only branches/);
  });
  it('never deletes a protected branch; says which ones need fast-forwards', () => {
    expect(rules.refusal({ old: A, new: Z, ref: 'refs/heads/main' })).toMatch(/protected.*deleted/);
    expect(rules.refusal({ old: A, new: Z, ref: 'refs/heads/claude/keep' })).toMatch(/protected/);
    expect(rules.isProtected('refs/heads/main')).toBe(true);
    expect(rules.isProtected('refs/heads/claude/x')).toBe(false);
    expect(rules.isProtected('refs/tags/main')).toBe(false);
  });
  it('refuses every branch when no push pattern is configured', () => {
    expect(refRules({ protected: [], push: [] }).refusal({ old: Z, new: A, ref: 'refs/heads/x' })).toMatch(/none/);
  });
});

describe('pkt-lines', () => {
  const head = Buffer.concat([pkt(`${Z} ${A} refs/heads/main\0report-status side-band-64k agent=git/2\n`), pkt(`${A} ${B} refs/heads/claude/x\n`), Buffer.from('0000'), Buffer.from('PACK...')]);
  it('reads the commands at the head of a push, waiting for the flush', () => {
    expect(parsePushHead(head.subarray(0, 30))).toBeUndefined();
    const h = parsePushHead(head)!;
    expect(h.commands).toEqual([
      { old: Z, new: A, ref: 'refs/heads/main' },
      { old: A, new: B, ref: 'refs/heads/claude/x' },
    ]);
    expect([...h.caps]).toEqual(['report-status', 'side-band-64k', 'agent=git/2']);
    expect(parsePushHead(Buffer.from('0000'))).toEqual({ commands: [], caps: new Set() });
    expect(parsePushHead(Buffer.from('0009junk\n0000'))).toBeNull();
    expect(parsePushHead(Buffer.from('zzzz'))).toBeNull();
  });
  it('answers a refusal in report-status, on the side-band when asked', () => {
    const h = parsePushHead(head)!;
    const out = refusePush(h, new Map([['refs/heads/main', 'not allowed']]), ['git-gate: why']).toString('latin1');
    expect(out).toContain('\x02git-gate: why\n');
    expect(out).toContain('unpack ok\n');
    expect(out).toContain('ng refs/heads/main not allowed\n');
    expect(out).toContain('ng refs/heads/claude/x refused with the rest of this push\n');
    expect(out.endsWith('0000')).toBe(true);
    const plain = refusePush({ commands: h.commands, caps: new Set(['report-status']) }, new Map(), ['x'], 'too big').toString();
    expect(plain).toBe(`0013unpack too big\n${pkt(`ng refs/heads/main refused with the rest of this push\n`).toString()}${pkt(`ng refs/heads/claude/x refused with the rest of this push\n`).toString()}0000`);
  });
  it('ERR advertisements, with and without the v0 service line', () => {
    expect(errAdvertisement('git-upload-pack', true, 'no\nway').toString()).toBe(pkt('ERR no | way\n').toString());
    expect(errAdvertisement('git-upload-pack', false, 'no').toString()).toBe(`${pkt('# service=git-upload-pack\n').toString()}0000${pkt('ERR no\n').toString()}`);
  });
});

describe('tree entry names', () => {
  it('reads names out of a raw tree', () => {
    const raw = Buffer.concat([Buffer.from('100644 a.txt\0'), Buffer.alloc(20, 1), Buffer.from('40000 dir name\0'), Buffer.alloc(20, 2)]);
    expect(treeNames(raw, 20).toString()).toBe('a.txt\ndir name\n');
  });
});

describe('sshTarget', () => {
  it('reads ssh URLs and scp-like addresses', () => {
    expect(sshTarget('ssh://git@github.com/acme/app.git')).toEqual({ user: 'git', host: 'github.com' });
    expect(sshTarget('ssh://git@127.0.0.1:2222/srv/app.git')).toEqual({ user: 'git', host: '127.0.0.1', port: 2222 });
    expect(sshTarget('ssh://[::1]:22/x.git')).toEqual({ host: '::1', port: 22 });
    expect(sshTarget('git@github.com:acme/app.git')).toEqual({ user: 'git', host: 'github.com' });
    expect(() => sshTarget('ssh://-oProxyCommand=x/y')).toThrow();
    expect(() => sshTarget('https://github.com/acme/app.git')).toThrow();
  });
});

// What a git client is told when the gate refuses a push itself (decoded the
// way git decodes it), and how receive-pack's own refusals are audited: over
// the size bound they are the same refusal as the gate's, read from what a
// real receive-pack answers.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitEnv, hardeningArgs } from '../../../../plugins/git-gate/git.ts';
import { oversize, refusedByName } from '../../../../plugins/git-gate/judge.ts';
import { FLUSH, pkt, type PushHead } from '../../../../plugins/git-gate/pktline.ts';
import { refRules } from '../../../../plugins/git-gate/policy.ts';
import { receivePackAudits, refusalAnswer } from '../../../../plugins/git-gate/receive-pack.ts';
import { cleanGitEnv } from '../../../helpers/sshd.ts';

const Z = '0'.repeat(40);
const A = 'a'.repeat(40);
const MAX = 262_144;

/** The payloads of a pkt-line stream, flushes left out. */
function packets(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 4 <= b.length; ) {
    const len = parseInt(b.subarray(off, off + 4).toString('latin1'), 16);
    if (len === 0) off += 4;
    else {
      out.push(b.subarray(off + 4, off + len));
      off += len;
    }
  }
  return out;
}

/** What git's client makes of a receive-pack answer: the progress text it prints as `remote:` lines, and the report-status lines. */
function clientView(answer: Buffer, sideband: boolean): { progress: string; report: string[] } {
  if (!sideband) return { progress: '', report: packets(answer).map((p) => p.toString()) };
  const bands = packets(answer);
  const band = (n: number) => Buffer.concat(bands.filter((p) => p[0] === n).map((p) => p.subarray(1)));
  return { progress: band(2).toString(), report: packets(band(1)).map((p) => p.toString()) };
}

const head = (caps: string[], ...refs: string[]): PushHead => ({ commands: refs.map((ref) => ({ old: Z, new: A, ref })), caps: new Set(caps) });

describe('refusalAnswer: what the client sees of a refused push', () => {
  const big = oversize('app', MAX, ['refs/heads/claude/big', 'refs/heads/claude/other'], 400_000);
  const WHY = 'git-gate: refused: this push is 400000 bytes, more than the limit of 262144 bytes (policy.maxPackBytes)';

  it.each([
    ['side-band-64k', true],
    ['side-band', true],
    ['no side-band', false],
  ])('too large, with the head read (%s): every ref rejected as too large', (cap, sideband) => {
    const a = refusalAnswer(head(['report-status', ...(sideband ? [cap] : [])], 'refs/heads/claude/big', 'refs/heads/claude/other'), big);
    expect(a.status).toBe(200);
    const view = clientView((a as { body: Buffer }).body, sideband);
    // Without a side-band, git has no channel for the text: only the report reaches the client.
    expect(view.progress).toBe(sideband ? `${WHY}\n` : '');
    expect(view.report).toEqual(['unpack pack too large\n', 'ng refs/heads/claude/big git-gate: push too large\n', 'ng refs/heads/claude/other git-gate: push too large\n']);
  });

  it('too large, with the head unread: a 413 with the same text', () => {
    expect(refusalAnswer(null, oversize('app', MAX, [], 400_000))).toEqual({ status: 413, text: WHY });
  });

  it('a ref the rules refuse is rejected with its reason; the others go down with it', () => {
    const h = head(['report-status', 'side-band-64k'], 'refs/heads/claude/ok', 'refs/heads/main');
    const a = refusalAnswer(h, refusedByName('app', refRules({ protected: [], push: ['claude/*'] }), h.commands)!);
    const view = clientView((a as { body: Buffer }).body, true);
    expect(view.progress).toBe('git-gate: refused: refs/heads/main: the agent may push only to branches matching claude/*; push to one of those instead\n');
    expect(view.report).toEqual([
      'unpack ok\n',
      'ng refs/heads/claude/ok refused with the rest of this push\n',
      'ng refs/heads/main git-gate: the agent may push only to branches matching claude/*; push to one of those instead\n',
    ]);
  });
});

describe("receivePackAudits: receive-pack's own refusals", () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let pack: Buffer;
  let badPack: Buffer;
  let tip: string;
  let badTip: string;
  const git = (cwd: string, args: string[], input?: Buffer | string) => {
    const r = spawnSync('git', args, { cwd, env, input });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.toString()}`);
    return r.stdout;
  };

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'bottle-receive-pack-test-'));
    mkdirSync(join(tmp, 'home'));
    env = cleanGitEnv(join(tmp, 'home'));
    const work = join(tmp, 'work');
    git(tmp, ['init', '-q', work]);
    writeFileSync(join(work, 'a.bin'), Buffer.alloc(5000, 7));
    git(work, ['add', '-A']);
    git(work, ['commit', '-q', '-m', 'one']);
    tip = git(work, ['rev-parse', 'HEAD']).toString().trim();
    pack = git(work, ['pack-objects', '--stdout', '--revs'], `${tip}\n`);
    // A commit fsck refuses (a broken author line), on top.
    const tree = git(work, ['rev-parse', 'HEAD^{tree}']).toString().trim();
    badTip = git(work, ['hash-object', '-t', 'commit', '-w', '--literally', '--stdin'], `tree ${tree}\nparent ${tip}\nauthor Bad <bad 1700000000 +0000\ncommitter A <a@b.c> 1700000000 +0000\n\nbroken\n`)
      .toString()
      .trim();
    badPack = git(work, ['pack-objects', '--stdout', '--revs'], `${badTip}\n`);
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** One push through `git receive-pack --stateless-rpc`, hardened and bounded as the gate runs it (no hook). */
  function receive(o: { caps: string; newTip: string; pack: Buffer; maxInputSize: number; unpackLimit: number }) {
    const repo = join(tmp, `up-${Math.random().toString(36).slice(2)}.git`);
    git(tmp, ['init', '-q', '--bare', repo]);
    const body = Buffer.concat([pkt(`${Z} ${o.newTip} refs/heads/claude/x\0${o.caps} object-format=sha1 agent=test\n`), FLUSH, o.pack]);
    const gate = { home: join(tmp, 'home'), maxInputSize: o.maxInputSize };
    const r = spawnSync('git', [...hardeningArgs(gate), '-c', `receive.unpackLimit=${o.unpackLimit}`, 'receive-pack', '--stateless-rpc', repo], { env: gitEnv(gate), input: body });
    return { answer: r.stdout.toString('latin1'), stderr: r.stderr.toString() };
  }

  it.each([
    ['side-band, unpack-objects', 'report-status side-band-64k', 100],
    ['side-band, index-pack', 'report-status side-band-64k', 1],
    ['no side-band, unpack-objects', 'report-status', 100],
    ['no side-band, index-pack', 'report-status', 1],
  ])('a pack over receive.maxInputSize (%s) is audited as the gate\'s oversize refusal', (_what, caps, unpackLimit) => {
    const { answer, stderr } = receive({ caps, newTip: tip, pack, maxInputSize: 100, unpackLimit });
    expect(answer + stderr).toContain('pack exceeds maximum allowed size');
    expect(receivePackAudits('app', 99, ['refs/heads/claude/x'], answer, stderr)).toEqual(oversize('app', 99, ['refs/heads/claude/x']).audits);
  });

  it('an fsck failure is audited as receive-pack\'s, per ref', () => {
    const { answer, stderr } = receive({ caps: 'report-status side-band-64k', newTip: badTip, pack: badPack, maxInputSize: MAX, unpackLimit: 1 });
    expect(receivePackAudits('app', MAX, ['refs/heads/claude/x'], answer, stderr)).toEqual([
      { type: 'git.refuse', remote: 'app', ref: 'refs/heads/claude/x', reason: expect.stringMatching(/^receive-pack: unpacker error \(unpack: index-pack abnormal exit\)$/) },
    ]);
  });

  it('an accepted push is audited by nobody here', () => {
    const { answer, stderr } = receive({ caps: 'report-status side-band-64k', newTip: tip, pack, maxInputSize: MAX, unpackLimit: 100 });
    expect(clientView(Buffer.from(answer, 'latin1'), true).report).toEqual(['unpack ok\n', 'ok refs/heads/claude/x\n']);
    expect(receivePackAudits('app', MAX, ['refs/heads/claude/x'], answer, stderr)).toEqual([]);
  });

  it("the hook's refusals were audited by the gate already, even when the upstream's words relayed by it look like git's size limit", () => {
    const report = Buffer.concat([pkt('unpack ok\n'), pkt('ng refs/heads/claude/x pre-receive hook declined\n'), FLUSH]);
    const sb = (band: number, data: Buffer | string) => pkt(Buffer.concat([Buffer.from([band]), Buffer.from(data)]));
    // Progress packets may split a line anywhere: here right before the upstream's words.
    const answer = Buffer.concat([sb(2, 'git-gate: the upstream refused this push:\n  remote: '), sb(2, 'fatal: pack exceeds maximum allowed size\n'), sb(1, report), FLUSH]).toString('latin1');
    expect(receivePackAudits('app', MAX, ['refs/heads/claude/x'], answer, '')).toEqual([]);
  });
});

// The provisioning tar carries owners, modes, nested files and symlinks; the
// script removes replaced paths, runs commands as their user, and reports
// which command failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { packFiles, parseMarkers, provisionScript, shq } from '../../../core/guest-files.ts';
import type { GuestFile } from '../../../core/plan.ts';

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  body: string;
  linkname?: string | null;
}

async function entries(files: GuestFile[]): Promise<Entry[]> {
  const out: Entry[] = [];
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      out.push({ name: h.name, type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? -1, gid: h.gid ?? -1, body: Buffer.concat(chunks).toString(), linkname: h.linkname });
      next();
    });
  });
  const done = new Promise<void>((r) => extract.on('finish', () => r()));
  for await (const chunk of packFiles(files)) extract.write(chunk);
  extract.end(undefined as never);
  await done;
  return out;
}

describe('packFiles', () => {
  it('writes content files with their owner and mode, creating home dirs owned by node', async () => {
    const list = await entries([{ guestPath: '/home/node/.config/x/a.txt', content: 'hi', owner: 'node', mode: 0o600, plugin: 't' }]);
    expect(list.map((e) => [e.name, e.type, e.uid, e.mode.toString(8)])).toEqual([
      ['home/node/.config', 'directory', 1000, '755'],
      ['home/node/.config/x', 'directory', 1000, '755'],
      ['home/node/.config/x/a.txt', 'file', 1000, '600'],
    ]);
    expect(list[2]!.body).toBe('hi');
  });

  it('copies a host tree: nested files, modes kept, symlinks as links, owner from the declaration', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-tar-'));
    mkdirSync(path.join(dir, 'sub'));
    writeFileSync(path.join(dir, 'sub', 'run.sh'), 'echo', { mode: 0o755 });
    writeFileSync(path.join(dir, 'plain.txt'), 'p', { mode: 0o640 });
    symlinkSync('plain.txt', path.join(dir, 'link'));
    const list = await entries([{ guestPath: '/opt/tree', hostPath: dir, owner: 'root', plugin: 't' }]);
    const by = Object.fromEntries(list.map((e) => [e.name, e]));
    expect(by['opt/tree/sub/run.sh']).toMatchObject({ type: 'file', uid: 0, body: 'echo' });
    expect(by['opt/tree/sub/run.sh']!.mode & 0o777).toBe(0o755);
    expect(by['opt/tree/plain.txt']!.mode & 0o777).toBe(0o640);
    expect(by['opt/tree/link']).toMatchObject({ type: 'symlink', linkname: 'plain.txt' });
  });

  it('handles paths longer than the 100 bytes of a plain tar header', async () => {
    const long = '/home/node/' + 'd'.repeat(120) + '/f.txt';
    const list = await entries([{ guestPath: long, content: 'x', owner: 'node', plugin: 't' }]);
    expect(list.at(-1)!.name).toBe(long.slice(1));
  });
});

describe('provisionScript', () => {
  it('removes replaced paths before extracting, then runs commands as their user', () => {
    const s = provisionScript(
      [{ guestPath: "/home/node/.claude/skills/it's", hostPath: '/h', owner: 'node', replace: true, plugin: 'skills' }],
      [
        { argv: ['git', 'config', '--global', 'user.name', 'A B'], user: 'node', plugin: 'git-user' },
        { argv: ['update-ca-certificates'], user: 'root', plugin: 'ca', optional: true },
      ],
    );
    const lines = s.split('\n');
    expect(lines[1]).toBe(`rm -rf -- '/home/node/.claude/skills/it'\\''s'`);
    expect(lines[2]).toMatch(/^tar -x /);
    expect(lines[3]).toMatch(/^runuser -u node -- env HOME=\/home\/node sh -c .*git config --global user\.name/);
    expect(lines[4]).toContain('update-ca-certificates || echo "__bottle_warn__ 1 $?"');
  });

  it('runs a provisioning script for real: files in, node commands as node in one runuser, markers for failures', () => {
    // Without root and runuser here, a stand-in `runuser` runs the group as this user; the script is the real one.
    const dir = mkdtempSync(path.join(tmpdir(), 'prov-'));
    try {
      writeFileSync(path.join(dir, 'runuser'), '#!/bin/sh\n[ "$1 $2 $3" = "-u node --" ] || exit 99\nshift 3\necho runuser >> "$LOG"\nexec "$@"\n', { mode: 0o755 });
      const log = path.join(dir, 'log');
      const cmds = [
        { argv: ['sh', '-c', 'echo "one $HOME" >> "$LOG"'], user: 'node' as const, plugin: 'a' },
        { argv: ['sh', '-c', 'echo "two $X" >> "$LOG"'], user: 'node' as const, env: { X: 'it\'s x' }, plugin: 'b' },
        { argv: ['sh', '-c', 'echo root >> "$LOG"'], user: 'root' as const, plugin: 'c' },
        { argv: ['sh', '-c', 'exit 3'], user: 'node' as const, optional: true, plugin: 'd' },
        { argv: ['sh', '-c', 'exit 4'], user: 'node' as const, plugin: 'e' },
        { argv: ['sh', '-c', 'echo never >> "$LOG"'], user: 'node' as const, plugin: 'f' },
      ];
      const script = provisionScript([], cmds).replace(/^tar .*$/m, ':');
      const r = spawnSync('sh', ['-c', script], { env: { PATH: `${dir}:${process.env.PATH}`, LOG: log }, encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(parseMarkers(r.stderr)).toEqual({ failed: { step: 4, exitCode: 4 }, warned: [{ step: 3, exitCode: 3 }] });
      // Two runuser processes for five node commands: one per run of consecutive ones.
      expect(readFileSync(log, 'utf8').split('\n').filter(Boolean)).toEqual(['runuser', 'one /home/node', "two it's x", 'root', 'runuser']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('markers say which step failed or warned', () => {
    expect(parseMarkers('noise\n__bottle_warn__ 1 3\n__bottle_fail__ 0 128\n')).toEqual({ failed: { step: 0, exitCode: 128 }, warned: [{ step: 1, exitCode: 3 }] });
    expect(parseMarkers('__bottle_fail__ tar 2')).toEqual({ failed: { step: 'tar', exitCode: 2 }, warned: [] });
  });

  it('quotes words for the shell', () => {
    expect(shq('plain-word_1.txt')).toBe('plain-word_1.txt');
    expect(shq('a b')).toBe(`'a b'`);
    expect(shq(`$(rm -rf /)`)).toBe(`'$(rm -rf /)'`);
  });
});

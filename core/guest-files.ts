// Puts every planned file into the guest with ONE tar stream and ONE exec,
// whatever their number: the script removes what `replace` files replace,
// extracts the tar (owners and modes set in its headers), then runs the
// planned post-commands. Ten skills cost the same Docker calls as one.
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { END, header, padding, type TarEntry } from './tar.ts';
import type { GuestCommand, GuestFile, GuestOwner } from './plan.ts';
import { GUEST_HOME } from './plan.ts';

const IDS: Record<GuestOwner, { uid: number; gid: number; uname: string; gname: string }> = {
  node: { uid: 1000, gid: 1000, uname: 'node', gname: 'node' },
  root: { uid: 0, gid: 0, uname: 'root', gname: 'root' },
};

/** Shell-quotes one word. */
export function shq(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Marker lines the script writes to stderr when a command fails. */
const FAIL = '__bottle_fail__';
const WARN = '__bottle_warn__';

/**
 * The one provisioning script, run as root with the tar on its stdin: remove
 * what `replace` files replace, extract, then the post-commands in order.
 * Consecutive commands of node run in ONE `runuser` (each process costs
 * 10-40 ms in a container here; three `git config` calls were nine).
 */
export function provisionScript(files: readonly GuestFile[], commands: readonly GuestCommand[]): string {
  const lines = ['set -u'];
  const replaced = files.filter((f) => f.replace).map((f) => shq(f.guestPath));
  if (replaced.length) lines.push(`rm -rf -- ${replaced.join(' ')}`);
  lines.push(`tar -x -p --same-owner --numeric-owner --no-overwrite-dir -C / -f - || { echo "${FAIL} tar $?" >&2; exit 1; }`);
  const step = (c: GuestCommand, i: number) => {
    const env = Object.entries(c.env ?? {}).map(([k, v]) => shq(`${k}=${v}`));
    const run = `${env.length ? `env ${env.join(' ')} ` : ''}${c.argv.map(shq).join(' ')}`;
    return c.optional ? `${run} || echo "${WARN} ${i} $?" >&2` : `${run} || { echo "${FAIL} ${i} $?" >&2; exit 1; }`;
  };
  for (let i = 0; i < commands.length; ) {
    if (commands[i]!.user === 'root') {
      lines.push(step(commands[i]!, i));
      i++;
      continue;
    }
    const group: string[] = [];
    for (; i < commands.length && commands[i]!.user === 'node'; i++) group.push(step(commands[i]!, i));
    // The group's own failure marker is already out; the outer script just stops.
    lines.push(`runuser -u node -- env HOME=${GUEST_HOME} sh -c ${shq(group.join('\n'))} || exit 1`);
  }
  return lines.join('\n');
}

export interface ScriptFailure {
  /** 'tar', or the index of the command in the plan. */
  step: 'tar' | number;
  exitCode: number;
}

/** Reads the fail/warn markers back out of the script's stderr. */
export function parseMarkers(stderr: string): { failed?: ScriptFailure; warned: ScriptFailure[] } {
  const warned: ScriptFailure[] = [];
  let failed: ScriptFailure | undefined;
  for (const line of stderr.split('\n')) {
    const m = /^(__bottle_fail__|__bottle_warn__) (\S+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const f: ScriptFailure = { step: m[2] === 'tar' ? 'tar' : Number(m[2]), exitCode: Number(m[3]) };
    if (m[1] === FAIL) failed = f;
    else warned.push(f);
  }
  return failed ? { failed, warned } : { warned };
}

/** Directories between the guest home and `p` that tar must create owned by node. */
function homeAncestors(p: string): string[] {
  if (!p.startsWith(GUEST_HOME + '/')) return [];
  const out: string[] = [];
  for (let d = path.posix.dirname(p); d !== GUEST_HOME && d.startsWith(GUEST_HOME); d = path.posix.dirname(d)) out.unshift(d);
  return out;
}

/** Files up to this size are read whole (in parallel); larger ones are streamed. */
const SMALL = 1 << 20;

/** How many small files are read ahead of the one being written. */
const READ_AHEAD = 32;

type Item = { entry: TarEntry; content?: Buffer; read?: string; body?: Promise<Buffer>; stream?: string };

/**
 * A tar stream of all the files, owners and modes in its headers. The trees
 * are walked and small files read concurrently, so many small files (skills)
 * cost little more than one.
 */
export function packFiles(files: readonly GuestFile[]): Readable {
  return Readable.from(tarChunks(files));
}

async function* tarChunks(files: readonly GuestFile[]): AsyncGenerator<Buffer> {
  const dirsDone = new Set<string>();
  const now = new Date();
  for (const f of files) {
    const ids = IDS[f.owner];
    for (const d of homeAncestors(f.guestPath)) {
      if (dirsDone.has(d)) continue;
      dirsDone.add(d);
      yield header({ name: d.slice(1), type: 'directory', mode: 0o755, mtime: now, ...IDS.node });
    }
    const items: Item[] = [];
    if (f.content !== undefined) {
      const body = Buffer.from(f.content);
      items.push({ entry: { name: f.guestPath.slice(1), type: 'file', mode: f.mode ?? 0o644, size: body.length, mtime: now, ...ids }, content: body });
    } else if (f.hostPath !== undefined) {
      await walk(f.hostPath, f.guestPath.slice(1), ids, f.mode, items);
    }
    const startRead = (item: Item | undefined) => {
      if (!item?.read || item.body) return;
      item.body = readFile(item.read);
      item.body.catch(() => {}); // awaited in order below; no unhandled rejection meanwhile
    };
    for (let i = 0; i < Math.min(READ_AHEAD, items.length); i++) startRead(items[i]);
    for (const [i, item] of items.entries()) {
      startRead(items[i + READ_AHEAD]);
      yield header(item.entry);
      const size = item.entry.size ?? 0;
      if (item.content || item.body) {
        const body = item.content ?? (await item.body!);
        // A file that changed size since its stat would corrupt the archive.
        if (body.length !== size) throw new Error(`${item.entry.name} changed while it was being copied`);
        yield body;
      } else if (item.stream) {
        let sent = 0;
        for await (const chunk of createReadStream(item.stream, { end: size - 1 })) {
          sent += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (sent !== size) throw new Error(`${item.entry.name} changed while it was being copied`);
      }
      if (item.entry.type === 'file') yield padding(size);
    }
  }
  yield END;
}

/** Lists a host tree depth-first, stat-ing each directory's entries concurrently. */
async function walk(host: string, name: string, ids: (typeof IDS)[GuestOwner], mode: number | undefined, out: Item[]): Promise<void> {
  const st = await lstat(host);
  await add(host, name, st, ids, mode, out);
}

async function add(host: string, name: string, st: Stats, ids: (typeof IDS)[GuestOwner], mode: number | undefined, out: Item[]): Promise<void> {
  const m = mode ?? st.mode & 0o7777;
  // mtime kept: git's index in a copied workspace then still matches its files.
  const base = { name, mode: m, mtime: st.mtime, ...ids };
  if (st.isDirectory()) {
    out.push({ entry: { ...base, type: 'directory' } });
    const names = (await readdir(host)).sort();
    const stats = await Promise.all(names.map((n) => lstat(path.join(host, n))));
    for (const [i, n] of names.entries()) await add(path.join(host, n), `${name}/${n}`, stats[i]!, ids, undefined, out);
  } else if (st.isSymbolicLink()) {
    out.push({ entry: { ...base, mode: 0o777, type: 'symlink', linkname: await readlink(host) } });
  } else if (st.isFile()) {
    const entry: TarEntry = { ...base, type: 'file', size: st.size };
    if (st.size <= SMALL) {
      out.push({ entry, read: host });
    } else {
      out.push({ entry, stream: host });
    }
  }
  // Sockets, fifos and devices are not copied.
}

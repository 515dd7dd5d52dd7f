// Puts every planned file into the guest with ONE tar stream and ONE exec,
// whatever their number: the script removes what `replace` files replace,
// extracts the tar (owners and modes set in its headers), then runs the
// planned post-commands. Ten skills cost the same Docker calls as one.
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { Readable } from 'node:stream';
import type { GuestCommand, GuestFile, GuestOwner } from './plan.ts';
import { GUEST_HOME } from './plan.ts';

/** tar-stream fills in what a header leaves out (mtime, sizes of dirs). */
type EntryHeader = Partial<tar.Header> & { name: string };

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

/** The one script the provisioning exec runs as root, tar on its stdin. */
export function provisionScript(files: readonly GuestFile[], commands: readonly GuestCommand[]): string {
  const lines = ['set -u'];
  const replaced = files.filter((f) => f.replace).map((f) => shq(f.guestPath));
  if (replaced.length) lines.push(`rm -rf -- ${replaced.join(' ')}`);
  lines.push(`tar -x -p --same-owner --numeric-owner --no-overwrite-dir -C / -f - || { echo "${FAIL} tar $?" >&2; exit 1; }`);
  commands.forEach((c, i) => {
    const env = Object.entries(c.env ?? {}).map(([k, v]) => shq(`${k}=${v}`));
    const argv = c.argv.map(shq).join(' ');
    const run = c.user === 'node' ? `runuser -u node -- env HOME=${GUEST_HOME} ${env.join(' ')} ${argv}` : `env ${env.join(' ')} ${argv}`;
    lines.push(c.optional ? `${run} || echo "${WARN} ${i} $?" >&2` : `${run} || { echo "${FAIL} ${i} $?" >&2; exit 1; }`);
  });
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

/** A tar stream of all the files, owners and modes in its headers. */
export function packFiles(files: readonly GuestFile[]): Readable {
  const pack = tar.pack();
  const fill = async () => {
    const dirsDone = new Set<string>();
    const add = (header: EntryHeader, body?: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const done = (err?: Error | null) => (err ? reject(err) : resolve());
        if (body) pack.entry(header as tar.Header, body, done);
        else pack.entry(header as tar.Header, done);
      });
    for (const f of files) {
      const ids = IDS[f.owner];
      for (const d of homeAncestors(f.guestPath)) {
        if (dirsDone.has(d)) continue;
        dirsDone.add(d);
        await add({ name: d.slice(1), type: 'directory', mode: 0o755, ...IDS.node });
      }
      if (f.content !== undefined) {
        const body = typeof f.content === 'string' ? Buffer.from(f.content) : Buffer.from(f.content);
        await add({ name: f.guestPath.slice(1), type: 'file', mode: f.mode ?? 0o644, size: body.length, ...ids }, body);
      } else if (f.hostPath !== undefined) {
        await addHostTree(pack, add, f.hostPath, f.guestPath.slice(1), ids, f.mode);
      }
    }
    pack.finalize();
  };
  fill().catch((e) => pack.destroy(e instanceof Error ? e : new Error(String(e))));
  // tar-stream is a streamx stream; execa wants a Node one.
  return Readable.from(pack);
}

async function addHostTree(
  pack: tar.Pack,
  add: (h: EntryHeader, body?: Buffer) => Promise<void>,
  host: string,
  name: string,
  ids: (typeof IDS)[GuestOwner],
  mode: number | undefined,
): Promise<void> {
  const st = await lstat(host);
  const m = mode ?? st.mode & 0o7777;
  if (st.isDirectory()) {
    await add({ name, type: 'directory', mode: m, mtime: st.mtime, ...ids });
    for (const entry of (await readdir(host)).sort()) {
      await addHostTree(pack, add, path.join(host, entry), `${name}/${entry}`, ids, undefined);
    }
  } else if (st.isSymbolicLink()) {
    await add({ name, type: 'symlink', linkname: await readlink(host), mode: 0o777, mtime: st.mtime, ...ids });
  } else if (st.isFile()) {
    await new Promise<void>((resolve, reject) => {
      // mtime kept: git's index in a copied workspace then still matches its files.
      const entry = pack.entry({ name, type: "file", mode: m, size: st.size, mtime: st.mtime, ...ids } as tar.Header, (err) => (err ? reject(err) : resolve()));
      createReadStream(host).on('error', reject).pipe(entry);
    });
  }
  // Sockets, fifos and devices are not copied.
}

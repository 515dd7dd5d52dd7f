// The bottle's private host directory (0700) under the state root, and the
// audit trail: audit.jsonl lives there while the bottle runs and is kept in
// logs/ when the bottle's state dir is removed at teardown.
import { appendFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { doorsDirFits } from './doors.ts';
import { endHostProcesses } from './host-processes.ts';
import { endWritableMounts } from './writable-mounts.ts';

export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOTTLE_STATE_HOME) return path.resolve(env.BOTTLE_STATE_HOME);
  const xdg = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(xdg, 'claude-bottle');
}

export const bottlesDir = (root: string) => path.join(root, 'bottles');
export const logsDir = (root: string) => path.join(root, 'logs');
export const auditLogPath = (root: string, slug: string) => path.join(logsDir(root), `${slug}.audit.jsonl`);

/**
 * Where a bottle's door sockets live: `<state dir>/doors`, or, when that path
 * is too long for a Unix socket (a deep HOME), a dir of its own in the temp
 * dir. Deterministic, so `down` and `gc` find it too.
 */
export function doorsDirFor(root: string, slug: string): string {
  const inState = path.join(bottlesDir(root), slug, 'doors');
  return doorsDirFits(inState) ? inState : path.join(tmpdir(), `claude-bottle-doors-${slug}`);
}

/** Makes the doors dir, 0700; refuses one that exists already (it could be someone else's). */
export function createDoorsDir(root: string, slug: string): string {
  const dir = doorsDirFor(root, slug);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${dir} exists already; remove it (\`bottle gc\`) and try again`);
    throw e;
  }
  return dir;
}

/** A path with its existing part resolved through symlinks (the rest need not exist yet). */
function realish(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(realpathSync(head), ...tail);
    } catch {
      const up = path.dirname(head);
      if (up === head) return abs;
      tail.unshift(path.basename(head));
      head = up;
    }
  }
}

/**
 * What of the host's bottle state a host path would put in the guest's reach
 * if it were mounted or copied in: the state root (every bottle's sockets,
 * audit trail, approvals, recorded processes), this bottle's doors dir, or the
 * temp dir where long paths move sockets. Undefined when none.
 */
export function exposedState(hostPath: string, root: string, slug: string): string | undefined {
  const h = realish(hostPath);
  const within = (p: string) => {
    const r = realish(p);
    return r === h || r.startsWith(h.endsWith(path.sep) ? h : h + path.sep);
  };
  if (within(root)) return `the bottle state dir ${root}`;
  if (within(doorsDirFor(root, slug))) return `the bottle's doors ${doorsDirFor(root, slug)}`;
  if (within(tmpdir())) return `the temp dir ${tmpdir()}, where bottles may keep their sockets`;
  return undefined;
}

export interface OwnerFile {
  slug: string;
  owner: string;
  created: string;
}

export function createStateDir(root: string, info: OwnerFile): string {
  const dir = path.join(bottlesDir(root), info.slug);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dir, 'owner.json'), JSON.stringify(info) + '\n', { mode: 0o600 });
  return dir;
}

/** Ends the bottle's recorded host processes, keeps the audit trail in logs/, then removes the state dir. Idempotent. */
export function removeStateDir(root: string, slug: string): void {
  const dir = path.join(bottlesDir(root), slug);
  endHostProcesses(dir);
  const audit = path.join(dir, 'audit.jsonl');
  if (existsSync(audit)) {
    mkdirSync(logsDir(root), { recursive: true, mode: 0o700 });
    renameSync(audit, auditLogPath(root, slug));
  }
  // Retried: a daemon of a bottle still tearing down may be writing in it.
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  endWritableMounts(root, slug);
  const doors = doorsDirFor(root, slug);
  if (!doors.startsWith(dir + path.sep)) {
    // The temp-dir fallback: only ours (a dir, not a link someone planted).
    try {
      const st = lstatSync(doors);
      if (st.isDirectory() && st.uid === process.getuid?.()) rmSync(doors, { recursive: true, force: true });
    } catch {
      // Already gone.
    }
  }
}

export function listStateDirs(root: string): OwnerFile[] {
  let names: string[];
  try {
    names = readdirSync(bottlesDir(root));
  } catch {
    return [];
  }
  return names.map((slug) => {
    try {
      const f = JSON.parse(readFileSync(path.join(bottlesDir(root), slug, 'owner.json'), 'utf8')) as Partial<OwnerFile>;
      // The slug is the directory's own name, never what the file says: `gc` removes by it.
      return { slug, owner: typeof f.owner === 'string' ? f.owner : '', created: typeof f.created === 'string' ? f.created : '' };
    } catch {
      return { slug, owner: '', created: '' };
    }
  });
}

/** Appends one JSON line; sync so records keep their order and survive a crash. */
export function appendAudit(stateDir: string, record: object): void {
  appendFileSync(path.join(stateDir, 'audit.jsonl'), JSON.stringify(record) + '\n', { mode: 0o600 });
}

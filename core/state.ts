// The bottle's private host directory (0700) under the state root, and the
// audit trail: audit.jsonl lives there while the bottle runs and is kept in
// logs/ when the bottle's state dir is removed at teardown.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BOTTLE_STATE_HOME) return path.resolve(env.BOTTLE_STATE_HOME);
  const xdg = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(xdg, 'claude-bottle');
}

export const bottlesDir = (root: string) => path.join(root, 'bottles');
export const logsDir = (root: string) => path.join(root, 'logs');
export const auditLogPath = (root: string, slug: string) => path.join(logsDir(root), `${slug}.audit.jsonl`);

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

/** Keeps the audit trail in logs/, then removes the state dir. Idempotent. */
export function removeStateDir(root: string, slug: string): void {
  const dir = path.join(bottlesDir(root), slug);
  const audit = path.join(dir, 'audit.jsonl');
  if (existsSync(audit)) {
    mkdirSync(logsDir(root), { recursive: true, mode: 0o700 });
    renameSync(audit, auditLogPath(root, slug));
  }
  rmSync(dir, { recursive: true, force: true });
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
      return JSON.parse(readFileSync(path.join(bottlesDir(root), slug, 'owner.json'), 'utf8')) as OwnerFile;
    } catch {
      return { slug, owner: '', created: '' };
    }
  });
}

/** Appends one JSON line; sync so records keep their order and survive a crash. */
export function appendAudit(stateDir: string, record: object): void {
  appendFileSync(path.join(stateDir, 'audit.jsonl'), JSON.stringify(record) + '\n', { mode: 0o600 });
}

// `bottle ps`, `bottle down`, `bottle gc`: bottles found from their labels
// and state dirs, whoever made them.
import { DockerBackend } from '../../core/backends/docker.ts';
import type { BottleRecord } from '../../core/backends/types.ts';
import { BottleError } from '../../core/errors.ts';
import { isOwnerAlive } from '../../core/owner.ts';
import { listStateDirs, removeStateDir, stateRoot } from '../../core/state.ts';
import { setTimeout as sleep } from 'node:timers/promises';

interface Row {
  slug: string;
  agent: string;
  status: string;
  created: string;
  owner: string;
  ownerAlive: boolean;
  containers: string[];
  networks: string[];
  stateDir: boolean;
}

async function rows(backend = new DockerBackend()): Promise<Row[]> {
  const records: BottleRecord[] = await backend.list();
  const dirs = listStateDirs(stateRoot());
  const bySlug = new Map<string, Row>();
  for (const r of records) {
    bySlug.set(r.slug, { slug: r.slug, agent: r.agent, status: r.status, created: r.created, owner: r.owner, ownerAlive: isOwnerAlive(r.owner), containers: r.containers, networks: r.networks, stateDir: false });
  }
  for (const d of dirs) {
    const row = bySlug.get(d.slug);
    if (row) row.stateDir = true;
    else bySlug.set(d.slug, { slug: d.slug, agent: '', status: 'state dir only', created: d.created, owner: d.owner, ownerAlive: isOwnerAlive(d.owner), containers: [], networks: [], stateDir: true });
  }
  return [...bySlug.values()].sort((a, b) => a.created.localeCompare(b.created));
}

export async function psCommand(opts: { json?: boolean }): Promise<number> {
  const list = await rows();
  if (opts.json) {
    process.stdout.write(JSON.stringify(list, null, 2) + '\n');
    return 0;
  }
  if (!list.length) {
    process.stdout.write('no bottles\n');
    return 0;
  }
  const table = [['SLUG', 'AGENT', 'STATUS', 'CREATED', 'OWNER'], ...list.map((r) => [r.slug, r.agent, r.status, r.created, `${r.owner.split(':')[0]}${r.ownerAlive ? '' : ' (gone)'}`])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  process.stdout.write(table.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n');
  return 0;
}

/**
 * A live bottle is asked to tear itself down first (SIGTERM to its `bottle`
 * process, which ends its daemons and helpers and keeps its audit trail);
 * whatever is still there after that, or after a dead owner, is removed here.
 */
async function remove(backend: DockerBackend, row: Row): Promise<void> {
  if (row.ownerAlive) {
    const pid = Number(row.owner.split(':')[0]);
    try {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 150 && isOwnerAlive(row.owner); i++) await sleep(100);
    } catch {
      // Gone already, or not ours to signal: removed below either way.
    }
  }
  await backend.removeBottle(row.slug);
  removeStateDir(stateRoot(), row.slug);
}

export async function downCommand(slug: string | undefined, opts: { all?: boolean }): Promise<number> {
  if (!slug && !opts.all) throw new BottleError('bottle down needs a SLUG or --all', { code: 'USAGE', hint: '`bottle ps` lists the bottles' });
  if (slug && opts.all) throw new BottleError('give either a SLUG or --all, not both', { code: 'USAGE' });
  const backend = new DockerBackend();
  const list = await rows(backend);
  const targets = opts.all ? list : list.filter((r) => r.slug === slug);
  if (!targets.length) {
    if (opts.all) {
      process.stdout.write('no bottles\n');
      return 0;
    }
    throw new BottleError(`no bottle named "${slug}"`, { code: 'USAGE', hint: '`bottle ps` lists the bottles' });
  }
  for (const t of targets) {
    await remove(backend, t);
    process.stdout.write(`removed ${t.slug}\n`);
  }
  return 0;
}

export async function gcCommand(): Promise<number> {
  const backend = new DockerBackend();
  const dead = (await rows(backend)).filter((r) => !r.ownerAlive);
  for (const r of dead) {
    await remove(backend, r);
    process.stdout.write(`removed ${r.slug} (${[r.containers.length && `${r.containers.length} container`, r.networks.length && `${r.networks.length} network`, r.stateDir && 'state dir'].filter(Boolean).join(', ')})\n`);
  }
  if (!dead.length) process.stdout.write('nothing to remove\n');
  return 0;
}

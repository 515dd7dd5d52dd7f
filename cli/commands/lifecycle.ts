// `bottle ps`, `bottle down`, `bottle gc`: bottles found from their labels
// and state dirs, whoever made them, on Docker and (when its CLI is there)
// on smolvm.
import { DockerBackend } from '../../core/backends/docker.ts';
import { SmolvmBackend } from '../../core/backends/smolvm.ts';
import type { Backend, BottleRecord } from '../../core/backends/types.ts';
import { BottleError, isBottleError } from '../../core/errors.ts';
import { isOwnerAlive } from '../../core/owner.ts';
import { listStateDirs, removeStateDir, stateRoot } from '../../core/state.ts';
import { setTimeout as sleep } from 'node:timers/promises';

interface Row {
  slug: string;
  agent: string;
  /** Which backend holds its guest ('' for a state dir alone). */
  backend: Backend['name'] | '';
  status: string;
  created: string;
  owner: string;
  ownerAlive: boolean;
  containers: string[];
  networks: string[];
  stateDir: boolean;
}

/**
 * Docker always; smolvm when its CLI answers (1.9 or later). A backend whose
 * CLI is not installed is skipped when the other one answers (a Mac with
 * smolvm only, a Linux box with Docker only); any other failure is reported.
 */
async function listAll(backends: Backend[]): Promise<Array<{ backend: Backend; records: BottleRecord[] }>> {
  const out: Array<{ backend: Backend; records: BottleRecord[] }> = [];
  const missing: unknown[] = [];
  for (const backend of backends) {
    try {
      if (backend.name === 'smolvm') {
        // Not there, or not one we can drive: it holds no bottle of ours.
        const usable = await backend.check().then(() => true, (e: unknown) => (missing.push(e), false));
        if (!usable) continue;
      }
      out.push({ backend, records: await backend.list() });
    } catch (e) {
      if (isBottleError(e) && /command was not found/.test(e.message)) missing.push(e);
      else throw e;
    }
  }
  if (!out.length && missing.length) throw missing[0];
  return out;
}

async function rows(backends: Backend[]): Promise<Row[]> {
  const found = await listAll(backends);
  const dirs = listStateDirs(stateRoot());
  const bySlug = new Map<string, Row>();
  for (const { backend, records } of found) {
    for (const r of records) {
      bySlug.set(r.slug, { slug: r.slug, agent: r.agent, backend: backend.name, status: r.status, created: r.created, owner: r.owner, ownerAlive: isOwnerAlive(r.owner), containers: r.containers, networks: r.networks, stateDir: false });
    }
  }
  for (const d of dirs) {
    const row = bySlug.get(d.slug);
    if (row) row.stateDir = true;
    else bySlug.set(d.slug, { slug: d.slug, agent: '', backend: '', status: 'state dir only', created: d.created, owner: d.owner, ownerAlive: isOwnerAlive(d.owner), containers: [], networks: [], stateDir: true });
  }
  return [...bySlug.values()].sort((a, b) => a.created.localeCompare(b.created));
}

const allBackends = (): Backend[] => [new DockerBackend(), new SmolvmBackend()];

export async function psCommand(opts: { json?: boolean }): Promise<number> {
  const list = await rows(allBackends());
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
async function remove(backends: Backend[], row: Row): Promise<void> {
  if (row.ownerAlive) {
    const pid = Number(row.owner.split(':')[0]);
    try {
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 150 && isOwnerAlive(row.owner); i++) await sleep(100);
    } catch {
      // Gone already, or not ours to signal: removed below either way.
    }
  }
  const holder = backends.find((b) => b.name === row.backend);
  if (holder) await holder.removeBottle(row.slug);
  removeStateDir(stateRoot(), row.slug);
}

export async function downCommand(slug: string | undefined, opts: { all?: boolean }): Promise<number> {
  if (!slug && !opts.all) throw new BottleError('bottle down needs a SLUG or --all', { code: 'USAGE', hint: '`bottle ps` lists the bottles' });
  if (slug && opts.all) throw new BottleError('give either a SLUG or --all, not both', { code: 'USAGE' });
  const backends = allBackends();
  const list = await rows(backends);
  const targets = opts.all ? list : list.filter((r) => r.slug === slug);
  if (!targets.length) {
    if (opts.all) {
      process.stdout.write('no bottles\n');
      return 0;
    }
    throw new BottleError(`no bottle named "${slug}"`, { code: 'USAGE', hint: '`bottle ps` lists the bottles' });
  }
  for (const t of targets) {
    await remove(backends, t);
    process.stdout.write(`removed ${t.slug}\n`);
  }
  return 0;
}

export async function gcCommand(): Promise<number> {
  const backends = allBackends();
  const dead = (await rows(backends)).filter((r) => !r.ownerAlive);
  for (const r of dead) {
    await remove(backends, r);
    process.stdout.write(`removed ${r.slug} (${[r.containers.length && `${r.containers.length} ${r.backend === 'smolvm' ? 'machine' : 'container'}`, r.networks.length && `${r.networks.length} network`, r.stateDir && 'state dir'].filter(Boolean).join(', ')})\n`);
  }
  if (!dead.length) process.stdout.write('nothing to remove\n');
  return 0;
}

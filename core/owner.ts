// Who made a bottle: the pid and kernel start time of the `bottle` process,
// so `gc` can tell a live owner from a dead one even after the pid is reused.
import { readFileSync } from 'node:fs';

function startTime(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat, counted after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export function ownerToken(pid: number = process.pid): string {
  return `${pid}:${startTime(pid) ?? '0'}`;
}

export function isOwnerAlive(token: string): boolean {
  const [pidText, start] = token.split(':');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but is someone else's.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = startTime(pid);
  return now === undefined || start === '0' || now === start;
}

// Host processes a bottle started that may outlive the `bottle` process (a
// daemonised helper such as the git gate's ssh ControlMaster). Each is
// recorded in the bottle's state dir with its start time, so that teardown,
// `bottle down` and `bottle gc` end exactly it, never a process that reused
// its pid.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isOwnerAlive, ownerToken } from './owner.ts';

interface Record {
  pid: number;
  /** pid and kernel start time, as in owner.ts. */
  token: string;
  label: string;
}

const dirOf = (stateDir: string) => path.join(stateDir, 'procs');

export function recordHostProcess(stateDir: string, pid: number, label: string): void {
  const rec: Record = { pid, token: ownerToken(pid), label };
  mkdirSync(dirOf(stateDir), { recursive: true, mode: 0o700 });
  writeFileSync(path.join(dirOf(stateDir), `${pid}.json`), JSON.stringify(rec) + '\n', { mode: 0o600 });
}

/** Sends SIGTERM to every recorded process still alive; returns their labels. Never throws. */
export function endHostProcesses(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dirOf(stateDir));
  } catch {
    return [];
  }
  const ended: string[] = [];
  for (const name of names) {
    try {
      const rec = JSON.parse(readFileSync(path.join(dirOf(stateDir), name), 'utf8')) as Record;
      // Only a record with the real start time counts (a pid alone may be anyone's by now).
      if (!Number.isInteger(rec.pid) || rec.pid <= 1 || rec.token !== `${rec.pid}:${rec.token.split(':')[1]}` || rec.token.endsWith(':0') || !isOwnerAlive(rec.token)) continue;
      process.kill(rec.pid, 'SIGTERM');
      ended.push(rec.label);
    } catch {
      // Gone already, or not ours to signal.
    }
  }
  return ended;
}

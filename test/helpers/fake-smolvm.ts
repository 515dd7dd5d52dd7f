// The fake `smolvm` (fake-smolvm.mjs) as the tests use it: an executable
// named `smolvm` in a directory of its own (run by this Node), one state dir
// per test process, and what is left of a bottle's machines.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execaSync } from 'execa';

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fake-smolvm.mjs');
const HOME = path.join(tmpdir(), `claude-bottle-fake-smolvm-${process.pid}`);

/** Where the fake keeps its machines (and calls.jsonl) for this test process. */
export const FAKE_SMOLVM_STATE = path.join(HOME, 'state');

/** The `smolvm` executable: a shell wrapper running the fake with this Node. */
export function fakeSmolvmBin(): string {
  const dir = path.join(HOME, 'bin');
  const bin = path.join(dir, 'smolvm');
  if (!existsSync(bin)) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(SCRIPT)} "$@"\n`);
    chmodSync(bin, 0o755);
  }
  return bin;
}

/** The environment that makes `bottle` drive the fake: on PATH and as BOTTLE_SMOLVM. */
export function fakeSmolvmEnv(): Record<string, string> {
  const bin = fakeSmolvmBin();
  return { BOTTLE_SMOLVM: bin, FAKE_SMOLVM_STATE, PATH: `${path.dirname(bin)}${path.delimiter}${process.env.PATH ?? ''}` };
}

interface MachineRecord {
  name: string;
  labels: Record<string, string>;
  state: string;
}

/** The fake's machines (records), optionally those of one agent. */
export function fakeMachines(agent?: string): MachineRecord[] {
  const dir = path.join(FAKE_SMOLVM_STATE, 'machines');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as MachineRecord)
    .filter((m) => agent === undefined || m.labels['claude-bottle.agent'] === agent);
}

/** Docker containers the fake runs for machines of one agent. */
export function fakeMachineContainers(agent: string): string[] {
  const names = fakeMachines(agent).map((m) => `fake-smolvm-${m.name}`);
  const all = execaSync('docker', ['ps', '-a', '--filter', `label=fake-smolvm.state=${FAKE_SMOLVM_STATE}`, '--format', '{{.Names}}']).stdout.split('\n').filter(Boolean);
  return all.filter((n) => names.includes(n) || n.includes(agent));
}

/** Every call the fake got (argv), oldest first. */
export function fakeSmolvmCalls(): string[][] {
  const f = path.join(FAKE_SMOLVM_STATE, 'calls.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as string[]);
}

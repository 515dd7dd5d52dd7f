// Runs the real `bottle` CLI (from source, Node strips the types) in a
// throwaway project directory with its own state root, and finds what a
// bottle left in Docker by its labels.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync, type ResultPromise } from 'execa';
import { expect } from 'vitest';
import { fakeMachineContainers, fakeSmolvmEnv } from './fake-smolvm.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'cli/bin.ts');
export const TEST_IMAGE = process.env.BOTTLE_TEST_IMAGE ?? 'claude-bottle-agent:latest';

/**
 * The backend the integration tier runs against: `BOTTLE_TEST_BACKEND=smolvm`
 * runs it on smolvm, through the fake `smolvm` (test/helpers/fake-smolvm.mjs)
 * unless BOTTLE_SMOLVM names a real one.
 */
export const TEST_BACKEND: 'docker' | 'smolvm' = process.env.BOTTLE_TEST_BACKEND === 'smolvm' ? 'smolvm' : 'docker';

/** The config keys and environment that put a bottle on `backend`. */
export function backendSetup(backend: 'docker' | 'smolvm' = TEST_BACKEND): { config: Record<string, unknown>; env: Record<string, string> } {
  if (backend === 'docker') return { config: {}, env: {} };
  return { config: { backend: 'smolvm' }, env: process.env.BOTTLE_SMOLVM ? {} : fakeSmolvmEnv() };
}

export interface Project {
  dir: string;
  stateRoot: string;
  env: Record<string, string>;
  /** Writes bottle.config.json (or the given file name) in the project dir. */
  config(config: object, file?: string): void;
  cleanup(): void;
}

export function project(prefix = 'bottle-test-', backend: 'docker' | 'smolvm' = TEST_BACKEND): Project {
  const setup = backendSetup(backend);
  const base = mkdtempSync(path.join(tmpdir(), prefix));
  const dir = path.join(base, 'work');
  const stateRoot = path.join(base, 'state');
  mkdirSync(dir);
  return {
    dir,
    stateRoot,
    // A credential, as a user of Claude Code has one: the claude plugin needs it for the default command.
    env: { BOTTLE_STATE_HOME: stateRoot, BOTTLE_QUIET: '1', ANTHROPIC_API_KEY: 'sk-ant-test-not-a-real-key-0123456789', ...setup.env },
    config(config: object, file = 'bottle.config.json') {
      const withBackend = 'agents' in config && !('backend' in config) ? { ...setup.config, ...config } : config;
      writeFileSync(path.join(dir, file), JSON.stringify(withBackend, null, 2));
    },
    cleanup() {
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** `bottle ARGS` in the project, never rejecting; stdin closed (as in CI). */
export function bottle(p: Project, args: string[], extraEnv: Record<string, string> = {}): ResultPromise<{ reject: false; stdin: 'ignore' }> {
  return execa(process.execPath, [BIN, ...args], {
    cwd: p.dir,
    env: { ...p.env, ...extraEnv },
    reject: false,
    stdin: 'ignore',
  });
}

/** Containers and networks that carry a label of the given agent (on smolvm: its machines, and the fake's containers for them). */
export function leftovers(agent: string, backend: 'docker' | 'smolvm' = TEST_BACKEND): { containers: string[]; networks: string[] } {
  if (backend === 'smolvm') {
    const env = { ...process.env, ...backendSetup('smolvm').env };
    const ls = execaSync(env.BOTTLE_SMOLVM ?? 'smolvm', ['machine', 'ls', '--json'], { env });
    const machines = (JSON.parse(ls.stdout || '[]') as Array<{ name: string; labels?: Record<string, string> }>).filter((m) => m.labels?.['claude-bottle.agent'] === agent);
    return { containers: [...machines.map((m) => m.name), ...(process.env.BOTTLE_SMOLVM ? [] : fakeMachineContainers(agent))], networks: [] };
  }
  const q = (args: string[]) => execaSync('docker', args).stdout.split('\n').filter(Boolean);
  return {
    containers: q(['ps', '-aq', '--filter', `label=claude-bottle.agent=${agent}`]),
    networks: q(['network', 'ls', '-q', '--filter', `label=claude-bottle.agent=${agent}`]),
  };
}

export function stateDirs(p: Project): string[] {
  try {
    return readdirSync(path.join(p.stateRoot, 'bottles'));
  } catch {
    return [];
  }
}

/** A config with one agent in one bottle, on the test image. */
export function simpleConfig(agent: string, bottle: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { image: TEST_IMAGE, ...backendSetup().config, agents: { [agent]: { bottle: 'dev' } }, bottles: { dev: bottle }, ...extra };
}

/** A unique agent name per test, so label queries see only its own bottles. */
export function agentName(tag: string): string {
  return `${tag}-${Math.random().toString(36).slice(2, 7)}`;
}

/** The audit trail of the project's one bottle, as kept in logs/ after teardown. */
export function auditEvents(p: Project): Array<Record<string, unknown>> {
  const logs = readdirSync(path.join(p.stateRoot, 'logs'));
  expect(logs).toHaveLength(1);
  return readFileSync(path.join(p.stateRoot, 'logs', logs[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Whether a host process exists (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

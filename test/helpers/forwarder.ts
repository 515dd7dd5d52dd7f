// The guest's real forwarder (core/backends/forwarder.ts), run on the host
// for tests and benches that need the hop without a container: its own
// lifeline, its ready mark in a temp dir, ports picked free.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { forwarderArgv } from '../../core/backends/forwarder.ts';
import { startLifeline, type Lifeline } from '../../core/lifeline.ts';

export interface HostForwarder {
  proc: ChildProcess;
  lifeline: Lifeline;
  /** What the forwarder printed on stderr so far. */
  stderr(): string;
  /** Resolves with its exit code once it has exited. */
  exited: Promise<number | null>;
  close(): Promise<void>;
}

export { freePort } from './ports.ts';

/**
 * Starts the forwarder relaying 127.0.0.1:<port> to each socket (absolute
 * paths, all in one dir); resolves once it wrote its ready mark, rejects if
 * it exits first.
 */
export async function startHostForwarder(forwards: Array<{ port: number; socketPath: string }>, opts: { lifeline?: boolean } = {}): Promise<HostForwarder> {
  const work = mkdtempSync(path.join(tmpdir(), 'fwd-'));
  // The forwarder makes the parent of its doors dir root-only, as in the guest.
  const doorsDir = path.join(work, 'private', 'doors');
  mkdirSync(doorsDir, { recursive: true });
  const lifeline = await startLifeline(path.join(doorsDir, 'lifeline.sock'));
  if (opts.lifeline === false) await lifeline.close();
  const readyMark = path.join(work, 'ready');
  const argv = forwarderArgv({ doorsDir, lifeline: 'lifeline.sock', forwards: forwards.map((f) => ({ port: f.port, socket: path.relative(doorsDir, f.socketPath) })), readyMark });
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; !existsSync(readyMark); i++) {
    if (gone || i > 500) {
      proc.kill('SIGKILL');
      await lifeline.close();
      rmSync(work, { recursive: true, force: true });
      throw Object.assign(new Error(`forwarder did not start: ${err.trim() || 'no output'}`), { exitCode: await exited });
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    proc,
    lifeline,
    stderr: () => err,
    exited,
    async close() {
      proc.kill('SIGKILL');
      await exited;
      await lifeline.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

// What the kernel needs from a sandbox backend (Docker today, smolvm later).
import type { Readable } from 'node:stream';
import type { ExecSpec, GuestOwner, Mount } from '../plan.ts';

/** The bottle's private network: the guest reaches the gateway and nothing else. */
export interface NetworkInfo {
  name: string;
  subnet: string;
  /** The one host address the guest can reach; host daemons bind here. */
  gateway: string;
}

export interface GuestExecOptions {
  user?: GuestOwner;
  env?: Record<string, string>;
  workdir?: string;
  /** Fed to the command's stdin. */
  input?: string | Uint8Array | Readable;
  signal?: AbortSignal;
}

export interface GuestExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A running guest. */
export interface GuestHandle {
  id: string;
  name: string;
  /** Runs a command to completion, capturing its output. */
  exec(argv: string[], opts?: GuestExecOptions): Promise<GuestExecResult>;
}

export interface GuestSpec {
  slug: string;
  image: string;
  network: NetworkInfo;
  env: Record<string, string>;
  mounts: Mount[];
  workdir: string;
  labels: Record<string, string>;
  signal?: AbortSignal;
}

/** A bottle as found from its labels, for `ps`, `down` and `gc`. */
export interface BottleRecord {
  slug: string;
  agent: string;
  containers: string[];
  networks: string[];
  /** The pid and start time of the `bottle` process that made it. */
  owner: string;
  created: string;
  status: string;
}

export interface Backend {
  readonly name: 'docker' | 'smolvm';
  /** Fails with a clear BottleError when the engine cannot be used. */
  check(signal?: AbortSignal): Promise<void>;
  createNetwork(slug: string, labels: Record<string, string>, signal?: AbortSignal): Promise<NetworkInfo>;
  removeNetwork(name: string): Promise<void>;
  startGuest(spec: GuestSpec): Promise<GuestHandle>;
  removeGuest(id: string): Promise<void>;
  /** Runs the agent attached to this terminal; resolves with its exit code. */
  attach(guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal): Promise<number>;
  list(): Promise<BottleRecord[]>;
  /** Removes every container and network that carries the bottle's label. */
  removeBottle(slug: string): Promise<void>;
}

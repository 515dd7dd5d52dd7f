// What the kernel needs from a sandbox backend (Docker today, smolvm later).
import type { Readable } from 'node:stream';
import type { ExecSpec, GuestOwner, Mount } from '../plan.ts';

/**
 * The doors a guest gets: the host dir of their sockets (brought into the
 * guest read-only) and, for each, the guest port its forwarder offers.
 */
export interface GuestDoors {
  hostDir: string;
  /** File name of the lifeline socket in `hostDir`. */
  lifeline: string;
  forwards: Array<{ port: number; /** file name in `hostDir` */ socket: string }>;
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

/**
 * What the guest's init does before it offers any door: one script, run as
 * root, with the one tar stream of planned files on its stdin.
 */
export interface GuestProvision {
  script: string;
  input: Readable;
}

/** A started guest, with what its provisioning said (absent when there was none). */
export interface StartedGuest {
  guest: GuestHandle;
  /** The provisioning script's exit code and stderr (its markers name a failing command). */
  provisioning?: GuestExecResult;
}

export interface GuestSpec {
  slug: string;
  image: string;
  doors: GuestDoors;
  env: Record<string, string>;
  mounts: Mount[];
  workdir: string;
  labels: Record<string, string>;
  /** Files and post-commands, put in by the guest's init before its doors open. */
  provision?: GuestProvision;
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
  /** Starts the guest, provisions it, and resolves once its doors are offered (or provisioning failed: see `provisioning`). */
  startGuest(spec: GuestSpec): Promise<StartedGuest>;
  removeGuest(id: string): Promise<void>;
  /** Runs the agent attached to this terminal; resolves with its exit code. */
  attach(guest: GuestHandle, spec: ExecSpec, signal?: AbortSignal): Promise<number>;
  list(): Promise<BottleRecord[]>;
  /** Removes every container (and network, from older versions) that carries the bottle's label. */
  removeBottle(slug: string): Promise<void>;
}

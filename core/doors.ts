// Doors: the guest's only ways out. A door is a host daemon listening on a
// Unix socket in the bottle's doors dir; the backend brings that dir into the
// guest, where the forwarder (core/backends/forwarder.ts) offers each door on
// 127.0.0.1:<port>. A plugin asks the kernel for a door in `plan` and listens
// on it in `preStart` with the kit below, so no daemon knows what backend or
// network it runs on, and none ever listens on TCP.
import { chmod, lstat, unlink } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';

/** The address guest clients use: doors are offered on the guest's loopback only. */
export const DOOR_GUEST_HOST = '127.0.0.1';

/** Where the doors dir appears inside the guest (read-only; only root traverses it). */
export const GUEST_DOORS_DIR = '/run/claude-bottle/doors';

/** The kernel's own door: the guest's init holds a connection to it and stops the guest when it closes. */
export const LIFELINE = 'lifeline';

/** A Unix socket path must fit in sun_path (108 bytes with its NUL on Linux). */
export const MAX_SOCKET_PATH = 107;
const MAX_DOOR_NAME = 24;
const DOOR_NAME = /^[a-z][a-z0-9-]*$/;

/** What a plugin asks the kernel for in `plan`. */
export interface DoorRequest {
  /** Short name: the socket is `<name>.sock` in the doors dir. */
  name: string;
  /** The port guest clients connect to on 127.0.0.1 (e.g. 3128 for a proxy). */
  port: number;
  /** One line for `bottle plan`. */
  description: string;
}

/** A door as the plan records it (and `bottle plan` shows it). */
export interface DoorDecl extends DoorRequest {
  plugin: string;
  /** Host path of the socket the daemon listens on. */
  socketPath: string;
  /** `127.0.0.1:<port>`, what guest clients use. */
  guest: string;
}

/** What a plugin gets back: where to listen, and what to tell guest clients. */
export interface Door {
  readonly name: string;
  readonly socketPath: string;
  readonly host: typeof DOOR_GUEST_HOST;
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the URL guest clients use. */
  readonly url: string;
}

export function doorOf(decl: DoorDecl): Door {
  return Object.freeze({ name: decl.name, socketPath: decl.socketPath, host: DOOR_GUEST_HOST, port: decl.port, url: `http://${DOOR_GUEST_HOST}:${decl.port}` });
}

/** Checks a request against the doors already declared; returns what is wrong, or undefined. */
export function doorProblem(req: DoorRequest, taken: readonly DoorDecl[]): string | undefined {
  if (!DOOR_NAME.test(req.name) || req.name.length > MAX_DOOR_NAME) {
    return `door name "${req.name}" must be lower-case letters, digits and "-", at most ${MAX_DOOR_NAME} characters`;
  }
  if (req.name === LIFELINE) return `door name "${LIFELINE}" is the kernel's own`;
  if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535) return `door "${req.name}": port ${req.port} is not a TCP port`;
  const byName = taken.find((d) => d.name === req.name);
  if (byName) return `door "${req.name}" is already declared by plugin "${byName.plugin}"`;
  const byPort = taken.find((d) => d.port === req.port);
  if (byPort) return `door "${req.name}": port ${req.port} is already door "${byPort.name}" of plugin "${byPort.plugin}"`;
  return undefined;
}

export const doorSocketPath = (doorsDir: string, name: string) => path.join(doorsDir, `${name}.sock`);

/** True when every door of this dir fits in a socket path. */
export function doorsDirFits(doorsDir: string): boolean {
  return doorSocketPath(doorsDir, 'x'.repeat(MAX_DOOR_NAME)).length <= MAX_SOCKET_PATH;
}

// --- the daemon kit ------------------------------------------------------------

/**
 * Listens on a door's socket: owner-only (0600; the doors dir is 0700 too),
 * a stale socket from a crashed run replaced, anything else at the path
 * refused. Resolves once listening.
 */
export async function listenOnDoor(server: net.Server, socketPath: string): Promise<void> {
  if (!path.isAbsolute(socketPath)) throw new Error(`a door's socket path must be absolute: ${socketPath}`);
  if (socketPath.length > MAX_SOCKET_PATH) throw new Error(`socket path too long (${socketPath.length} > ${MAX_SOCKET_PATH} bytes): ${socketPath}`);
  try {
    const st = await lstat(socketPath);
    if (!st.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
    await unlink(socketPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen({ path: socketPath, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
}

/** Closes a server and every connection it still holds; resolves when closed. Idempotent. */
export function closeServer(server: net.Server, live: Iterable<{ destroy(): void }> = []): Promise<void> {
  for (const s of live) s.destroy();
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** An audit sink that never throws: a broken sink must not take a door down with it. */
export function safeSink<E>(sink: (e: E) => void): (e: E) => void {
  return (e) => {
    try {
      sink(e);
    } catch {
      // Dropped on purpose; see above.
    }
  };
}

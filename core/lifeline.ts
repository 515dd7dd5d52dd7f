// The lifeline: a door the kernel itself holds open for the guest's init.
// The init connects first thing and stops the guest when the connection
// closes, and the connection closes when the `bottle` process ends, however
// it ends (kill -9 and OOM included): nothing runs unsupervised.
import net from 'node:net';
import { closeServer, listenOnDoor } from './doors.ts';

export interface Lifeline {
  /** Closes the socket and every connection: a guest still up stops at once. */
  close(): Promise<void>;
}

export async function startLifeline(socketPath: string): Promise<Lifeline> {
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on('error', () => s.destroy());
    s.on('close', () => held.delete(s));
    // Nothing is ever read or written: the open connection is the message.
    s.resume();
  });
  await listenOnDoor(server, socketPath);
  return { close: () => closeServer(server, held) };
}

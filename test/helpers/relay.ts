// A stand-in for the guest's forwarder in host-only tests: a TCP port on
// 127.0.0.1 relayed, connection by connection, to a door's Unix socket, so
// clients that only speak TCP (curl -x, git over http, the MCP SDK) reach a
// daemon that only listens on its door.
import net from 'node:net';

export interface Relay {
  port: number;
  close(): Promise<void>;
}

export async function startRelay(socketPath: string): Promise<Relay> {
  const live = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const door = net.connect(socketPath);
    for (const s of [client, door]) {
      live.add(s);
      s.on('close', () => live.delete(s));
      s.on('error', () => {
        client.destroy();
        door.destroy();
      });
    }
    client.pipe(door);
    door.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live) s.destroy();
        server.close(() => resolve());
      }),
  };
}

// The host side of the network attempts: selftest's own TCP and UDP
// listeners on every address of the host (`::` with IPv4 mapped, else
// 0.0.0.0), on one port, so that an attempt that got out is seen here too;
// and the host's addresses the guest must not reach.
import dgram from 'node:dgram';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { execa } from 'execa';

export interface HostAddress {
  address: string;
  /** Where it comes from: an interface name, or `docker bridge gateway`. */
  source: string;
}

/** Non-loopback addresses of this host's interfaces, IPv4 and IPv6 (loopback in the guest is the guest's own). */
export function interfaceAddresses(ifs: ReturnType<typeof networkInterfaces> = networkInterfaces()): HostAddress[] {
  const out: HostAddress[] = [];
  for (const [name, list] of Object.entries(ifs)) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      out.push({ address: a.family === 'IPv6' && a.address.startsWith('fe80:') && a.scopeid ? `${a.address}%${name}` : a.address, source: name });
    }
  }
  return out;
}

/** The gateway of docker's default bridge: from `Gateway`, else the first host of its subnet. */
export function bridgeGateway(ipam: Array<{ Subnet?: string; Gateway?: string }>): string[] {
  const out: string[] = [];
  for (const c of ipam) {
    if (c.Gateway) out.push(c.Gateway);
    else if (c.Subnet && /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c.Subnet)) {
      const [ip] = c.Subnet.split('/');
      const parts = ip!.split('.').map(Number);
      parts[3] = parts[3]! + 1;
      out.push(parts.join('.'));
    }
  }
  return out;
}

export async function hostAddresses(): Promise<HostAddress[]> {
  const out = interfaceAddresses();
  try {
    const r = await execa(process.env.BOTTLE_DOCKER ?? 'docker', ['network', 'inspect', 'bridge', '--format', '{{json .IPAM.Config}}'], { reject: false, timeout: 10_000 });
    if (r.exitCode === 0) for (const g of bridgeGateway(JSON.parse(String(r.stdout)) ?? [])) out.push({ address: g, source: 'docker bridge gateway' });
  } catch {
    // No bridge network: nothing more to try.
  }
  const seen = new Set<string>();
  return out.filter((a) => !seen.has(a.address) && seen.add(a.address));
}

export interface Hit {
  proto: 'tcp' | 'udp';
  /** The attempt id the payload named. */
  id: string;
  from: string;
}

export interface Listener {
  port: number;
  hits: Hit[];
  /** Whether an attempt with this id reached the host. */
  saw(id: string): boolean;
  close(): Promise<void>;
}

/** Finds `<token>:<id>` in what arrived. */
function idsIn(data: string, token: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`${token}:([^\\s/?#]+)`, 'g');
  for (const m of data.matchAll(re)) out.push(decodeURIComponent(m[1]!));
  return out;
}

/** TCP and UDP on one free port, on every address. */
export async function startListener(token: string): Promise<Listener> {
  const hits: Hit[] = [];
  const sockets = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (const id of idsIn(buf, token)) if (!hits.some((h) => h.proto === 'tcp' && h.id === id)) hits.push({ proto: 'tcp', id, from: String(s.remoteAddress) });
      if (buf.length > 65536) s.destroy();
    });
    s.on('close', () => {
      clearTimeout(timer);
      // A connection that said nothing is still a connection from somewhere.
      if (!buf) hits.push({ proto: 'tcp', id: '(silent)', from: String(s.remoteAddress) });
    });
  });
  const listenTcp = (host: string, port: number) =>
    new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host, port, ipv6Only: false }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  let v6 = true;
  try {
    await listenTcp('::', 0);
  } catch {
    v6 = false;
    await listenTcp('0.0.0.0', 0);
  }
  const port = (tcp.address() as net.AddressInfo).port;
  const udp = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: false });
  udp.on('message', (m, rinfo) => {
    for (const id of idsIn(m.toString('latin1'), token)) hits.push({ proto: 'udp', id, from: rinfo.address });
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind({ address: v6 ? '::' : '0.0.0.0', port }, () => {
      udp.off('error', reject);
      resolve();
    });
  }).catch(async (e) => {
    await new Promise((r) => tcp.close(r));
    throw e;
  });
  return {
    port,
    hits,
    saw: (id) => hits.some((h) => h.id === id),
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => tcp.close(r)), new Promise<void>((r) => udp.close(() => r()))]);
    },
  };
}

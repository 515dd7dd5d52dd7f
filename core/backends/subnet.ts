// Picks a free /24 for a bottle's network: random within a pool (so two
// bottles starting at once rarely collide), never one the host uses; the
// engine refuses one another network already has, and the caller retries.
import { networkInterfaces } from 'node:os';

export interface Subnet {
  cidr: string;
  gateway: string;
}

/** Default pool: 10.213.0.0/16, 256 bottles. BOTTLE_SUBNET_POOL=a.b picks another /16. */
export function poolPrefix(env: NodeJS.ProcessEnv = process.env): [number, number] {
  const m = /^(\d{1,3})\.(\d{1,3})$/.exec(env.BOTTLE_SUBNET_POOL ?? '10.213');
  if (!m) throw new Error(`BOTTLE_SUBNET_POOL must look like "10.213" (the first two octets of a /16), got "${env.BOTTLE_SUBNET_POOL}"`);
  return [Number(m[1]), Number(m[2])];
}

function ip4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

/** Host IPv4 networks as [start, end] integer ranges. */
export function hostRanges(): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family !== 'IPv4' || !a.cidr) continue;
      const bits = Number(a.cidr.split('/')[1]);
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      const start = (ip4ToInt(a.address) & mask) >>> 0;
      out.push([start, (start | (~mask >>> 0)) >>> 0]);
    }
  }
  return out;
}

export function pickSubnet(exclude: ReadonlySet<string>, rand: () => number = Math.random, env: NodeJS.ProcessEnv = process.env): Subnet {
  const [a, b] = poolPrefix(env);
  const host = hostRanges();
  const offset = Math.floor(rand() * 256);
  for (let i = 0; i < 256; i++) {
    const c = (offset + i) % 256;
    const cidr = `${a}.${b}.${c}.0/24`;
    if (exclude.has(cidr)) continue;
    const start = ip4ToInt(`${a}.${b}.${c}.0`);
    const end = start + 255;
    if (host.some(([s, e]) => s <= end && start <= e)) continue;
    return { cidr, gateway: `${a}.${b}.${c}.1` };
  }
  throw new Error(`no free /24 left in ${a}.${b}.0.0/16; remove old bottles (\`bottle gc\`) or set BOTTLE_SUBNET_POOL`);
}

// The guest has no network at all: a service the host runs on every address
// (0.0.0.0 and ::) answers the host and nothing the guest can try, by TCP,
// UDP, ICMP or DNS; the guest lists only `lo`. Its doors are offered by a
// forwarder the agent can neither kill nor pre-empt, and a guest whose
// forwarder cannot start runs nothing.
import dgram from 'node:dgram';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { execa, execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, simpleConfig, TEST_IMAGE } from '../helpers/cli.ts';

/** Every address of every host interface, docker0's and loopback included (IPv6 link-local with its zone dropped: the guest has none). */
function hostAddresses(): { v4: string[]; v6: string[] } {
  const all = Object.values(networkInterfaces()).flat().filter((a) => a !== undefined);
  return {
    v4: [...new Set(all.filter((a) => a.family === 'IPv4').map((a) => a.address))],
    v6: [...new Set(all.filter((a) => a.family === 'IPv6').map((a) => a.address))],
  };
}

describe.skipIf(!dockerAvailable)('a guest with no network', () => {
  let tcp4: http.Server;
  let tcp6: http.Server;
  let udp: dgram.Socket;
  let port = 0;
  let udpPort = 0;
  const udpSeen: string[] = [];
  beforeAll(async () => {
    // What sshd, Postgres or a dev server do: listen on every address.
    tcp4 = http.createServer((_req, res) => res.end('reached'));
    await new Promise<void>((r) => tcp4.listen(0, '0.0.0.0', r));
    port = (tcp4.address() as AddressInfo).port;
    tcp6 = http.createServer((_req, res) => res.end('reached'));
    await new Promise<void>((r) => tcp6.listen({ port, host: '::', ipv6Only: true }, r));
    udp = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    udp.on('message', (m, from) => udpSeen.push(`${from.address}: ${m.toString()}`));
    await new Promise<void>((r) => udp.bind(0, '::', r));
    udpPort = udp.address().port;
  });
  afterAll(() => {
    tcp4?.close();
    tcp6?.close();
    udp?.close();
  });

  it('reaches no host address by TCP, UDP, ICMP or DNS, and lists only lo', async () => {
    const { v4, v6 } = hostAddresses();
    const docker0 = v4.find((a) => a.startsWith('172.17.'));
    expect(v4.length, 'the host has IPv4 addresses to try').toBeGreaterThan(1);
    // The host itself reaches its service on every one of them.
    for (const a of v4) expect((await execa('curl', ['-s', '-m', '3', '--noproxy', '*', `http://${a}:${port}/`], { reject: false })).stdout, a).toBe('reached');

    const targets = [...v4, ...v6.map((a) => `[${a.replace(/%.*$/, '')}]`)];
    const p = project();
    const agent = agentName('iso');
    try {
      p.config(simpleConfig(agent, { workspace: 'none' }));
      const script = [
        'echo "interfaces: $(ls /sys/class/net | tr "\\n" " ")"',
        // TCP with curl, and without it (bash's /dev/tcp), to every host address and the guest's own loopback.
        ...targets.map((t) => `if curl -s -m 3 http://${t}:${port}/ | grep -q reached; then echo "tcp ${t} reached"; else echo "tcp ${t} blocked"; fi`),
        ...v4.map((a) => `if timeout 3 bash -c 'exec 3<>/dev/tcp/${a}/${port}' 2>/dev/null; then echo "raw tcp ${a} reached"; else echo "raw tcp ${a} blocked"; fi`),
        `if curl -s -m 3 http://127.0.0.1:${port}/ | grep -q reached; then echo "guest loopback reached"; else echo "guest loopback blocked"; fi`,
        // UDP datagrams to every host address (the host counts what arrives).
        ...v4.map((a) => `echo "udp-from-guest" 2>/dev/null > /dev/udp/${a}/${udpPort} && echo "udp ${a} sent" || echo "udp ${a} unsent"`),
        // ICMP: raw sockets need a capability the guest lacks; datagram ICMP sockets have no route.
        `perl -MSocket -e 'socket(my $s, PF_INET, SOCK_RAW, 1) ? print("raw icmp opened\\n") : print("raw icmp refused\\n")'`,
        ...v4.map((a) => `perl -MSocket -e 'socket(my $s, PF_INET, SOCK_DGRAM, 1) or do { print "icmp ${a} refused\\n"; exit }; my $ok = send($s, pack("CCnnn", 8, 0, 0, 1, 1), 0, pack_sockaddr_in(0, inet_aton("${a}"))); print $ok ? "icmp ${a} sent\\n" : "icmp ${a} refused\\n"'`),
        // DNS: no name resolves, not even the package registry this machine reaches.
        'if getent hosts registry.npmjs.org >/dev/null; then echo "dns resolved"; else echo "dns failed"; fi',
      ].join('\n');
      const r = await bottle(p, ['run', '--', 'bash', '-c', script]);
      expect(r.exitCode, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines).toContain('interfaces: lo ');
      for (const t of targets) expect(lines).toContain(`tcp ${t} blocked`);
      for (const a of v4) {
        expect(lines).toContain(`raw tcp ${a} blocked`);
        // 127.0.0.1 is the guest's own loopback there: a datagram to it stays in the guest (udpSeen below).
        if (a.startsWith('127.')) continue;
        expect(lines).toContain(`udp ${a} unsent`);
        expect(lines).toContain(`icmp ${a} refused`);
      }
      if (docker0) expect(lines).toContain(`tcp ${docker0} blocked`);
      expect(lines).toContain('guest loopback blocked');
      expect(lines).toContain('raw icmp refused');
      expect(lines).toContain('dns failed');
      expect(udpSeen).toEqual([]);
      expect(leftovers(agent).containers).toEqual([]);
    } finally {
      p.cleanup();
    }
  });

  it('the agent can neither kill the forwarder nor take or reach a door around it', async () => {
    const p = project();
    const agent = agentName('fwd');
    try {
      // One door (the egress proxy) is enough to try to take.
      p.config(simpleConfig(agent, { workspace: 'none', egress: { allow: [], dlp: false } }));
      const script = [
        'fwd=$(for d in /proc/[0-9]*; do if tr "\\0" " " < $d/cmdline 2>/dev/null | grep -q "^perl -e"; then basename $d; fi; done | head -1)',
        'echo "forwarder uid: $(awk \'/^Uid:/ {print $2}\' /proc/$fwd/status)"',
        'if kill -9 $fwd 2>/dev/null; then echo "kill worked"; else echo "kill refused"; fi',
        'if kill -STOP $fwd 2>/dev/null; then echo "stop worked"; else echo "stop refused"; fi',
        // Binding the door's port, on loopback or on every address.
        `for a in 127.0.0.1 0.0.0.0; do perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 3128, Listen => 1, ReuseAddr => 1) ? print("bind $ARGV[0] worked\\n") : print("bind $ARGV[0] refused\\n")' $a; done`,
        // The sockets themselves are out of the agent's reach.
        'if ls /run/claude-bottle/doors >/dev/null 2>&1; then echo "doors listed"; else echo "doors hidden"; fi',
        'if : > /run/claude-bottle-ready 2>/dev/null; then echo "ready mark writable"; else echo "ready mark protected"; fi',
        // The door still works after all that.
        'echo "proxy: $(curl -s -m 5 -o /dev/null -w "%{http_code}" -x "$HTTP_PROXY" http://example.test/)"',
      ].join('\n');
      const r = await bottle(p, ['run', '--', 'bash', '-c', script]);
      expect(r.exitCode, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines).toContain('forwarder uid: 0');
      expect(lines).toContain('kill refused');
      expect(lines).toContain('stop refused');
      expect(lines).toContain('bind 127.0.0.1 refused');
      expect(lines).toContain('bind 0.0.0.0 refused');
      expect(lines).toContain('doors hidden');
      expect(lines).toContain('ready mark protected');
      // The proxy answered (and refused the unlisted host): the forwarder is alive and the door open.
      expect(lines).toContain('proxy: 403');
    } finally {
      p.cleanup();
    }
  });

  it('fails closed: an image without perl (no forwarder) runs nothing and says why', async () => {
    const tag = 'claude-bottle-test-noperl:latest';
    execaSync('docker', ['build', '-q', '-t', tag, '-'], {
      input: `FROM ${TEST_IMAGE}\nRUN rm -f /usr/bin/perl /usr/bin/perl5*\n`,
      env: { DOCKER_BUILDKIT: '0' },
    });
    const p = project();
    const agent = agentName('noperl');
    try {
      p.config({ ...simpleConfig(agent, { workspace: 'none' }), image: tag });
      const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo ran-without-forwarder']);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).not.toContain('ran-without-forwarder');
      expect(r.stderr).toContain('has no perl');
      expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    } finally {
      p.cleanup();
      execaSync('docker', ['rmi', '-f', tag], { reject: false });
    }
  });
});

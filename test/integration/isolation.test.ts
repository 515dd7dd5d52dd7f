// The guest reaches its network's gateway and nothing else: not the host's
// other addresses, not the package registry the machine itself reaches, no
// names resolved; and the agent cannot give itself a route back.
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import { execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, simpleConfig, TEST_IMAGE } from '../helpers/cli.ts';

describe.skipIf(!dockerAvailable)('guest network isolation', () => {
  let server: http.Server;
  let port = 0;
  beforeAll(async () => {
    // Bound on every host address: the guest must still reach only the gateway.
    server = http.createServer((_req, res) => res.end('reached'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server?.close());

  it('reaches the gateway only, resolves no names, and cannot restore a route', async () => {
    const hostAddrs = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal && !a.address.startsWith('10.213.'))
      .map((a) => a!.address);
    expect(hostAddrs.length).toBeGreaterThan(0);
    const registryHost = new URL(execaSync('npm', ['config', 'get', 'registry']).stdout.trim()).hostname;
    const registryIp = execaSync('getent', ['ahostsv4', registryHost], { reject: false }).stdout.split(/\s+/)[0] ?? '';

    const p = project();
    try {
      p.config(simpleConfig(agentName('iso'), { workspace: 'none' }));
      const probe = (ip: string, label: string) =>
        `if curl -s -m 3 http://${ip}:${port}/ >/dev/null 2>&1; then echo "${label} reached"; else echo "${label} blocked"; fi`;
      const script = [
        // The gateway is .1 of the guest's only (on-link) route.
        `gw=$(ip -4 route | awk '{print $1}' | head -1 | sed 's|\\.0/24$|.1|')`,
        `if curl -s -m 3 http://$gw:${port}/ | grep -q reached; then echo "gateway reached"; else echo "gateway blocked"; fi`,
        ...hostAddrs.map((a) => probe(a, `host ${a}`)),
        ...(registryIp ? [`if curl -s -m 3 -o /dev/null https://${registryIp}/ 2>/dev/null; then echo "registry reached"; else echo "registry blocked"; fi`] : []),
        `if getent hosts ${registryHost} >/dev/null; then echo "dns resolved"; else echo "dns failed"; fi`,
        `if ip route add default via $gw 2>/dev/null; then echo "route restored"; else echo "route refused"; fi`,
        // The daemons' address has a name in the guest's /etc/hosts.
        `if [ "$(getent hosts bottle-gateway | awk '{print $1}')" = "$gw" ]; then echo "gateway named"; fi`,
      ].join('\n');
      const r = await bottle(p, ['run', '--', 'sh', '-c', script]);
      expect(r.exitCode).toBe(0);
      const lines = r.stdout.split('\n');
      expect(lines).toContain('gateway reached');
      for (const a of hostAddrs) expect(lines).toContain(`host ${a} blocked`);
      if (registryIp) expect(lines).toContain('registry blocked');
      expect(lines).toContain('dns failed');
      expect(lines).toContain('route refused');
      expect(lines).toContain('gateway named');
    } finally {
      p.cleanup();
    }
  });

  it('fails closed: an image that cannot seal the network runs nothing', async () => {
    // The agent image minus iproute2: the guest must refuse to run anything.
    const tag = 'claude-bottle-test-noip:latest';
    execaSync('docker', ['build', '-q', '-t', tag, '-'], {
      input: `FROM ${TEST_IMAGE}\nRUN rm -f /usr/sbin/ip /sbin/ip /bin/ip /usr/bin/ip\n`,
      env: { DOCKER_BUILDKIT: '0' },
    });
    const p = project();
    const agent = agentName('noip');
    try {
      p.config({ ...simpleConfig(agent, { workspace: 'none' }), image: tag });
      const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo ran-unsealed']);
      expect(r.exitCode).toBe(1);
      expect(r.stdout).not.toContain('ran-unsealed');
      expect(r.stderr).toContain('iproute2');
      expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    } finally {
      p.cleanup();
      execaSync('docker', ['rmi', '-f', tag], { reject: false });
    }
  });
});

// The ca plugin in a real bottle: requested by a stand-in for egress (an
// in-house plugin in bottle.config.mjs), its cert lands in the guest's trust
// store (as update-ca-certificates would put it, proven with OpenSSL), the guest's env points clients at
// the bundle, and curl and git in the guest complete TLS with a host server
// that serves leaves from the bottle's CA (an IP literal and a DNS name).
// A guest without openssl, or whose trust store does not take the CA, stops
// the bottle with an error naming the ca plugin.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execaSync } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, bottle, leftovers, project, ROOT, stateDirs, TEST_IMAGE, type Project, auditEvents } from '../helpers/cli.ts';

const CA_PLUGIN = pathToFileURL(path.join(ROOT, 'plugins/ca/index.ts')).href;
const DOORS = pathToFileURL(path.join(ROOT, 'core/doors.ts')).href;

/**
 * A bottle.config.mjs with the ca plugin and a requester that, like egress
 * does, calls `ca.request()` in plan and serves TLS on a door of its own from
 * preStart with `authority().secureContext`; the guest reaches it on
 * 127.0.0.1:8443 and learns the address from the exec env. `before` adds a root post-command ahead of ca's.
 */
function writeConfig(p: Project, agent: string, opts: { image?: string; before?: string } = {}): void {
  writeFileSync(
    path.join(p.dir, 'bottle.config.mjs'),
    `import net from 'node:net';
import tls from 'node:tls';
import { caPlugin } from ${JSON.stringify(CA_PLUGIN)};
import { listenOnDoor } from ${JSON.stringify(DOORS)};

const ca = caPlugin();
let door;

const requester = {
  name: 'ca-requester',
  dependencies: ['ca'],
  apply(hooks, api) {
    hooks.plan.tapPromise('ca-requester', async (draft, ctx) => {
      api.use('ca').request();
      door = ctx.door({ name: 'tls', port: 8443, description: 'a TLS test server' });
      ${opts.before ? `draft.commands.push({ argv: ['sh', '-c', ${JSON.stringify(opts.before)}], user: 'root', plugin: 'ca-requester' });` : ''}
    });
    hooks.preStart.tapPromise('ca-requester', async (ctx) => {
      const authority = api.use('ca').authority();
      const gw = door.host;
      // Clients send no SNI for an IP literal: the leaf for 127.0.0.1 is the default.
      const server = net.createServer((raw) => {
        const s = new tls.TLSSocket(raw, {
          isServer: true,
          secureContext: authority.secureContext(gw),
          SNICallback: (name, cb) => { try { cb(null, authority.secureContext(name)); } catch (e) { cb(e); } },
        });
        s.on('error', () => {});
        s.once('data', (chunk) => {
          const name = s.servername || gw;
          // git (dumb http) reads info/refs: one ref named after the leaf's host.
          const body = String(chunk).split(' ')[1].includes('/info/refs') ? 'ab'.repeat(20) + '\\trefs/heads/' + name + '\\n' : 'hello ' + name;
          s.end('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n' + body);
        });
      });
      await listenOnDoor(server, door.socketPath);
      ctx.onUndo('stop the test TLS server', () => new Promise((resolve) => server.close(() => resolve())));
    });
    hooks.exec.tapPromise('ca-requester', async (spec) => {
      Object.assign(spec.env, { TLS_GW: door.host, TLS_PORT: String(door.port) });
      return spec;
    });
  },
};

export default {
  image: ${JSON.stringify(opts.image ?? TEST_IMAGE)},
  agents: { ${JSON.stringify(agent)}: { bottle: 'dev' } },
  bottles: { dev: { workspace: 'none' } },
  plugins: [ca, requester],
  // This test's own ca instance stands in for the built-in one (and egress, which needs it, and claude, which needs egress).
  disable: ['egress', 'ca', 'claude'],
};
`,
  );
}


const TRUST_VARS = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO'];

/** What the agent (node) runs: the trust store, the env, and real TLS from curl and git. */
const GUEST_SCRIPT = [
  'crt=/usr/local/share/ca-certificates/claude-bottle.crt',
  `stat -c 'file %U:%G %a' $crt`,
  // A line of the cert's base64 body, found in the system bundle.
  'echo "in bundle: $(grep -cxF "$(sed -n 2p $crt)" /etc/ssl/certs/ca-certificates.crt)"',
  'echo "linked: $(readlink /etc/ssl/certs/claude-bottle.pem)"',
  'openssl x509 -in $crt -noout -fingerprint -sha256',
  `env | grep -E '^(${TRUST_VARS.join('|')})=' | sort`,
  'echo "ip: $(curl -sS -m 10 https://$TLS_GW:$TLS_PORT/ 2>&1)"',
  'echo "name: $(curl -sS -m 10 --resolve tls.bottle.test:$TLS_PORT:$TLS_GW https://tls.bottle.test:$TLS_PORT/ 2>&1)"',
  // Control: with only a public root trusted, the same server is refused.
  'curl -sS -m 10 --cacert /etc/ssl/certs/ISRG_Root_X1.pem --capath "$(mktemp -d)" https://$TLS_GW:$TLS_PORT/ >/dev/null 2>&1; echo "untrusted curl exit: $?"',
  // git over https: TLS passes (GIT_SSL_CAINFO); then it finds no repository.
  'echo "git: $(GIT_TERMINAL_PROMPT=0 git ls-remote https://$TLS_GW:$TLS_PORT/repo.git 2>&1)"',
  'echo "untrusted git: $(GIT_TERMINAL_PROMPT=0 GIT_SSL_CAINFO=/etc/ssl/certs/ISRG_Root_X1.pem git -c http.sslCAPath="$(mktemp -d)" ls-remote https://$TLS_GW:$TLS_PORT/repo.git 2>&1)"',
].join('\n');

describe.skipIf(!dockerAvailable)('ca plugin in a real bottle', () => {
  let p: Project;
  const images: string[] = [];
  afterEach(() => p?.cleanup());
  afterAll(() => {
    for (const tag of images) execaSync('docker', ['rmi', '-f', tag], { reject: false });
  });

  /** The agent image with `run` applied (classic builder: no registry needed). */
  function derivedImage(tag: string, run: string): string {
    execaSync('docker', ['build', '-q', '-t', tag, '-'], { input: `FROM ${TEST_IMAGE}\nRUN ${run}\n`, env: { DOCKER_BUILDKIT: '0' } });
    images.push(tag);
    return tag;
  }

  it('installs the CA in the trust store, sets the env, and curl and git trust the bottle\'s leaves', async () => {
    p = project();
    const agent = agentName('ca');
    writeConfig(p, agent);
    const r = await bottle(p, ['run', '--', 'sh', '-c', GUEST_SCRIPT], { BOTTLE_QUIET: '' });
    expect(r.exitCode, r.stderr).toBe(0);
    const out = r.stdout.split('\n');

    const events = auditEvents(p);
    const created = events.find((e) => e.type === 'ca.created');
    expect(created).toMatchObject({ plugin: 'ca', fingerprint256: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) });
    const fp = created!.fingerprint256 as string;
    expect(r.stderr).toMatch(new RegExp(`CA claude-bottle CA ${agent}-\\w{5}, SHA-256 fingerprint ${fp}`));

    expect(out).toContain('file root:root 644');
    expect(out).toContain('in bundle: 1');
    expect(out).toContain('linked: /usr/local/share/ca-certificates/claude-bottle.crt');
    // The guest's CA is the one the host made and audited.
    expect(out).toContain(`sha256 Fingerprint=${fp}`);
    expect(out).toEqual(expect.arrayContaining([
      'CURL_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt',
      'GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt',
      'NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/claude-bottle.crt',
      'REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt',
      'SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt',
    ]));
    const gw = out.find((l) => l.startsWith('ip: '))!;
    expect(gw).toBe('ip: hello 127.0.0.1');
    expect(out).toContain('name: hello tls.bottle.test');
    expect(out).toContain('untrusted curl exit: 60');
    expect(out).toContain(`git: ${'ab'.repeat(20)}\trefs/heads/${gw.slice('ip: hello '.length)}`);
    expect(out.find((l) => l.startsWith('untrusted git: '))).toMatch(/SSL certificate problem|server certificate verification failed/);

    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('bottle plan shows the cert file, the install command and the env; the key is nowhere', async () => {
    p = project();
    writeConfig(p, agentName('caplan'));
    const r = await bottle(p, ['plan', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('PRIVATE KEY');
    const plan = JSON.parse(r.stdout) as { files: Array<{ guestPath: string; owner: string; plugin: string }>; env: Record<string, string>; commands?: unknown };
    expect(plan.files.filter((f) => f.plugin === 'ca')).toEqual([expect.objectContaining({ guestPath: '/usr/local/share/ca-certificates/claude-bottle.crt', owner: 'root', plugin: 'ca' })]);
    expect(plan.env).toMatchObject({ SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt', NODE_EXTRA_CA_CERTS: '/usr/local/share/ca-certificates/claude-bottle.crt' });
    expect(r.stdout).toContain('trust the bottle CA');
  });

  it('an image without the cert dir still works: the tar stream makes it', async () => {
    p = project();
    const agent = agentName('canodir');
    writeConfig(p, agent, { image: derivedImage('claude-bottle-test-ca-nodir:latest', 'rm -rf /usr/local/share/ca-certificates') });
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo "in bundle: $(grep -cxF "$(sed -n 2p /usr/local/share/ca-certificates/claude-bottle.crt)" /etc/ssl/certs/ca-certificates.crt)"; curl -sS -m 10 https://$TLS_GW:$TLS_PORT/']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^in bundle: 1\nhello 127\.0\.0\.1$/);
  });

  it('an image without openssl stops the bottle, naming the ca plugin, before the agent runs', async () => {
    p = project();
    const agent = agentName('canotool');
    writeConfig(p, agent, { image: derivedImage('claude-bottle-test-ca-notool:latest', 'rm -f /usr/bin/openssl') });
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo the agent ran']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).not.toContain('the agent ran');
    expect(r.stderr).toContain('the bottle CA is not trusted: openssl not found (the image needs the ca-certificates package)');
    expect(r.stderr).toContain('[plugin ca, provision]');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
    expect(stateDirs(p)).toEqual([]);
  });

  it('a trust store that cannot take the CA stops the bottle, naming the ca plugin', async () => {
    p = project();
    const agent = agentName('ca0added');
    // A trust store without the system bundle: clients reading the bundle would not trust the CA.
    writeConfig(p, agent, { before: 'rm -f /etc/ssl/certs/ca-certificates.crt' });
    const r = await bottle(p, ['run', '--', 'sh', '-c', 'echo the agent ran']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).not.toContain('the agent ran');
    expect(r.stderr).toContain('the bottle CA is not trusted: no system bundle /etc/ssl/certs/ca-certificates.crt');
    expect(r.stderr).toContain('[plugin ca, provision]');
    expect(leftovers(agent)).toEqual({ containers: [], networks: [] });
  });
});

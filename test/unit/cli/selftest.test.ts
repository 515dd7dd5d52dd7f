// The pure parts of `bottle selftest`: verdicts from what the guest and the
// host saw, the report (text and --json), the credential scan's encodings and
// framing, IP-literal spellings, the host's addresses.
import { describe, expect, it } from 'vitest';
import { literalSpellings, parseResults } from '../../../cli/selftest/attempts.ts';
import { bridgeGateway, interfaceAddresses } from '../../../cli/selftest/listener.ts';
import { buildReport, formatJson, formatLine, formatText, summaryLine } from '../../../cli/selftest/report.ts';
import { collectSecrets, DumpScanner, encodings } from '../../../cli/selftest/secrets.ts';
import {
  attempt, exitCodeOf, judgeEcho, judgeHostFronting, judgeInterfaces, judgeProxy, judgePush, judgeResolve, judgeSecrets, judgeSelfApproval, judgeSniFronting, judgeSocket, judgeUnixSockets,
} from '../../../cli/selftest/verdicts.ts';

const r = (outcome: string, detail = '') => ({ outcome, detail });

describe('verdicts', () => {
  it('a socket attempt is refused only for a no-route error the host did not contradict', () => {
    expect(judgeSocket(r('error', 'ENETUNREACH (Network is unreachable)'), false).verdict).toBe('refused');
    expect(judgeSocket(r('error', 'send: EADDRNOTAVAIL (Cannot assign requested address)'), false).verdict).toBe('refused');
    expect(judgeSocket(r('connected'), false).verdict).toBe('got-through');
    // An RST is an answer: there is a route.
    expect(judgeSocket(r('error', 'ECONNREFUSED (Connection refused)'), false)).toMatchObject({ verdict: 'got-through', detail: expect.stringContaining('route') });
    // The host's listener outranks what the guest says.
    expect(judgeSocket(r('error', 'ENETUNREACH'), true).verdict).toBe('got-through');
    expect(judgeSocket(r('sent', '20 bytes'), false).verdict).toBe('refused');
    expect(judgeSocket(r('sent', '20 bytes'), true).verdict).toBe('got-through');
    expect(judgeSocket(undefined, false).verdict).toBe('inconclusive');
    expect(judgeSocket(r('error', 'something odd'), false).verdict).toBe('inconclusive');
  });

  it('ICMP and DNS queries get through when anything answers', () => {
    expect(judgeEcho(r('reply', '64 bytes')).verdict).toBe('got-through');
    expect(judgeEcho(r('noreply')).verdict).toBe('refused');
    expect(judgeEcho(r('nosocket', 'ping socket: EACCES (Permission denied)')).verdict).toBe('refused');
    expect(judgeEcho(r('error', 'send: ENETUNREACH')).verdict).toBe('refused');
    expect(judgeEcho(r('error', 'getaddrinfo: Name or service not known')).verdict).toBe('refused');
  });

  it('name resolution: "no such name" is an answer from a resolver', () => {
    expect(judgeResolve(r('again', 'Temporary failure in name resolution')).verdict).toBe('refused');
    expect(judgeResolve(r('nxdomain', 'Name or service not known')).verdict).toBe('got-through');
    expect(judgeResolve(r('resolved', '1 address(es)')).verdict).toBe('got-through');
  });

  it('interfaces other than lo, routes and connectable sockets get through', () => {
    expect(judgeInterfaces(r('lo'), r('0')).verdict).toBe('refused');
    expect(judgeInterfaces(r('eth0,lo'), r('0'))).toMatchObject({ verdict: 'got-through', detail: expect.stringContaining('eth0') });
    expect(judgeInterfaces(r('lo'), r('1', 'eth0 00000000')).verdict).toBe('got-through');
    expect(judgeUnixSockets(r('0')).verdict).toBe('refused');
    expect(judgeUnixSockets(r('1', '/var/run/docker.sock'))).toMatchObject({ verdict: 'got-through', detail: expect.stringContaining('docker.sock') });
  });

  it('through the proxy only its own 403/421 is a refusal; a failed dial is not', () => {
    expect(judgeProxy(r('status 403', 'claude-bottle: egress to "127.0.0.1" is not allowed; add it to ...'), false).verdict).toBe('refused');
    expect(judgeProxy(r('status 502', 'claude-bottle: could not reach "10.0.0.1": ECONNREFUSED'), false).verdict).toBe('got-through');
    // A 403 from somewhere else (an upstream) is not the proxy's refusal.
    expect(judgeProxy(r('status 403', 'Forbidden by nginx'), false).verdict).toBe('got-through');
    expect(judgeProxy(r('status 200', ''), false).verdict).toBe('got-through');
    expect(judgeProxy(r('status 403', 'claude-bottle: egress to "x" is not allowed'), true).verdict).toBe('got-through');
    expect(judgeProxy(r('no-response', ''), false).verdict).toBe('inconclusive');
    expect(judgeHostFronting(421, 'claude-bottle: this tunnel goes to "a.test"; ...', 0).verdict).toBe('refused');
    expect(judgeHostFronting(404, 'not found', 0).verdict).toBe('got-through');
    expect(judgeHostFronting(undefined, '', 35).verdict).toBe('inconclusive');
    expect(judgeSniFronting(false, true, 'closed').verdict).toBe('refused');
    expect(judgeSniFronting(false, false, 'closed').verdict).toBe('inconclusive');
    expect(judgeSniFronting(true, true, 'HTTP/1.1 200').verdict).toBe('got-through');
  });

  it('a push is refused by the gate\'s policy, not by DLP alone, nor by a failure', () => {
    const policy = 'To http://127.0.0.1:9418/app.git\nremote: git-gate: refused: refs/tags/x: tags cannot be pushed through the gate\n! refs/tags/x [remote rejected]';
    expect(judgePush(1, policy)).toMatchObject({ verdict: 'refused', detail: 'git-gate: refused: refs/tags/x: tags cannot be pushed through the gate' });
    expect(judgePush(1, 'remote: git-gate: refused: commit abc carries a secret (aws) in selftest.txt').verdict).toBe('got-through');
    expect(judgePush(0, 'remote: git-gate: pushed to ssh://x: main').verdict).toBe('got-through');
    expect(judgePush(128, 'fatal: unable to access: Failed to connect').verdict).toBe('inconclusive');
  });

  it('credentials and self-approval', () => {
    expect(judgeSecrets([], 'env').verdict).toBe('refused');
    const found = judgeSecrets([{ secret: '$TOKEN', where: '/home/node/x', encoding: 'base64' }], 'env');
    expect(found).toEqual({ verdict: 'got-through', detail: 'found: $TOKEN in /home/node/x (base64)' });
    expect(judgeSelfApproval({ requestSeen: true, callResult: '', tried: '3 calls' }).verdict).toBe('refused');
    expect(judgeSelfApproval({ requestSeen: true, answeredBeforeHuman: 'approved (by human)', callResult: '', tried: '' }).verdict).toBe('got-through');
    expect(judgeSelfApproval({ requestSeen: true, callResult: 'approved: x is now allowed', tried: '' }).verdict).toBe('got-through');
    expect(judgeSelfApproval({ requestSeen: false, callResult: 'error', tried: '' }).verdict).toBe('inconclusive');
  });

  it('exit 0 only when something was refused and nothing got through or went unjudged', () => {
    const ok = attempt('a', 'network', 'a', 'refused', '');
    expect(exitCodeOf([ok, attempt('b', 'git', 'b', 'skipped', 'no gate')])).toBe(0);
    expect(exitCodeOf([ok, attempt('c', 'proxy', 'c', 'got-through', '')])).toBe(1);
    expect(exitCodeOf([ok, attempt('d', 'proxy', 'd', 'inconclusive', '')])).toBe(1);
    expect(exitCodeOf([attempt('b', 'git', 'b', 'skipped', '')])).toBe(1);
  });
});

describe('report', () => {
  const meta = { slug: 'dev-abc12', agent: 'dev', bottle: 'dev' };
  const refused = attempt('tcp:10.0.0.2', 'network', 'TCP to the host at 10.0.0.2 (eth0) port 4000', 'refused', 'ENETUNREACH (Network is unreachable)');
  const through = attempt('credentials:$KEY', 'credentials', 'credential $KEY in the guest', 'got-through', 'found: $KEY in env');
  const skipped = attempt('git', 'git', 'pushes through the git gate', 'skipped', 'no git gate in this bottle (no git.remotes)');

  it('one line per attempt with its verdict, and a summary naming what got through', () => {
    const rep = buildReport(meta, [refused, through, skipped]);
    expect(rep.ok).toBe(false);
    expect(formatLine(through)).toBe('GOT THROUGH credentials credential $KEY in the guest: found: $KEY in env');
    expect(formatLine(refused)).toMatch(/^refused {5}network {5}TCP to the host/);
    expect(formatLine(skipped)).toMatch(/^skipped .*no git gate/);
    expect(summaryLine(rep)).toBe('bottle selftest: 3 attempts: 1 refused, 1 GOT THROUGH, 1 skipped; not refused: credential $KEY in the guest (audit: bottle logs dev-abc12)');
    expect(formatText(rep).trim().split('\n')).toHaveLength(4);
  });

  it('a passing run says so', () => {
    const rep = buildReport(meta, [refused, skipped]);
    expect(rep.ok).toBe(true);
    expect(summaryLine(rep)).toBe('bottle selftest: 2 attempts: 1 refused, 1 skipped; every attempt was refused (audit: bottle logs dev-abc12)');
  });

  it('--json is one document with counts and every attempt', () => {
    const j = JSON.parse(formatJson(buildReport(meta, [refused, through])));
    expect(j).toMatchObject({ ok: false, slug: 'dev-abc12', agent: 'dev', bottle: 'dev', counts: { refused: 1, 'got-through': 1, skipped: 0, inconclusive: 0 } });
    expect(j.attempts.map((a: { id: string; verdict: string }) => [a.id, a.verdict])).toEqual([['tcp:10.0.0.2', 'refused'], ['credentials:$KEY', 'got-through']]);
  });

  it('what the guest said is neutralised: no terminal escapes, one line', () => {
    const evil = attempt('proxy:x', 'proxy', 'proxy: x', 'got-through', 'the proxy did not refuse it (200: \u001b]0;pwned\u0007\nline two)');
    const line = formatLine(evil);
    expect(line).not.toContain('\u001b');
    expect(line).not.toContain('\n');
    expect(JSON.parse(formatJson(buildReport(meta, [evil]))).attempts[0].detail).not.toContain('\u001b');
  });
});

describe('credential scan', () => {
  const secret = { name: '$TOKEN', value: 'tok-0123456789-abcdefghij' };

  it('finds a value raw, base64 at any offset, hex and URL-encoded', () => {
    for (const prefix of ['', 'x', 'xy', 'xyz']) {
      const b64 = Buffer.from(prefix + secret.value + '!').toString('base64');
      const found: string[] = [];
      const s = new DumpScanner([secret]);
      s.push(Buffer.from(`F\tfile\t${b64.length}\n${b64}`));
      s.end();
      found.push(...s.findings.map((f) => f.encoding));
      expect(found, `prefix ${JSON.stringify(prefix)}`).toEqual(['base64']);
    }
    const kinds = encodings('a b/c+d==0123456789').map((e) => e.encoding);
    expect(kinds).toEqual(expect.arrayContaining(['raw', 'base64', 'hex', 'url']));
  });

  it('parses the framed dump across chunk boundaries and names where each value was', () => {
    const pieces = [['env', `HOME=/home/node\0KEY=${secret.value}`], ['/home/node/a.txt', 'nothing'], ['/tmp/b', Buffer.from(secret.value).toString('hex')]];
    const whole = Buffer.concat([...pieces.map(([w, d]) => Buffer.from(`F\t${w}\t${Buffer.byteLength(d!)}\n${d}`)), Buffer.from('S\t2\n')]);
    const s = new DumpScanner([secret]);
    for (let i = 0; i < whole.length; i += 7) s.push(whole.subarray(i, i + 7));
    s.end();
    expect(s.findings).toEqual([{ secret: '$TOKEN', where: 'env', encoding: 'raw' }, { secret: '$TOKEN', where: '/tmp/b', encoding: 'hex' }]);
    expect([s.pieces, s.skipped]).toEqual([3, 2]);
    const cut = new DumpScanner([secret]);
    cut.push(Buffer.from('F\tx\t10\nabc'));
    expect(() => cut.end()).toThrow(/middle of a piece/);
    expect(() => new DumpScanner([secret]).push(Buffer.from('garbage\n'))).toThrow(/malformed/);
  });

  it('knows the real values from the placeholders in the guest env, the routes and the claude credential', () => {
    const { secrets, ignored } = collectSecrets({
      guestEnv: { GH_TOKEN: 'bottle-placeholder-abc', PLAIN: 'x' },
      hostEnv: { GH_TOKEN: 'ghp_realrealrealreal', ROUTE_TOKEN: 'route-token-value', ANTHROPIC_API_KEY: 'sk-ant-real-1234', PLAIN: 'not-a-secret-value', SHORT: 'abc' },
      routeEnvs: ['ROUTE_TOKEN', 'SHORT'],
      identityFiles: ['/nonexistent/key'],
      configDir: '/',
    });
    expect(secrets.map((s) => s.name).sort()).toEqual(['$ANTHROPIC_API_KEY', '$GH_TOKEN', '$ROUTE_TOKEN']);
    expect(ignored).toEqual(['$SHORT (shorter than 8 characters)', '/nonexistent/key (unreadable here)']);
  });
});

describe('probe output and addresses', () => {
  it('parses result lines and ignores anything else', () => {
    const m = parseResults('noise\nR\ttcp:10.0.0.1\terror\tENETUNREACH (Network is unreachable)\nR\tinterfaces\tlo\t\n');
    expect(m.get('tcp:10.0.0.1')).toEqual({ outcome: 'error', detail: 'ENETUNREACH (Network is unreachable)' });
    expect(m.get('interfaces')).toEqual({ outcome: 'lo', detail: '' });
    expect(m.size).toBe(2);
  });

  it('spells an IPv4 address the ways a URL parser may accept', () => {
    expect(literalSpellings('127.0.0.1').map((s) => s.host)).toEqual(['2130706433', '0x7f000001', '0177.00.00.01', '[::ffff:127.0.0.1]', '127.0.0.1.']);
    expect(literalSpellings('172.17.0.1')[0]!.host).toBe('2886795265');
  });

  it('takes every non-loopback address of the host, and the bridge gateway', () => {
    const ifs = {
      lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: null }],
      eth0: [
        { address: '10.1.2.3', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: false, cidr: null },
        { address: 'fe80::1', netmask: 'ffff::', family: 'IPv6', mac: '', internal: false, cidr: null, scopeid: 2 },
      ],
    } as unknown as Parameters<typeof interfaceAddresses>[0];
    expect(interfaceAddresses(ifs)).toEqual([{ address: '10.1.2.3', source: 'eth0' }, { address: 'fe80::1%eth0', source: 'eth0' }]);
    expect(bridgeGateway([{ Subnet: '172.17.0.0/16' }])).toEqual(['172.17.0.1']);
    expect(bridgeGateway([{ Subnet: '172.18.0.0/16', Gateway: '172.18.0.254' }])).toEqual(['172.18.0.254']);
  });
});

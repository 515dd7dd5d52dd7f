// The attempts of `bottle selftest`, run from inside a started bottle as its
// agent (uid 1000, the agent's own env) and judged on the host. Traffic goes
// only to loopback, this host's own addresses, never-routed documentation
// addresses (which no network carries) and the bottle's doors; what the
// proxy would forward to a real host is judged from the proxy's answer.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import type { GuestHandle } from '../../core/backends/types.ts';
import type { Bus, AuditEvent } from '../../core/bus.ts';
import type { ExecSpec, Plan } from '../../core/plan.ts';
import type { EgressApi } from '../../plugins/egress/index.ts';
import { globToRegExp } from '../../plugins/git-gate/index.ts';
import { answerRequest, findRequest, listPending } from '../../plugins/supervise/index.ts';
import type { HostAddress, Listener } from './listener.ts';
import { PROBE } from './probe.ts';
import { collectSecrets, DumpScanner } from './secrets.ts';
import {
  attempt,
  judgeEcho,
  judgeHostFronting,
  judgeInterfaces,
  judgeProxy,
  judgePush,
  judgeResolve,
  judgeSecrets,
  judgeSelfApproval,
  judgeSniFronting,
  judgeSocket,
  judgeUnixSockets,
  type Attempt,
  type ProbeResult,
  type SecretFinding,
} from './verdicts.ts';

export interface AttemptContext {
  guest: GuestHandle;
  spec: ExecSpec;
  plan: Plan;
  /** The bottle's config section (egress, git, supervise). */
  bottleConfig: Record<string, unknown>;
  configDir: string;
  hostEnv: Readonly<Record<string, string | undefined>>;
  stateRoot: string;
  egress?: EgressApi | undefined;
  listener: Listener;
  addresses: HostAddress[];
  token: string;
  /** Audit events of the run so far (the proxy's, the gate's). */
  audits: AuditEvent[];
  bus: Bus;
  signal?: AbortSignal | undefined;
}

/** Addresses no network routes (RFC 5737 TEST-NET-3, RFC 3849): a way out to "anywhere" that can reach nobody. */
export const OUTSIDE = ['203.0.113.7', '2001:db8::7'];

/** A name that never resolves (RFC 6761). */
const INVALID = (token: string, what: string) => `bottle-selftest-${what}-${token}.invalid`;

export function parseResults(stdout: string): Map<string, ProbeResult> {
  const out = new Map<string, ProbeResult>();
  for (const line of stdout.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'R' && f[1]) out.set(f[1], { outcome: f[2] ?? '', detail: f[3] ?? '' });
  }
  return out;
}

const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);

/** IPv4 `a.b.c.d` as one decimal number, one hex number, octal parts, IPv4-mapped IPv6, with a trailing dot. */
export function literalSpellings(ipv4: string): Array<{ how: string; host: string }> {
  const p = ipv4.split('.').map(Number);
  const n = ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
  return [
    { how: 'decimal', host: String(n) },
    { how: 'hex', host: `0x${n.toString(16)}` },
    { how: 'octal', host: p.map((x) => `0${x.toString(8)}`).join('.') },
    { how: 'IPv4-mapped IPv6', host: `[::ffff:${ipv4}]` },
    { how: 'trailing dot', host: `${ipv4}.` },
  ];
}

export async function runAttempts(c: AttemptContext): Promise<Attempt[]> {
  const out: Attempt[] = [];
  const exec = (argv: string[], opts: { timeoutMs?: number } = {}) => {
    const signal = AbortSignal.any([...(c.signal ? [c.signal] : []), AbortSignal.timeout(opts.timeoutMs ?? 120_000)]);
    return c.guest.exec(argv, { user: 'node', env: c.spec.env, workdir: c.spec.workdir, signal });
  };
  const perl = (mode: string, args: string[]) => exec(['perl', '-e', PROBE, '--', mode, ...args]);

  // The guest alone: its interfaces, its resolver, sockets in its file system, the way to anywhere.
  const local = parseResults((await perl('local', [c.token, String(c.listener.port), ...OUTSIDE])).stdout);
  out.push(attempt('guest:interfaces', 'guest', 'network interfaces and routes of the guest (lo only)', ...v(judgeInterfaces(local.get('interfaces'), local.get('routes')))));
  out.push(attempt('guest:unix-sockets', 'guest', 'Unix sockets the agent can connect to (a mounted docker.sock, a host service)', ...v(judgeUnixSockets(local.get('unix-sockets')))));
  out.push(attempt('dns:resolve', 'network', 'DNS: resolve a name through the guest\'s resolver', ...v(judgeResolve(local.get('dns-resolve')))));
  for (const a of OUTSIDE) {
    const fam = a.includes(':') ? 'IPv6' : 'IPv4';
    out.push(attempt(`tcp:${a}`, 'network', `TCP to an outside ${fam} address ${bracket(a)}:${c.listener.port} (never routed)`, ...v(judgeSocket(local.get(`tcp:${a}`), false))));
    out.push(attempt(`udp:${a}`, 'network', `UDP to an outside ${fam} address ${bracket(a)}:${c.listener.port} (never routed)`, ...v(judgeSocket(local.get(`udp:${a}`), false))));
  }

  // Every address of the host, where selftest itself listens.
  const addrs = c.addresses.map((a) => a.address);
  const net = addrs.length ? parseResults((await perl('net', [String(c.listener.port), c.token, ...addrs])).stdout) : new Map<string, ProbeResult>();
  for (const { address: a, source } of c.addresses) {
    const where = `${bracket(a)} (${source})`;
    out.push(attempt(`tcp:${a}`, 'network', `TCP to the host at ${where} port ${c.listener.port}`, ...v(judgeSocket(net.get(`tcp:${a}`), c.listener.saw(`tcp:${a}`)))));
    out.push(attempt(`udp:${a}`, 'network', `UDP to the host at ${where} port ${c.listener.port}`, ...v(judgeSocket(net.get(`udp:${a}`), c.listener.saw(`udp:${a}`)))));
    out.push(attempt(`icmp:${a}`, 'network', `ICMP echo to the host at ${where}`, ...v(judgeEcho(net.get(`icmp:${a}`)))));
    out.push(attempt(`dns:${a}`, 'network', `DNS query to the host at ${where} port 53`, ...v(judgeEcho(net.get(`dns:${a}`)))));
  }
  if (!c.addresses.length) out.push(attempt('network:host', 'network', 'TCP/UDP/ICMP to the host', 'skipped', 'this host has no address besides loopback'));

  out.push(...(await proxyAttempts(c, exec, perl)));
  out.push(...(await credentialAttempts(c)));
  out.push(...(await gitAttempts(c, exec)));
  out.push(...(await superviseAttempts(c, exec)));
  // What arrived late (a datagram, a forwarded request) still counts.
  await sleep(300);
  for (const a of out) {
    if (a.verdict !== 'got-through' && (a.group === 'network' || a.group === 'proxy') && c.listener.saw(a.id)) {
      a.verdict = 'got-through';
      a.detail = `the host's listener received it (${a.detail})`;
    }
  }
  for (const a of out) c.bus.emit('audit', { type: 'selftest.attempt', plugin: 'selftest', kind: a.id, group: a.group, title: a.title, verdict: a.verdict, detail: a.detail.slice(0, 600) });
  return out;
}

const v = (j: { verdict: Attempt['verdict']; detail: string }): [Attempt['verdict'], string] => [j.verdict, j.detail];

type Exec = (argv: string[], opts?: { timeoutMs?: number }) => ReturnType<GuestHandle['exec']>;

function doorPort(plan: Plan, name: string): number | undefined {
  return plan.doors.find((d) => d.name === name)?.port;
}

async function proxyAttempts(c: AttemptContext, exec: Exec, perl: (mode: string, args: string[]) => ReturnType<GuestHandle['exec']>): Promise<Attempt[]> {
  const port = doorPort(c.plan, 'proxy');
  if (port === undefined) return [attempt('proxy', 'proxy', 'requests through the egress proxy', 'skipped', 'no egress proxy in this bottle: the guest has no door to the network')];
  const P = c.listener.port;
  const specs: Array<{ id: string; title: string; method: 'GET' | 'CONNECT'; target: string }> = [];
  const get = (id: string, title: string, host: string) => specs.push({ id, title, method: 'GET', target: `http://${host}:${P}/${c.token}:${id}` });
  const connect = (id: string, title: string, host: string) => specs.push({ id, title, method: 'CONNECT', target: `${host}:${P}` });
  get('proxy:unlisted', 'an unlisted host over plain HTTP', INVALID(c.token, 'unlisted'));
  connect('proxy:unlisted-connect', 'an unlisted host by CONNECT', INVALID(c.token, 'unlisted'));
  get('proxy:localhost', 'loopback as localhost', 'localhost');
  get('proxy:localhost-dot', 'loopback as localhost. (trailing dot)', 'localhost.');
  get('proxy:127.0.0.1', 'loopback 127.0.0.1', '127.0.0.1');
  connect('proxy:127.0.0.1-connect', 'loopback 127.0.0.1 by CONNECT', '127.0.0.1');
  get('proxy:127.1', 'loopback as 127.1 (short form)', '127.1');
  get('proxy:[::1]', 'loopback IPv6 [::1]', '[::1]');
  get('proxy:0.0.0.0', 'the unspecified address 0.0.0.0', '0.0.0.0');
  for (const s of literalSpellings('127.0.0.1')) get(`proxy:loopback-${s.how.replace(/\W+/g, '-')}`, `loopback spelled ${s.how} (${s.host})`, s.host);
  for (const { address: a, source } of c.addresses) {
    if (a.includes('%')) continue;
    if (a.includes(':')) {
      get(`proxy:${a}`, `the host's ${a} (${source})`, `[${a}]`);
      continue;
    }
    get(`proxy:${a}`, `the host's ${a} (${source})`, a);
    connect(`proxy:${a}-connect`, `the host's ${a} (${source}) by CONNECT`, a);
    for (const s of literalSpellings(a)) get(`proxy:${a}-${s.how.replace(/\W+/g, '-')}`, `the host's ${a} spelled ${s.how} (${s.host})`, s.host);
  }
  const r = parseResults((await perl('proxy', [String(port), c.token, ...specs.map((s) => [s.id, s.method, s.target].join('\x1f'))])).stdout);
  const out = specs.map((s) => attempt(s.id, 'proxy', `proxy: ${s.title}`, ...v(judgeProxy(r.get(s.id), c.listener.saw(s.id)))));
  out.push(...(await frontingAttempts(c, exec, port)));
  return out;
}

/**
 * Domain fronting through an intercepted host: a route's host (always
 * intercepted), else an exact allowed host when DLP is on (intercepted too).
 * A tunnelled host would carry the attempt to the real server: not tried.
 */
async function frontingAttempts(c: AttemptContext, exec: Exec, port: number): Promise<Attempt[]> {
  const status = c.egress?.status();
  const front = status?.routes[0]?.host ?? (status?.dlp ? status.allow.find((h) => !h.includes('*')) : undefined);
  if (!front) {
    return [attempt('proxy:fronting', 'proxy', 'proxy: domain fronting (Host or SNI naming another host)', 'skipped', 'no route and no intercepted allowed host to front through (a tunnelled host would reach the real server)')];
  }
  const other = INVALID(c.token, 'fronted');
  const proxy = `http://127.0.0.1:${port}`;
  const out: Attempt[] = [];
  const curl = await exec(['curl', '-sS', '-k', '-i', '--suppress-connect-headers', '--max-time', '20', '--noproxy', '', '-x', proxy, '-H', `Host: ${other}`, '-w', '\n__selftest_status=%{http_code}\n', `https://${front}/`], { timeoutMs: 30_000 });
  const statusCode = Number(/__selftest_status=(\d+)/.exec(curl.stdout)?.[1] ?? 0) || undefined;
  const body = curl.stdout.split(/\r?\n\r?\n/).slice(1).join('\n\n').replace(/\n?__selftest_status=\d+\s*$/, '');
  out.push(attempt('proxy:front-host', 'proxy', `proxy: CONNECT and SNI ${front}, Host header ${other}`, ...v(judgeHostFronting(statusCode, body, curl.exitCode))));

  const before = c.audits.length;
  const sni = await exec(['sh', '-c', 'printf "GET / HTTP/1.1\\r\\nHost: %s\\r\\nConnection: close\\r\\n\\r\\n" "$1" | timeout 20 openssl s_client -quiet -ign_eof -proxy "$2" -connect "$1:443" -servername "$3" 2>&1', 'sh', front, `127.0.0.1:${port}`, other], { timeoutMs: 30_000 });
  await sleep(200);
  const audited = c.audits.slice(before).some((e) => e.type === 'egress.deny' && /SNI/.test(String(e.reason)));
  const answer = /HTTP\/1\.[01] \d{3}/.exec(sni.stdout);
  out.push(attempt('proxy:front-sni', 'proxy', `proxy: CONNECT ${front} with TLS SNI ${other}`, ...v(judgeSniFronting(Boolean(answer), audited, answer ? answer[0] : sni.stdout.split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${sni.exitCode}`))));
  return out;
}

/** Readable places a plugin or the agent could have left a credential in, besides what the plan put where. */
const DUMP_ROOTS = ['/home', '/tmp', '/var/tmp', '/etc', '/opt', '/run', '/srv', '/mnt', '/media', '/root', '/var/lib', '/usr/local/etc'];
const MAX_FILE = 16 * 1024 * 1024;

async function credentialAttempts(c: AttemptContext): Promise<Attempt[]> {
  const egress = (c.bottleConfig.egress ?? undefined) as { routes?: Array<{ inject?: { env?: string } | false }> } | undefined;
  const git = c.bottleConfig.git as { remotes?: Record<string, { identityFile: string }> } | undefined;
  const { secrets, ignored } = collectSecrets({
    guestEnv: { ...c.plan.env, ...c.spec.env },
    hostEnv: c.hostEnv,
    routeEnvs: (egress?.routes ?? []).flatMap((r) => (r.inject && r.inject.env ? [r.inject.env] : [])),
    identityFiles: Object.values(git?.remotes ?? {}).map((r) => r.identityFile),
    configDir: c.configDir,
  });
  if (!secrets.length) {
    return [attempt('credentials', 'credentials', 'real credentials in the guest', 'skipped', `this host holds no credential for the bottle (no route injects one, no git key)${ignored.length ? `; ignored: ${ignored.join(', ')}` : ''}`)];
  }
  const roots = [...new Set([...DUMP_ROOTS, c.spec.workdir ?? '/home/node/workspace', ...c.plan.files.map((f) => f.guestPath), ...c.plan.mounts.map((m) => m.guestPath)])];
  const scanner = new DumpScanner(secrets);
  let failure = '';
  // Streamed: a workspace may be large, and only this side knows what to look for.
  const docker = process.env.BOTTLE_DOCKER ?? 'docker';
  const env = Object.entries(c.spec.env).flatMap(([k, val]) => ['-e', `${k}=${val}`]);
  const child = execa(docker, ['exec', '-u', '1000:1000', ...(c.spec.workdir ? ['-w', c.spec.workdir] : []), ...env, c.guest.id, 'perl', '-e', PROBE, '--', 'dump', String(MAX_FILE), ...roots], {
    reject: false, stdin: 'ignore', buffer: { stdout: false, stderr: true }, ...(c.signal ? { cancelSignal: c.signal } : {}),
  });
  child.stdout.on('data', (d: Buffer) => {
    if (failure) return;
    try {
      scanner.push(d);
    } catch (e) {
      failure = (e as Error).message;
      child.kill();
    }
  });
  const res = await child;
  if (!failure) {
    try {
      scanner.end();
    } catch (e) {
      failure = (e as Error).message;
    }
  }
  if (!failure && res.exitCode !== 0) failure = `the dump failed (exit ${res.exitCode}): ${String(res.stderr).slice(-200)}`;
  const scanned = `the guest's env, /proc/*/environ and cmdline, and ${scanner.pieces} pieces (${Math.round(scanner.bytes / 1024)} KiB) under ${roots.slice(0, 4).join(', ')}, ...${scanner.skipped ? `; ${scanner.skipped} files over ${MAX_FILE} bytes not read` : ''}`;
  // One line per credential (a key file's lines together).
  const names = [...new Set(secrets.map((s) => s.name.replace(/ \(line \d+\)$/, '')))];
  return names.map((name) => {
    const title = `credential ${name} (its real value) in the guest: env, /proc, files (raw, base64, hex, URL-encoded)`;
    if (failure) return attempt(`credentials:${name}`, 'credentials', title, 'inconclusive', failure);
    const mine: SecretFinding[] = scanner.findings.filter((f) => f.secret === name || f.secret.startsWith(`${name} (line`));
    return attempt(`credentials:${name}`, 'credentials', title, ...v(judgeSecrets(mine, scanned)));
  });
}

/** A name matching a protected pattern (a concrete branch for a glob). */
const concrete = (pattern: string, token: string) => pattern.replace(/^refs\/heads\//, '').replace(/\*\*?/g, `bottle-selftest-${token}`);

async function gitAttempts(c: AttemptContext, exec: Exec): Promise<Attempt[]> {
  const port = doorPort(c.plan, 'git');
  const git = c.bottleConfig.git as { remotes?: Record<string, unknown>; policy?: { protected: string[]; push: string[] } } | undefined;
  const remotes = Object.keys(git?.remotes ?? {}).sort();
  if (port === undefined || !remotes.length) return [attempt('git', 'git', 'pushes through the git gate', 'skipped', 'no git gate in this bottle (no git.remotes)')];
  const policy = git?.policy ?? { protected: ['main', 'master'], push: ['claude/*'] };
  const push = policy.push.map(globToRegExp);
  const out: Attempt[] = [];
  // A decoy secret (an AWS access key id's shape): should the ref policy fail, the gate's DLP still stops the push before the upstream.
  const decoy = `aws_access_key_id = ${['AKIA', 'Z2QSELFTESTK7Q4B'].join('')}`;
  const script = [
    'set -u',
    'export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost',
    'd=$(mktemp -d) && cd "$d" && git init -q && printf "%s\\n" "$1" > selftest.txt && git add selftest.txt &&',
    'git -c user.name=bottle-selftest -c user.email=selftest@bottle.invalid -c commit.gpgsign=false commit -qm "bottle selftest: this push must be refused by the git gate" || exit 90',
    'git push --porcelain --force "$2" "HEAD:$3" 2>&1; echo "__exit=$?"',
  ].join('\n');
  for (const r of remotes) {
    const url = `http://127.0.0.1:${port}/${r}.git`;
    const tries: Array<{ id: string; title: string; ref: string; skip?: string }> = [];
    const prot = policy.protected[0];
    tries.push(prot
      ? { id: `git:${r}:protected`, title: `git: force-push to protected branch ${concrete(prot, c.token)} of ${r}`, ref: `refs/heads/${concrete(prot, c.token)}` }
      : { id: `git:${r}:protected`, title: `git: force-push to a protected branch of ${r}`, ref: '', skip: 'git.policy.protected is empty' });
    tries.push({ id: `git:${r}:tag`, title: `git: push a tag to ${r}`, ref: `refs/tags/bottle-selftest-${c.token}` });
    tries.push({ id: `git:${r}:outside-heads`, title: `git: push a ref outside refs/heads (forged refs/bottle-selftest/...) to ${r}`, ref: `refs/bottle-selftest/${c.token}` });
    const stray = `bottle-selftest-${c.token}`;
    tries.push(push.some((re) => re.test(stray))
      ? { id: `git:${r}:not-allowed`, title: `git: push a branch outside git.policy.push to ${r}`, ref: '', skip: `git.policy.push (${policy.push.join(', ')}) allows any branch name` }
      : { id: `git:${r}:not-allowed`, title: `git: push branch ${stray} (outside git.policy.push) to ${r}`, ref: `refs/heads/${stray}` });
    for (const t of tries) {
      if (t.skip) {
        out.push(attempt(t.id, 'git', t.title, 'skipped', t.skip));
        continue;
      }
      const res = await exec(['sh', '-c', script, 'sh', decoy, url, t.ref], { timeoutMs: 120_000 });
      const code = Number(/__exit=(\d+)/.exec(res.stdout)?.[1] ?? res.exitCode);
      out.push(attempt(t.id, 'git', t.title, ...v(judgePush(code, `${res.stdout}\n${res.stderr}`))));
    }
  }
  return out;
}

/** A tiny MCP client in sh + curl, as an agent without an MCP library would write it. */
const MCP_SH = `
U="$MCP_URL"
H1='Content-Type: application/json'; H2='Accept: application/json, text/event-stream'
mcp() { curl -sS --noproxy '*' --max-time "\${T:-20}" -H "$H1" -H "$H2" \${SID:+-H "Mcp-Session-Id: $SID"} -d "$1" "$U"; }
SID=$(curl -sS --noproxy '*' --max-time 20 -D - -o /dev/null -H "$H1" -H "$H2" -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"bottle-selftest","version":"1"}}}' "$U" | tr -d '\\r' | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p')
mcp '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
`;

async function superviseAttempts(c: AttemptContext, exec: Exec): Promise<Attempt[]> {
  const port = doorPort(c.plan, 'supervise');
  const title1 = 'supervise: approve its own pending request through MCP tools and methods';
  const title2 = 'supervise: approve its own pending request through HTTP endpoints of the door';
  if (port === undefined) return [attempt('supervise', 'supervise', 'supervise: approve its own request', 'skipped', 'supervise is off in this bottle')];
  const url = `http://127.0.0.1:${port}/mcp`;
  const host = INVALID(c.token, 'approval');
  const ask = exec(['sh', '-c', `MCP_URL="$1"\n${MCP_SH}\nT=3600 mcp "$2"`, 'sh', url,
    JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'request_egress', arguments: { host, reason: 'bottle selftest: the agent will try to approve this request itself; it is denied by selftest' } } })], { timeoutMs: 15 * 60_000 });
  ask.catch(() => {});
  // The request, as the human sees it.
  let id: string | undefined;
  for (let i = 0; i < 150 && !id; i++) {
    id = listPending(c.stateRoot).find((r) => r.slug === c.plan.slug && r.subject === host)?.id;
    if (!id) await sleep(100);
  }
  const answered = () => {
    const f = id ? findRequest(c.stateRoot, id) : undefined;
    return f?.request.answer ? `${f.request.answer.outcome} (by ${f.request.answer.by})` : undefined;
  };
  const out: Attempt[] = [];
  if (!id) {
    const r = await Promise.race([ask, sleep(2000).then(() => undefined)]);
    const msg = r ? `${r.stdout} ${r.stderr}`.trim() : 'the call is still waiting';
    return [attempt('supervise:mcp', 'supervise', title1, ...v(judgeSelfApproval({ requestSeen: false, callResult: msg, tried: '' })))];
  }
  const call = (name: string, n: number) => JSON.stringify({ jsonrpc: '2.0', id: n, method: 'tools/call', params: { name, arguments: { id, requestId: id, approved: true, answer: 'approve', reason: 'approved' } } });
  const rpc = (method: string, n: number) => JSON.stringify({ jsonrpc: '2.0', id: n, method, params: { id, approved: true } });
  const tools = ['approve', 'approve_request', 'answer', 'answer_request', 'bottle_approve', 'deny', 'respond'];
  const methods = ['approve', 'approvals/approve', 'supervise/approve', 'requests/answer'];
  const mcpScript = [`MCP_URL="$1"`, MCP_SH, 'shift', 'for m in "$@"; do mcp "$m"; echo; done', `mcp '{"jsonrpc":"2.0","id":99,"method":"tools/list"}'`].join('\n');
  await exec(['sh', '-c', mcpScript, 'sh', url, ...tools.map((t, i) => call(t, 10 + i)), ...methods.map((m, i) => rpc(m, 30 + i))], { timeoutMs: 60_000 });
  const afterMcp = answered();
  out.push(attempt('supervise:mcp', 'supervise', title1, ...v(judgeSelfApproval({ requestSeen: true, ...(afterMcp ? { answeredBeforeHuman: afterMcp } : {}), callResult: '', tried: `${tools.length} tool calls (${tools.join(', ')}) and ${methods.length} JSON-RPC methods` }))));
  const paths = ['/approve', `/approve/${id}`, `/approvals/${id}/approve`, `/api/approvals/${id}`, `/requests/${id}/answer`, `/mcp/approve`, `/mcp/${id}/approve`];
  const body = JSON.stringify({ id, approved: true, outcome: 'approved' });
  const httpScript = [
    'base="$1"; body="$2"; shift 2',
    'for p in "$@"; do for m in POST PUT; do curl -sS --noproxy "*" --max-time 10 -o /dev/null -w "$m $p %{http_code}\\n" -X $m -H "Content-Type: application/json" -d "$body" "$base$p"; done; done',
    // Around the door's own checks: a browser Origin, another Host.
    'curl -sS --noproxy "*" --max-time 10 -o /dev/null -w "origin %{http_code}\\n" -H "Origin: http://localhost" -H "Content-Type: application/json" -d "$body" "$base/mcp"',
    'curl -sS --noproxy "*" --max-time 10 -o /dev/null -w "host %{http_code}\\n" -H "Host: supervise.invalid" -H "Content-Type: application/json" -d "$body" "$base/mcp"',
  ].join('\n');
  await exec(['sh', '-c', httpScript, 'sh', `http://127.0.0.1:${port}`, body, ...paths], { timeoutMs: 60_000 });
  const afterHttp = answered();
  // The human's answer (selftest plays the human): the agent's call ends with it.
  if (!afterHttp) {
    try {
      answerRequest(c.stateRoot, id, { approved: false, reason: 'bottle selftest: the self-approval attempt is over' });
    } catch {
      // Timed out or answered meanwhile: the call's result says which.
    }
  }
  const res = await ask;
  const text = [...res.stdout.matchAll(/"text":"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).join(' ') || `${res.stdout} ${res.stderr}`.trim();
  out.push(attempt('supervise:http', 'supervise', title2, ...v(judgeSelfApproval({ requestSeen: true, ...(afterHttp && !afterMcp ? { answeredBeforeHuman: afterHttp } : {}), callResult: afterMcp || afterHttp ? '' : text, tried: `${paths.length * 2 + 2} HTTP requests (${paths.join(', ')}, a browser Origin, a foreign Host)` }))));
  return out;
}

export const newToken = () => `bst${randomBytes(6).toString('hex')}`;

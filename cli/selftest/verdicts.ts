// Judging each attempt of `bottle selftest`, with no I/O: what the guest
// reported, what the host saw (its listener, the audit trail, the queue),
// into one verdict and a line of detail. Refused means the bottle refused
// it: a network error of the no-route kind, the proxy's or the gate's own
// refusal. Anything that reached somewhere, or that cannot be told apart
// from that, is not refused.

export type Verdict = 'refused' | 'got-through' | 'skipped' | 'inconclusive';

export type Group = 'guest' | 'network' | 'proxy' | 'credentials' | 'git' | 'supervise';

export interface Attempt {
  /** Stable id, e.g. `tcp:172.17.0.1`, `proxy:hex-loopback`. */
  id: string;
  group: Group;
  /** What was tried, for a person. */
  title: string;
  verdict: Verdict;
  /** Why this verdict (the error, the refusal's words, where a secret was found). */
  detail: string;
}

/** One result line of the guest probe. */
export interface ProbeResult {
  outcome: string;
  detail: string;
}

/** Errors that mean the guest has no way to that address at all. */
const NO_ROUTE = /^(?:send: |socket: |ping socket: )?(ENETUNREACH|EHOSTUNREACH|EADDRNOTAVAIL|EINVAL|EAFNOSUPPORT|EPROTONOSUPPORT|ETIMEDOUT|EACCES|EPERM)\b/;

export const attempt = (id: string, group: Group, title: string, verdict: Verdict, detail: string): Attempt => ({ id, group, title, verdict, detail });

/**
 * TCP or UDP from the guest to an address of the host, where selftest
 * listens: through when the guest connected, or the host's listener saw the
 * attempt's token, or the address answered at all (ECONNREFUSED is an
 * answer: there is a route).
 */
export function judgeSocket(r: ProbeResult | undefined, hostSaw: boolean): { verdict: Verdict; detail: string } {
  if (hostSaw) return { verdict: 'got-through', detail: `the host's listener received it${r ? ` (guest: ${r.outcome}${r.detail ? `, ${r.detail}` : ''})` : ''}` };
  if (!r) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  if (r.outcome === 'connected') return { verdict: 'got-through', detail: 'connected' };
  if (r.outcome === 'sent') return { verdict: 'refused', detail: `the guest sent a datagram (${r.detail}) that never reached the host` };
  if (r.outcome === 'error' && NO_ROUTE.test(r.detail)) return { verdict: 'refused', detail: r.detail };
  if (r.outcome === 'error' && /ECONNREFUSED/.test(r.detail)) return { verdict: 'got-through', detail: `the address answered (${r.detail}): the guest has a route to it` };
  if (r.outcome === 'error' && /^getaddrinfo/.test(r.detail)) return { verdict: 'refused', detail: r.detail };
  return { verdict: 'inconclusive', detail: `${r.outcome}: ${r.detail}` };
}

/** ICMP echo or a DNS query over UDP: through when anything answered. */
export function judgeEcho(r: ProbeResult | undefined): { verdict: Verdict; detail: string } {
  if (!r) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  if (r.outcome === 'reply') return { verdict: 'got-through', detail: `answered (${r.detail})` };
  if (r.outcome === 'noreply') return { verdict: 'refused', detail: r.detail };
  if (r.outcome === 'nosocket') return { verdict: 'refused', detail: `the agent cannot even open one: ${r.detail}` };
  if (r.outcome === 'error' && NO_ROUTE.test(r.detail)) return { verdict: 'refused', detail: r.detail };
  // A scoped link-local address names an interface the guest does not have.
  if (r.outcome === 'error' && /^getaddrinfo/.test(r.detail)) return { verdict: 'refused', detail: r.detail };
  return { verdict: 'inconclusive', detail: `${r.outcome}: ${r.detail}` };
}

/** Name resolution through the guest's resolver: any answer, even "no such name", means a DNS server was reached. */
export function judgeResolve(r: ProbeResult | undefined): { verdict: Verdict; detail: string } {
  if (!r) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  if (r.outcome === 'again' || r.outcome === 'failed') return { verdict: 'refused', detail: `no resolver reachable (${r.detail})` };
  if (r.outcome === 'nxdomain') return { verdict: 'got-through', detail: 'a DNS server answered "no such name": the guest reaches a resolver' };
  return { verdict: 'got-through', detail: `resolved: ${r.detail}` };
}

/** The guest's interfaces: `lo` and nothing else, and no route. */
export function judgeInterfaces(ifs: ProbeResult | undefined, routes: ProbeResult | undefined): { verdict: Verdict; detail: string } {
  if (!ifs || !routes) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  const names = ifs.outcome.split(',').filter(Boolean);
  const extra = names.filter((n) => n !== 'lo');
  if (extra.length) return { verdict: 'got-through', detail: `the guest has interfaces besides lo: ${extra.join(', ')}` };
  if (routes.outcome !== '0') return { verdict: 'got-through', detail: `the guest has routes: ${routes.detail}` };
  return { verdict: 'refused', detail: `interfaces: ${names.join(', ') || '(none)'}; no routes` };
}

/** Unix sockets anywhere in the guest's file system the agent can connect to (a mounted docker.sock, a host service). */
export function judgeUnixSockets(r: ProbeResult | undefined): { verdict: Verdict; detail: string } {
  if (!r) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  if (r.outcome === '0') return { verdict: 'refused', detail: r.detail ? `none the agent can connect to${r.detail}` : 'no socket in the guest\'s file system' };
  return { verdict: 'got-through', detail: `the agent connects to ${r.detail}` };
}

/** The proxy's own refusals: 403 (policy, forbidden address, DLP) and 421 (Host fronting), in its own words. */
export function isProxyRefusal(status: number | undefined, body: string): boolean {
  return (status === 403 || status === 421) && /^claude-bottle: /.test(body.trimStart()) && !/could not (?:reach|resolve)/.test(body);
}

/**
 * A request through the egress proxy that must be refused. Only the proxy's
 * own refusal counts: a 502 says it tried to dial, a 200 that it got there;
 * the host listener seeing the token settles it either way.
 */
export function judgeProxy(r: ProbeResult | undefined, hostSaw: boolean): { verdict: Verdict; detail: string } {
  if (hostSaw) return { verdict: 'got-through', detail: 'the proxy forwarded it: the host\'s listener received it' };
  if (!r) return { verdict: 'inconclusive', detail: 'the probe reported nothing for this attempt' };
  const m = /^status (\d{3})$/.exec(r.outcome);
  const status = m ? Number(m[1]) : undefined;
  const body = r.detail.trim();
  if (isProxyRefusal(status, body)) return { verdict: 'refused', detail: `${status}: ${body}` };
  if (status !== undefined) return { verdict: 'got-through', detail: `the proxy did not refuse it (${status}${body ? `: ${body.slice(0, 160)}` : ''})` };
  return { verdict: 'inconclusive', detail: `no answer from the proxy (${r.outcome}${r.detail ? `: ${r.detail}` : ''})` };
}

/** curl's answer inside an intercepted tunnel, the Host header naming another host: only the proxy's 421/403 is a refusal. */
export function judgeHostFronting(status: number | undefined, body: string, curlExit: number): { verdict: Verdict; detail: string } {
  if (isProxyRefusal(status, body)) return { verdict: 'refused', detail: `${status}: ${body.trim()}` };
  if (status) return { verdict: 'got-through', detail: `the proxy passed it on (${status}${body.trim() ? `: ${body.trim().slice(0, 160)}` : ''})` };
  return { verdict: 'inconclusive', detail: `no HTTP answer (curl exit ${curlExit})` };
}

/**
 * TLS whose SNI names another host than the CONNECT: refused when no HTTP
 * answer came back and the proxy audited the mismatch; an answer means the
 * request went on.
 */
export function judgeSniFronting(gotHttpAnswer: boolean, auditedMismatch: boolean, detail: string): { verdict: Verdict; detail: string } {
  if (gotHttpAnswer) return { verdict: 'got-through', detail: `the request went on: ${detail}` };
  if (auditedMismatch) return { verdict: 'refused', detail: 'the proxy closed the tunnel: TLS SNI does not match the CONNECT host (audited)' };
  return { verdict: 'inconclusive', detail: `no answer, but no refusal audited by the proxy either (${detail})` };
}

/** Where a real credential was found in what the guest dumped. */
export interface SecretFinding {
  /** The credential's name (an env var, a key file): never its value. */
  secret: string;
  /** `env`, `/proc/12/environ`, a file path. */
  where: string;
  /** raw, base64, hex, url. */
  encoding: string;
}

export function judgeSecrets(findings: readonly SecretFinding[], scanned: string): { verdict: Verdict; detail: string } {
  if (!findings.length) return { verdict: 'refused', detail: `not found in ${scanned}` };
  const shown = findings.slice(0, 5).map((f) => `${f.secret} in ${f.where}${f.encoding === 'raw' ? '' : ` (${f.encoding})`}`);
  return { verdict: 'got-through', detail: `found: ${shown.join('; ')}${findings.length > 5 ? `; and ${findings.length - 5} more` : ''}` };
}

/**
 * A push through the git gate that its policy must refuse. The gate's own
 * refusal counts (`git-gate: refused: ...`), but not one that only DLP made
 * (the pushed commit carries a decoy secret so that a gate whose ref policy
 * failed still stops it before the upstream): that one got past the policy.
 */
export function judgePush(exitCode: number, output: string): { verdict: Verdict; detail: string } {
  const lines = output.split('\n').map((l) => l.replace(/^remote:\s*/, '').trim());
  const refusal = lines.find((l) => /^git-gate: refused: /.test(l));
  if (exitCode !== 0 && refusal) {
    if (/carries a secret/.test(refusal)) return { verdict: 'got-through', detail: `past the ref policy; only DLP stopped it: ${refusal}` };
    return { verdict: 'refused', detail: refusal };
  }
  const ng = lines.find((l) => /^!\s/.test(l) && /git-gate: /.test(l));
  if (exitCode !== 0 && ng && !/secret|pre-receive hook declined/.test(ng)) return { verdict: 'refused', detail: ng };
  if (exitCode === 0 || lines.some((l) => /^git-gate: pushed to /.test(l))) return { verdict: 'got-through', detail: lines.find((l) => /pushed to/.test(l)) ?? 'the push succeeded' };
  const last = lines.filter(Boolean).slice(-2).join(' | ');
  return { verdict: 'inconclusive', detail: `the push failed, but not by the gate's refusal: ${last}` };
}

/**
 * Self-approval: the agent's own request must still wait for a human after
 * everything the agent tried, and the agent's call must end with the human's
 * denial, not an approval.
 */
export function judgeSelfApproval(s: { requestSeen: boolean; answeredBeforeHuman?: string; callResult: string; tried: string }): { verdict: Verdict; detail: string } {
  if (!s.requestSeen) return { verdict: 'inconclusive', detail: `the agent's request never reached the host's queue (${s.callResult.slice(0, 200)})` };
  if (s.answeredBeforeHuman) return { verdict: 'got-through', detail: `the request was ${s.answeredBeforeHuman} before any human answered` };
  if (/\bapproved\b/.test(s.callResult) && !/^denied/.test(s.callResult)) return { verdict: 'got-through', detail: `the agent's call came back approved: ${s.callResult.slice(0, 200)}` };
  return { verdict: 'refused', detail: `still waiting for a human after ${s.tried}` };
}

/** 0 when nothing got through and everything was judged; 1 otherwise. */
export function exitCodeOf(attempts: readonly Attempt[]): number {
  return attempts.some((a) => a.verdict === 'got-through' || a.verdict === 'inconclusive') || !attempts.some((a) => a.verdict === 'refused') ? 1 : 0;
}

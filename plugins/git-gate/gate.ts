// The git gate's wiring: remotes, mirrors, ssh masters, the hook channel, the
// door it listens on, close.
//
// The gate is one host daemon per bottle, on its door (a Unix socket),
// serving each remote over git's smart HTTP protocol from a bare mirror in
// the bottle's state dir. A fetch syncs the mirror from the upstream first; a
// push is checked (ref policy, fast-forwards, DLP over every new object, size)
// and pushed on to the upstream with the remote's own key before the mirror
// takes it, so the agent sees the upstream's answer as its own.
//
// Where the parts are: smart-http.ts (routing, refs advertisement,
// upload-pack), receive-pack.ts (a push, from its head to receive-pack's
// answer), pre-receive.ts (the hook's work: checks and the upstream push),
// judge.ts (every decision about a push, pure), mirror.ts, ssh.ts, git.ts.
//
// Decisions (the why; the what is in each function):
// - Smart HTTP rather than git://: the gate sees every request before git
//   does (sync before the refs are advertised, size and ref names before a
//   pack is read), needs no `git daemon`, and refuses with text the client
//   shows (`ERR` packets, report-status with reasons, `remote:` lines). The
//   guest's git speaks it natively; NO_PROXY (set by egress) names the
//   guest's loopback. The guest's remotes become `http://127.0.0.1:9418/<name>.git`.
// - git does the protocol work (upload-pack, receive-pack with its
//   quarantine, fsck and report-status), the daemon does the judging: the
//   gate's own pre-receive hook (hook.ts) hands each push to this process,
//   where policy, DLP and the upstream push run without a process per push
//   beyond git's, `sh` and curl.
// - Ref names are judged twice: from the request's head before receive-pack
//   starts (a refused push is answered at once, per ref), and again in the
//   hook from what receive-pack itself parsed (the authoritative check).
// - The upstream push is a compare-and-swap on what the agent saw
//   (`--force-with-lease=<ref>:<old>`), atomic when the upstream supports it:
//   a stale mirror cannot make the gate overwrite work it never saw, and the
//   agent is told to fetch. A push does not sync first (it costs an upstream
//   round trip per push and the lease makes it unnecessary), but the first
//   push waits for the first sync, so the DLP scan never sees the upstream's
//   own history as new.
// - Size: a declared Content-Length over maxPackBytes is refused once the
//   push's head is read (so that the refusal names its refs); a streamed body
//   is counted and cut at the bound; receive.maxInputSize is the same bound
//   inside git, a backstop (git never gets more than the bound). All three are
//   one refusal (judge.ts's `oversize`): one text, one audit record; only git's
//   answer, relayed as it streams, keeps git's own words.
// - Nothing from the guest reaches git's config or environment: the gate
//   passes only `Git-Protocol: version=2` (for upload-pack), never push
//   options (not advertised), and every git call is hardened (git.ts).
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { listenOnDoor, safeSink } from '../../core/doors.ts';
import { killTree, type RunOptions } from './git.ts';
import { startHookServer } from './hook.ts';
import { openMirror } from './mirror.ts';
import { type RefRules, refRules } from './policy.ts';
import { judgePush } from './pre-receive.ts';
import { receivePack } from './receive-pack.ts';
import type { Remote } from './remote.ts';
import { DEFAULT_SCAN_LIMITS, type ScanLimits } from './scan.ts';
import { reply, smartHttp } from './smart-http.ts';
import { sshCommand, sshMaster, sshTarget } from './ssh.ts';
import type { Gate, GateAudit, GateOptions } from './types.ts';

export type { Gate, GateAudit, GateOptions, GateRemote } from './types.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export async function startGate(o: GateOptions): Promise<Gate> {
  const names = new Set<string>();
  for (const r of o.remotes) {
    if (!NAME.test(r.name)) throw new Error(`git-gate: bad remote name "${r.name}"`);
    if (names.has(r.name)) throw new Error(`git-gate: remote "${r.name}" twice`);
    names.add(r.name);
    if (!isAbsolute(r.identityFile) || !isAbsolute(r.knownHosts)) throw new Error(`git-gate: ${r.name}: identityFile and knownHosts must be absolute paths`);
    if (r.upstream.startsWith('-')) throw new Error(`git-gate: ${r.name}: bad upstream`);
    sshTarget(r.upstream);
  }
  const gitBin = o.bin?.git;
  const scanLimits: ScanLimits = { ...DEFAULT_SCAN_LIMITS, ...o.scanLimits };
  const policyRules: RefRules = refRules(o.policy);
  // One-time exceptions a human approved (supervise's request_push): the next
  // push of that branch skips the ref rules (not DLP), then the exception is spent.
  const exceptions = new Set<string>();
  const rules: RefRules = {
    refusal: (u) => (exceptions.has(u.ref) ? undefined : policyRules.refusal(u)),
    isProtected: (ref) => !exceptions.has(ref) && policyRules.isProtected(ref),
  };

  const dir = join(o.stateDir, 'git-gate');
  const home = join(dir, 'home');
  const hooksDir = join(dir, 'hooks');
  for (const d of [dir, home, hooksDir, join(dir, 'repos')]) mkdirSync(d, { recursive: true, mode: 0o700 });
  // Unix socket paths are limited to ~104 bytes, and ssh adds 17 characters
  // while it creates a master's socket: long state dirs get a private dir in
  // the temp dir instead.
  let sockDir = join(dir, 's');
  let ownSockDir = false;
  if (sockDir.length + 32 > 100) {
    sockDir = mkdtempSync(join(tmpdir(), 'bottle-gate-'));
    ownSockDir = true;
  } else mkdirSync(sockDir, { recursive: true, mode: 0o700 });

  const children = new Set<ChildProcess>();
  const track = (c: ChildProcess) => {
    children.add(c);
    c.once('close', () => children.delete(c));
  };
  /** Every local git call: hardened env (git.ts), the configured binary, killed on close. */
  const local: RunOptions = { home, track, ...(gitBin ? { bin: gitBin } : {}) };
  const audit = safeSink<GateAudit>((e) => o.onAudit(e));

  const hooks = await startHookServer({ socketPath: join(sockDir, 'hook.sock'), hookPath: join(hooksDir, 'pre-receive'), ...(o.bin?.curl ? { curl: o.bin.curl } : {}) });
  const remotes = new Map<string, Remote>();
  try {
    await hooks.selfTest();
    let i = 0;
    for (const cfg of o.remotes) {
      const id = { identityFile: cfg.identityFile, knownHosts: cfg.knownHosts, controlPath: join(sockDir, `m${i++}`) };
      const onHost = o.onHostProcess;
      const master = sshMaster({
        ...id,
        target: sshTarget(cfg.upstream),
        ...(o.bin?.ssh ? { bin: o.bin.ssh } : {}),
        ...(onHost ? { onStarted: (pid: number) => onHost(pid, `ssh master for ${cfg.name}`) } : {}),
      });
      const ssh = sshCommand(id, o.bin?.ssh);
      const mirror = await openMirror({
        name: cfg.name,
        upstream: cfg.upstream,
        repo: join(dir, 'repos', `${cfg.name}.git`),
        local,
        sshCommand: ssh,
        master,
        fetchTimeoutMs: o.fetchTimeoutMs ?? 600_000,
      });
      remotes.set(cfg.name, { cfg, mirror, master, sshCommand: ssh });
    }
  } catch (e) {
    await hooks.close();
    if (ownSockDir) rmSync(sockDir, { recursive: true, force: true });
    throw e;
  }

  const preReceive = { local, rules, exceptions, scanner: o.scanner, scanLimits, pushTimeoutMs: o.pushTimeoutMs ?? 600_000, audit };
  const handle = smartHttp({
    remotes,
    local,
    audit,
    receivePack: receivePack({ local, hooks, hooksDir, rules, maxPack: o.policy.maxPackBytes, audit, judge: (r, ctx) => judgePush(preReceive, r, ctx) }),
  });
  const srv = http.createServer({ requestTimeout: 30 * 60_000, headersTimeout: 15_000, keepAliveTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res).catch((e: unknown) => reply(res, 500, `git-gate: internal error: ${(e as Error).message}`));
  });
  srv.on('clientError', (_e, socket) => socket.destroy());
  await listenOnDoor(srv, o.socketPath).catch(async (e: unknown) => {
    await hooks.close();
    if (ownSockDir) rmSync(sockDir, { recursive: true, force: true });
    throw e;
  });

  // The warm-up waits until the bottle has started: an ssh handshake and a
  // fetch are CPU the start itself needs on a small machine (measured: they
  // doubled the guest's removal time of a short bottle on 2 cores). A fetch
  // the agent makes before then syncs on its own, as it always does.
  let warmTimer: ReturnType<typeof setTimeout> | undefined;
  if (o.warm !== false) {
    warmTimer = setTimeout(() => {
      for (const r of remotes.values()) {
        r.mirror.sync().catch((e: unknown) => audit({ type: 'git.error', remote: r.cfg.name, reason: (e as Error).message, upstream: r.cfg.upstream }));
      }
    }, o.warmDelayMs ?? 2000);
    warmTimer.unref();
  }

  let closing: Promise<void> | undefined;
  return {
    socketPath: o.socketPath,
    allowOnce(ref) {
      const full = ref.startsWith('refs/') ? ref : `refs/heads/${ref}`;
      if (!full.startsWith('refs/heads/')) throw new Error(`git-gate: only a branch can be excepted, not ${ref}`);
      exceptions.add(full);
      return full;
    },
    close() {
      if (warmTimer) clearTimeout(warmTimer);
      closing ??= (async () => {
        const done = new Promise<void>((resolve) => srv.close(() => resolve()));
        srv.closeAllConnections();
        for (const c of children) killTree(c);
        await done;
        await hooks.close();
        await Promise.all([...remotes.values()].map((r) => r.master.close()));
        if (ownSockDir) rmSync(sockDir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

// The git gate: one host daemon per bottle, on its door (a Unix socket),
// serving each remote over git's smart HTTP protocol from a bare mirror in
// the bottle's state dir. A fetch syncs the mirror from the upstream first; a
// push is checked (ref policy, fast-forwards, DLP over every new object, size)
// and pushed on to the upstream with the remote's own key before the mirror
// takes it, so the agent sees the upstream's answer as its own.
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
// - Size: a declared Content-Length over maxPackBytes is refused before a
//   byte is read; a streamed body is counted and cut at the bound;
//   receive.maxInputSize is the same bound inside git.
// - Nothing from the guest reaches git's config or environment: the gate
//   passes only `Git-Protocol: version=2` (for upload-pack), never push
//   options (not advertised), and every git call is hardened (git.ts).
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { listenOnDoor, safeSink } from '../../core/doors.ts';
import { killTree, type RunOptions, runGit, spawnGit, tail } from './git.ts';
import { startHookServer, TOKEN_ENV, type HookContext, type Verdict } from './hook.ts';
import { openMirror, type Mirror } from './mirror.ts';
import { errAdvertisement, parsePushHead, type PushHead, refusePush } from './pktline.ts';
import { isZero, notFastForward, type RefRules, refRules, type RefUpdate } from './policy.ts';
import { commitOf, DEFAULT_SCAN_LIMITS, type ScanLimits, scanPush } from './scan.ts';
import { sshCommand, sshMaster, type SshMaster, sshTarget } from './ssh.ts';
import type { Gate, GateAudit, GateOptions, GateRemote } from './types.ts';

export type { Gate, GateAudit, GateOptions, GateRemote } from './types.ts';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const ROUTE = /^\/(.+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;
/** An upload-pack request (wants, haves, filters) is never near this. */
const MAX_UPLOAD_REQUEST = 64 * 1024 * 1024;
/** The commands at the head of a push. */
const MAX_PUSH_HEAD = 4 * 1024 * 1024;
const TEXT = 'text/plain; charset=utf-8';
const NO_CACHE = { expires: 'Fri, 01 Jan 1980 00:00:00 GMT', pragma: 'no-cache', 'cache-control': 'no-cache, max-age=0, must-revalidate' };

interface Remote {
  cfg: GateRemote;
  mirror: Mirror;
  master: SshMaster;
  /** GIT_SSH_COMMAND for the calls that reach this upstream. */
  sshCommand: string;
}

class Refused extends Error {}

/** The host paths of a remote's key and known_hosts are nobody's business in the guest (the audit keeps them). */
const scrub = (r: Remote, text: string) => text.split(r.cfg.identityFile).join('<identity>').split(r.cfg.knownHosts).join('<known_hosts>');

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
  const maxPack = o.policy.maxPackBytes;
  // A refused push is read to its end before the connection is reused: git's
  // HTTP client shows the answer only once it has sent everything. Past this
  // much, the connection is cut instead (the client then sees a bare "RPC
  // failed").
  const drainLimit = 4 * maxPack + 64 * 1024 * 1024;

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
      const master = sshMaster({ ...id, target: sshTarget(cfg.upstream), ...(o.bin?.ssh ? { bin: o.bin.ssh } : {}) });
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


  // ------------------------------------------------------------ the judge

  /** Decides one push, in the pre-receive hook's time: policy, DLP, then the upstream. */
  const judge = async (r: Remote, ctx: HookContext): Promise<Verdict> => {
    const repo = r.mirror.repo;
    // receive-pack reads no pack, hence makes no quarantine, when a push only deletes.
    const deletesOnly = ctx.updates.every((u) => isZero(u.new));
    if (ctx.quarantine === undefined ? !deletesOnly : !existsSync(ctx.quarantine) || !statSync(ctx.quarantine).isDirectory()) {
      return { ok: false, lines: ['git-gate: the push has no quarantine; refused'] };
    }
    const qenv: RunOptions = {
      ...local,
      extra: ctx.quarantine ? { GIT_OBJECT_DIRECTORY: ctx.quarantine, GIT_ALTERNATE_OBJECT_DIRECTORIES: join(repo, 'objects'), GIT_QUARANTINE_PATH: ctx.quarantine } : {},
    };
    const refuse = (lines: string[], events: GateAudit[]): Verdict => {
      for (const e of events) audit(e);
      return { ok: false, lines };
    };

    const byName = ctx.updates.map((u) => [u, rules.refusal(u)] as const).filter(([, why]) => why);
    if (byName.length) {
      return refuse(
        byName.map(([, why]) => `git-gate: refused: ${why}`),
        byName.map(([u, why]) => ({ type: 'git.refuse', remote: r.cfg.name, ref: u.ref, reason: why! })),
      );
    }
    for (const u of ctx.updates) {
      if (isZero(u.old) || isZero(u.new) || !rules.isProtected(u.ref)) continue;
      const a = await runGit([`--git-dir=${repo}`, 'merge-base', '--is-ancestor', u.old, u.new], qenv);
      if (a.code !== 0) {
        const why = a.code === 1 ? notFastForward(u.ref) : `${u.ref}: cannot tell whether this is a fast-forward (${tail(a.stderr, 1)})`;
        return refuse([`git-gate: refused: ${why}`], [{ type: 'git.refuse', remote: r.cfg.name, ref: u.ref, reason: why }]);
      }
    }
    const tips = ctx.updates.filter((u) => !isZero(u.new)).map((u) => u.new);
    if (o.scanner && tips.length) {
      const s = await scanPush(repo, tips, o.scanner, scanLimits, qenv);
      if (!s.ok) {
        if (s.kind === 'secret') {
          const commit = await commitOf(repo, tips, s.oid, s.type, qenv);
          const where = s.type === 'commit' ? 'in its message or headers' : s.type === 'tree' ? `in a file name${s.path ? ` under ${s.path}` : ''}` : `in ${s.path ?? `blob ${s.oid}`}`;
          const why = `commit ${commit?.slice(0, 12) ?? '(unknown)'} carries a secret (${s.rule}) ${where}; remove it from that commit (rewrite the history, e.g. git rebase -i) and push again`;
          return refuse(
            [`git-gate: refused: ${why}`],
            ctx.updates.map((u) => ({ type: 'git.refuse', remote: r.cfg.name, ref: u.ref, reason: `DLP: ${why}`, rule: s.rule, ...(commit ? { commit } : {}) })),
          );
        }
        const why =
          s.kind === 'too-large'
            ? `${s.type} ${s.oid.slice(0, 12)}${s.path ? ` (${s.path})` : ''} is too large to scan (${s.size} bytes; limits ${scanLimits.maxObjectBytes} per object, ${scanLimits.maxTotalBytes} per push)`
            : `cannot scan this push: ${s.message}`;
        return refuse(
          [`git-gate: refused: ${why}`],
          ctx.updates.map((u) => ({ type: 'git.refuse', remote: r.cfg.name, ref: u.ref, reason: why })),
        );
      }
    }
    return pushUpstream(r, ctx.updates, qenv);
  };

  const pushUpstream = async (r: Remote, updates: RefUpdate[], qenv: RunOptions): Promise<Verdict> => {
    await r.master.ensure();
    const leases = updates.map((u) => `--force-with-lease=${u.ref}:${isZero(u.old) ? '' : u.old}`);
    const specs = updates.map((u) => (isZero(u.new) ? `:${u.ref}` : `${u.new}:${u.ref}`));
    const push = (atomic: boolean) =>
      runGit([`--git-dir=${r.mirror.repo}`, 'push', '--porcelain', '--no-verify', ...(atomic ? ['--atomic'] : []), ...leases, '--', r.cfg.upstream, ...specs], {
        ...qenv,
        sshCommand: r.sshCommand,
        timeoutMs: o.pushTimeoutMs ?? 600_000,
      });
    let res = await push(updates.length > 1);
    if (res.code !== 0 && /does not support --atomic/.test(res.stderr)) res = await push(false);
    const stderr = res.stderr.split(/\r?\n/).filter((l) => l.trim());
    const porcelain = res.stdout.toString().split('\n');
    const relayed = stderr.filter((l) => l.startsWith('remote:')).map((l) => `upstream ${l}`);
    if (res.code === 0) {
      for (const u of updates) {
        audit({ type: 'git.push', remote: r.cfg.name, ref: u.ref, upstream: r.cfg.upstream, ...(isZero(u.new) ? {} : { commit: u.new }), ...(exceptions.has(u.ref) ? { exception: true } : {}) });
        exceptions.delete(u.ref);
      }
      return { ok: true, lines: [...relayed, `git-gate: pushed to ${r.cfg.upstream}: ${updates.map((u) => u.ref.replace(/^refs\/heads\//, '')).join(', ')}`] };
    }
    const rejected = porcelain.filter((l) => l.startsWith('!'));
    const stale = rejected.some((l) => /stale info|fetch first|non-fast-forward/.test(l));
    const refusedByUpstream = rejected.length > 0 || relayed.length > 0;
    const lines = [
      refusedByUpstream ? `git-gate: the upstream (${r.cfg.upstream}) refused this push:` : `git-gate: could not push to the upstream (${r.cfg.upstream}):`,
      ...stderr.filter((l) => !l.startsWith('To ')).map((l) => `  ${scrub(r, l)}`),
      ...rejected.map((l) => `  ${l.replace(/\t/g, ' ')}`),
      ...(stale ? ['git-gate: the upstream has moved since your last fetch: git fetch, rebase or merge, and push again'] : []),
    ];
    const reason = `upstream: ${tail([...stderr, ...rejected].join('\n'), 3).replace(/\n/g, ' | ')}`;
    for (const u of updates) audit({ type: refusedByUpstream ? 'git.refuse' : 'git.error', remote: r.cfg.name, ref: u.ref, reason, upstream: r.cfg.upstream });
    return { ok: false, lines };
  };

  // ------------------------------------------------------------ HTTP

  const reply = (res: http.ServerResponse, status: number, text: string) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { 'content-type': TEXT, 'content-length': Buffer.byteLength(text + '\n'), ...NO_CACHE });
    res.end(text + '\n');
  };

  /** The request body, gunzipped when the client compressed it (git does for large fetch negotiations). */
  const bodyOf = (req: http.IncomingMessage): Readable => {
    const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
    if (enc === 'gzip' || enc === 'x-gzip') {
      const gz = zlib.createGunzip();
      req.on('error', (e) => gz.destroy(e));
      return req.pipe(gz);
    }
    if (enc && enc !== 'identity') throw new Refused(`unsupported Content-Encoding ${enc}`);
    return req;
  };

  const wantsV2 = (req: http.IncomingMessage) => /(^|:)version=2(:|$)/.test(String(req.headers['git-protocol'] ?? ''));

  const advertise = async (r: Remote, service: 'git-upload-pack' | 'git-receive-pack', req: http.IncomingMessage, res: http.ServerResponse) => {
    const v2 = service === 'git-upload-pack' && wantsV2(req);
    const head = { 'content-type': `application/x-${service}-advertisement`, ...NO_CACHE };
    try {
      if (service === 'git-upload-pack') await r.mirror.sync();
      else await r.mirror.ensureSynced();
    } catch (e) {
      const msg = (e as Error).message;
      audit({ type: 'git.error', remote: r.cfg.name, reason: msg, upstream: r.cfg.upstream });
      res.writeHead(200, head);
      return void res.end(errAdvertisement(service, v2, scrub(r, msg)));
    }
    const sub = service === 'git-upload-pack' ? 'upload-pack' : 'receive-pack';
    const out = await runGit([sub, '--stateless-rpc', '--advertise-refs', r.mirror.repo], { ...local, ...(v2 ? { extra: { GIT_PROTOCOL: 'version=2' } } : {}) });
    if (out.code !== 0) {
      audit({ type: 'git.error', remote: r.cfg.name, reason: `${sub}: ${tail(out.stderr, 2)}` });
      res.writeHead(200, head);
      return void res.end(errAdvertisement(service, v2, `git-gate: ${sub} failed on the gate's mirror`));
    }
    if (service === 'git-upload-pack') audit({ type: 'git.fetch', remote: r.cfg.name, upstream: r.cfg.upstream });
    const body = Buffer.concat([v2 ? Buffer.alloc(0) : servicePrefix(service), out.stdout]);
    res.writeHead(200, { ...head, 'content-length': body.length });
    res.end(body);
  };

  const uploadPack = (r: Remote, req: http.IncomingMessage, res: http.ServerResponse) => {
    const v2 = wantsV2(req);
    const child = spawnGit(['upload-pack', '--stateless-rpc', r.mirror.repo], { ...local, ...(v2 ? { extra: { GIT_PROTOCOL: 'version=2' } } : {}) });
    let size = 0;
    let err = '';
    const body = bodyOf(req);
    body.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_UPLOAD_REQUEST) {
        killTree(child);
        body.destroy();
        reply(res, 413, 'git-gate: fetch request too large');
      }
    });
    body.on('error', () => killTree(child));
    body.pipe(child.stdin!);
    child.stdin!.on('error', () => {});
    child.stderr!.on('data', (b: Buffer) => {
      if (err.length < 8192) err += b.toString();
    });
    child.stdout!.on('data', (b: Buffer) => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result', ...NO_CACHE });
      if (!res.write(b)) {
        child.stdout!.pause();
        res.once('drain', () => child.stdout!.resume());
      }
    });
    res.on('close', () => killTree(child));
    child.once('error', () => reply(res, 500, 'git-gate: cannot run upload-pack'));
    child.once('close', (code) => {
      if (res.headersSent) return void res.end();
      if (code === 0) {
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result', 'content-length': 0, ...NO_CACHE });
        return void res.end();
      }
      audit({ type: 'git.error', remote: r.cfg.name, reason: `upload-pack: ${tail(err, 2)}` });
      reply(res, 500, 'git-gate: upload-pack failed');
    });
  };

  const receivePack = async (r: Remote, req: http.IncomingMessage, res: http.ServerResponse) => {
    const resultType = { 'content-type': 'application/x-git-receive-pack-result', ...NO_CACHE };
    const body = bodyOf(req);
    const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let size = 0;
    let buf = Buffer.alloc(0);
    let head: PushHead | null | undefined;
    let ended = false;
    while (head === undefined) {
      const n = await it.next();
      if (n.done) {
        ended = true;
        head = parsePushHead(buf) ?? null;
        break;
      }
      size += n.value.length;
      buf = Buffer.concat([buf, n.value]);
      head = buf.length > MAX_PUSH_HEAD ? null : parsePushHead(buf);
    }

    /** Answers a refused push in receive-pack's own format, then drains what the client is still sending. */
    const refuseEarly = (h: PushHead, reasons: Map<string, string>, lines: string[], unpack?: string) => {
      res.writeHead(200, resultType);
      res.end(refusePush(h, reasons, lines, unpack));
      if (!ended) drain(it, drainLimit, () => req.socket.destroy());
    };

    const declared = Number(req.headers['content-length'] ?? NaN);
    if (!head && (declared > maxPack || size > maxPack)) {
      audit({ type: 'git.refuse', remote: r.cfg.name, reason: `push larger than ${maxPack} bytes` });
      reply(res, 413, `git-gate: refused: this push is more than the limit of ${maxPack} bytes (policy.maxPackBytes)`);
      if (!ended) drain(it, drainLimit, () => req.socket.destroy());
      return;
    }
    if (head && (declared > maxPack || size > maxPack)) {
      const why = `this push is ${Number.isFinite(declared) ? declared : size} bytes, more than the limit of ${maxPack} bytes (policy.maxPackBytes)`;
      for (const c of head.commands) audit({ type: 'git.refuse', remote: r.cfg.name, ref: c.ref, reason: why });
      return refuseEarly(head, new Map(head.commands.map((c) => [c.ref, 'git-gate: push too large'])), [`git-gate: refused: ${why}`], 'pack too large');
    }
    if (head && head.commands.length) {
      const refused = head.commands.map((c) => [c, rules.refusal(c)] as const).filter(([, why]) => why);
      if (refused.length) {
        for (const [c, why] of refused) audit({ type: 'git.refuse', remote: r.cfg.name, ref: c.ref, reason: why! });
        return refuseEarly(
          head,
          new Map(refused.map(([c, why]) => [c.ref, `git-gate: ${why!.replace(/^\S+: /, '')}`])),
          refused.map(([, why]) => `git-gate: refused: ${why}`),
        );
      }
    }

    try {
      await r.mirror.ensureSynced();
    } catch (e) {
      const msg = (e as Error).message;
      audit({ type: 'git.error', remote: r.cfg.name, reason: msg, upstream: r.cfg.upstream });
      if (head) return refuseEarly(head, new Map(), [scrub(r, msg)], 'gate cannot reach the upstream');
      return reply(res, 502, scrub(r, msg));
    }

    await r.mirror.exclusive(
      () =>
        new Promise<void>((resolve) => {
          const reg = hooks.register(join(r.mirror.repo, 'objects'), (ctx) => judge(r, ctx));
          const child = spawnGit(['receive-pack', '--stateless-rpc', r.mirror.repo], {
            ...local,
            hooksPath: hooksDir,
            maxInputSize: maxPack + 1,
            extra: { [TOKEN_ENV]: reg.token },
          });
          let oversize = false;
          let err = '';
          child.stdin!.on('error', () => {});
          child.stderr!.on('data', (b: Buffer) => {
            if (err.length < 8192) err += b.toString();
          });
          let answer = '';
          child.stdout!.on('data', (b: Buffer) => {
            if (oversize) return;
            if (answer.length < 256 * 1024) answer += b.toString('latin1');
            if (!res.headersSent) res.writeHead(200, resultType);
            res.write(b);
          });
          res.on('close', () => {
            if (!res.writableFinished) killTree(child);
          });
          child.once('error', () => {
            reg.release();
            reply(res, 500, 'git-gate: cannot run receive-pack');
            resolve();
          });
          child.once('close', (code) => {
            reg.release();
            resolve();
            if (oversize) return;
            for (const e of gitRefusals(answer)) audit({ type: 'git.refuse', remote: r.cfg.name, ...e });
            if (res.headersSent) return void res.end();
            if (code === 0) {
              res.writeHead(200, { ...resultType, 'content-length': 0 });
              return void res.end();
            }
            audit({ type: 'git.error', remote: r.cfg.name, reason: `receive-pack: ${tail(err, 2)}` });
            reply(res, 500, `git-gate: receive-pack failed: ${tail(err, 2)}`);
          });

          // Feed receive-pack: what was read already, then the rest, counted.
          void (async () => {
            const write = (b: Buffer) => (child.stdin!.write(b) ? Promise.resolve() : new Promise<void>((ok) => child.stdin!.once('drain', ok)));
            try {
              await write(buf);
              while (!ended) {
                const n = await it.next();
                if (n.done) break;
                size += n.value.length;
                if (size > maxPack) {
                  oversize = true;
                  killTree(child);
                  const why = `this push is more than the limit of ${maxPack} bytes (policy.maxPackBytes)`;
                  if (head) {
                    for (const c of head.commands) audit({ type: 'git.refuse', remote: r.cfg.name, ref: c.ref, reason: why });
                    if (!res.headersSent) {
                      res.writeHead(200, resultType);
                      res.end(refusePush(head, new Map(head.commands.map((c) => [c.ref, 'git-gate: push too large'])), [`git-gate: refused: ${why}`], 'pack too large'));
                    } else res.destroy();
                  } else reply(res, 413, `git-gate: refused: ${why}`);
                  drain(it, drainLimit, () => req.socket.destroy());
                  return;
                }
                await write(n.value);
              }
              child.stdin!.end();
            } catch {
              killTree(child);
            }
          })();
        }),
    );
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://gate');
    const m = ROUTE.exec(url.pathname);
    if (!m) return reply(res, 404, 'git-gate: not a git URL of this gate (http://<gateway>:<port>/<remote>.git)');
    const r = remotes.get(m[1]!);
    if (!r) return reply(res, 404, `git-gate: no remote named "${m[1]}" (remotes: ${[...remotes.keys()].join(', ') || 'none'})`);
    const what = m[2]!;
    if (what === 'info/refs') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'git-gate: GET only');
      const service = url.searchParams.get('service');
      if (service !== 'git-upload-pack' && service !== 'git-receive-pack') return reply(res, 403, 'git-gate: smart HTTP only (service=git-upload-pack or git-receive-pack)');
      req.resume();
      return advertise(r, service, req, res);
    }
    if (req.method !== 'POST') return reply(res, 405, 'git-gate: POST only');
    if (String(req.headers['content-type'] ?? '') !== `application/x-${what}-request`) return reply(res, 415, `git-gate: expected Content-Type application/x-${what}-request`);
    if (what === 'git-upload-pack') return uploadPack(r, req, res);
    return receivePack(r, req, res);
  };

  const srv = http.createServer({ requestTimeout: 30 * 60_000, headersTimeout: 15_000, keepAliveTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    handle(req, res).catch((e: unknown) => {
      if (e instanceof Refused) reply(res, 415, `git-gate: ${e.message}`);
      else reply(res, 500, `git-gate: internal error: ${(e as Error).message}`);
    });
  });
  srv.on('clientError', (_e, socket) => socket.destroy());
  await listenOnDoor(srv, o.socketPath).catch(async (e: unknown) => {
    await hooks.close();
    if (ownSockDir) rmSync(sockDir, { recursive: true, force: true });
    throw e;
  });

  if (o.warm !== false) {
    for (const r of remotes.values()) {
      r.mirror.sync().catch((e: unknown) => audit({ type: 'git.error', remote: r.cfg.name, reason: (e as Error).message, upstream: r.cfg.upstream }));
    }
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

/**
 * Refusals receive-pack made itself (fsck, a ref it could not update), read
 * from its report so that they are audited like the gate's own; the hook's
 * refusals (`pre-receive hook declined`) were audited when they were made.
 */
export function gitRefusals(answer: string): { ref?: string; reason: string }[] {
  const out: { ref?: string; reason: string }[] = [];
  const unpack = /unpack (?!ok\n)([^\n\0]*)\n/.exec(answer);
  for (const m of answer.matchAll(/ng (\S+) ([^\n\0]*)\n/g)) {
    if (m[2] === 'pre-receive hook declined' || m[2]!.startsWith('git-gate')) continue;
    out.push({ ref: m[1]!, reason: `receive-pack: ${m[2]}${unpack ? ` (unpack: ${unpack[1]})` : ''}` });
  }
  if (unpack && out.length === 0) out.push({ reason: `receive-pack: unpack ${unpack[1]}` });
  return out;
}

function servicePrefix(service: string): Buffer {
  const line = `# service=${service}\n`;
  return Buffer.concat([Buffer.from((line.length + 4).toString(16).padStart(4, '0') + line), Buffer.from('0000')]);
}

/** Reads and discards up to `limit` more bytes of a request the gate has answered; past that, `cut`. */
function drain(it: AsyncIterator<Buffer>, limit: number, cut: () => void): void {
  void (async () => {
    let n = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      n += r.value.length;
      if (n > limit) return cut();
    }
  })().catch(() => {});
}

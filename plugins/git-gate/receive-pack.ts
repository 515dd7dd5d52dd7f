// One push over smart HTTP: its head judged before git starts (size, ref names),
// then receive-pack with the gate's hook, fed the counted body, its answer relayed.
import type http from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { killTree, type RunOptions, spawnGit, tail } from './git.ts';
import { type HookContext, type HookServer, TOKEN_ENV, type Verdict } from './hook.ts';
import { oversize, type PushRefusal, refusedByName } from './judge.ts';
import { parsePushHead, type PushHead, refusePush } from './pktline.ts';
import type { RefRules } from './policy.ts';
import { type Remote, scrub } from './remote.ts';
import { NO_CACHE, reply } from './smart-http.ts';
import type { GateAudit } from './types.ts';

/** The commands at the head of a push. */
const MAX_PUSH_HEAD = 4 * 1024 * 1024;
const RESULT = { 'content-type': 'application/x-git-receive-pack-result', ...NO_CACHE };

export interface ReceivePackDeps {
  /** Options of every local git call (git.ts). */
  local: RunOptions;
  /** The channel of the gate's pre-receive hook, and the directory the hook sits in. */
  hooks: HookServer;
  hooksDir: string;
  /** The ref rules the head is judged by before git starts (the hook judges again). */
  rules: RefRules;
  /** policy.maxPackBytes: the most body bytes a push may have. */
  maxPack: number;
  audit(e: GateAudit): void;
  /** Decides a push once receive-pack holds its objects (pre-receive.ts). */
  judge(r: Remote, ctx: HookContext): Promise<Verdict>;
}

/** The handler of `POST /<remote>.git/git-receive-pack`; `body` is the request's, decoded. */
export function receivePack(d: ReceivePackDeps): (r: Remote, req: http.IncomingMessage, res: http.ServerResponse, body: Readable) => Promise<void> {
  const { maxPack, audit } = d;
  // A refused push is read to its end before the connection is reused: git's
  // HTTP client shows the answer only once it has sent everything. Past this
  // much, the connection is cut instead (the client then sees a bare "RPC
  // failed").
  const drainLimit = 4 * maxPack + 64 * 1024 * 1024;

  return async (r, req, res, body) => {
    const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const { head, read, ended } = await readHead(it);
    let size = read.length;
    const refs = head ? head.commands.map((c) => c.ref) : [];

    /** Audits and answers a push the gate refuses itself, then drains it; an answer receive-pack has begun can only be cut. */
    const refuse = (x: PushRefusal) => {
      for (const e of x.audits) audit(e);
      const a = refusalAnswer(head, x);
      if (a.status === 413) reply(res, 413, a.text);
      else if (res.headersSent) res.destroy();
      else {
        res.writeHead(200, RESULT);
        res.end(a.body);
      }
      if (!ended) drain(it, drainLimit, () => req.socket.destroy());
    };

    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > maxPack || size > maxPack) return refuse(oversize(r.cfg.name, maxPack, refs, declared));
    const byName = head && refusedByName(r.cfg.name, d.rules, head.commands);
    if (byName) return refuse(byName);

    try {
      await r.mirror.ensureSynced();
    } catch (e) {
      const msg = (e as Error).message;
      audit({ type: 'git.error', remote: r.cfg.name, reason: msg, upstream: r.cfg.upstream });
      if (head) return refuse({ lines: [scrub(r, msg)], unpack: 'gate cannot reach the upstream', audits: [] });
      return reply(res, 502, scrub(r, msg));
    }

    await r.mirror.exclusive(
      () =>
        new Promise<void>((resolve) => {
          const reg = d.hooks.register(join(r.mirror.repo, 'objects'), (ctx) => d.judge(r, ctx));
          const child = spawnGit(['receive-pack', '--stateless-rpc', r.mirror.repo], {
            ...d.local,
            hooksPath: d.hooksDir,
            // A backstop only: the gate stops feeding git at maxPack bytes of body, of which the pack is a part.
            maxInputSize: maxPack + 1,
            extra: { [TOKEN_ENV]: reg.token },
          });
          let oversized = false;
          let err = '';
          child.stdin!.on('error', () => {});
          child.stderr!.on('data', (b: Buffer) => {
            if (err.length < 8192) err += b.toString();
          });
          let answer = '';
          child.stdout!.on('data', (b: Buffer) => {
            if (oversized) return;
            if (answer.length < 256 * 1024) answer += b.toString('latin1');
            if (!res.headersSent) res.writeHead(200, RESULT);
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
            if (oversized) return;
            for (const e of receivePackAudits(r.cfg.name, maxPack, refs, answer, err)) audit(e);
            if (res.headersSent) return void res.end();
            if (code === 0) {
              res.writeHead(200, { ...RESULT, 'content-length': 0 });
              return void res.end();
            }
            audit({ type: 'git.error', remote: r.cfg.name, reason: `receive-pack: ${tail(err, 2)}` });
            reply(res, 500, `git-gate: receive-pack failed: ${tail(err, 2)}`);
          });

          // Feed receive-pack: what was read already, then the rest, counted.
          void (async () => {
            const write = (b: Buffer) => (child.stdin!.write(b) ? Promise.resolve() : new Promise<void>((ok) => child.stdin!.once('drain', ok)));
            try {
              await write(read);
              while (!ended) {
                const n = await it.next();
                if (n.done) break;
                size += n.value.length;
                if (size > maxPack) {
                  oversized = true;
                  killTree(child);
                  return refuse(oversize(r.cfg.name, maxPack, refs));
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
}

/**
 * Reads a push's body up to the end of its commands. `head` is null when the
 * gate cannot tell them (not a head it parses, or longer than MAX_PUSH_HEAD):
 * receive-pack will judge them. `read` is every byte taken from `it`.
 */
async function readHead(it: AsyncIterator<Buffer>): Promise<{ head: PushHead | null; read: Buffer; ended: boolean }> {
  let read = Buffer.alloc(0);
  for (;;) {
    const n = await it.next();
    if (n.done) return { head: parsePushHead(read) ?? null, read, ended: true };
    read = Buffer.concat([read, n.value]);
    const head = read.length > MAX_PUSH_HEAD ? null : parsePushHead(read);
    if (head !== undefined) return { head, read, ended: false };
  }
}

/**
 * What the client receives for a push the gate refuses itself. With the
 * push's head read: receive-pack's own answer (per ref, and the lines on the
 * progress channel), which git shows as `[remote rejected]` and `remote:`
 * lines. Without it only size refuses a push, and the answer is a 413 with
 * the text (git prints it after "RPC failed").
 */
export function refusalAnswer(head: PushHead | null, x: PushRefusal): { status: 200; body: Buffer } | { status: 413; text: string } {
  if (head) return { status: 200, body: refusePush(head, x.reasons ?? new Map(), x.lines, x.unpack) };
  return { status: 413, text: x.lines.join('\n') };
}

/** git's text when receive.maxInputSize stops index-pack or unpack-objects, at the start of a line of its stderr or of a progress packet. */
const GIT_OVERSIZE = /(?:^|[\n\x02])fatal: pack exceeds maximum allowed size/;

/**
 * The audit records of a push receive-pack refused itself, from its answer
 * and its stderr (git's messages go there for a client without side-band):
 * over its size bound it is the gate's one oversize refusal, anything else is
 * read from the report (gitRefusals). A pack reported `unpack ok` was within
 * the bound, whatever the hook's lines relay from the upstream.
 */
export function receivePackAudits(remote: string, maxPack: number, refs: readonly string[], answer: string, stderr: string): GateAudit[] {
  if ((GIT_OVERSIZE.test(answer) || GIT_OVERSIZE.test(stderr)) && !/unpack ok\n/.test(answer)) return oversize(remote, maxPack, refs).audits;
  return gitRefusals(answer).map((e): GateAudit => ({ type: 'git.refuse', remote, ...e }));
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

// The pre-receive hook and the control socket it talks to. receive-pack runs
// the hook (the gate's own script, in the gate's own hooks dir: the only hook
// git ever runs on the host) once the pushed objects sit in quarantine; the
// hook hands the ref updates to the running gate over a unix socket and exits
// with the gate's verdict, so every check and the push upstream happen in
// the daemon, with no process started per push but git's own, `sh` and curl.
//
// Why curl: it is on every host that runs Docker, it speaks HTTP over a unix
// socket (`--unix-socket`), streams stdin as the body and fails on a refusal
// while still printing its text (`--fail-with-body`, curl >= 7.76; older
// curls refuse the flag, which refuses the push: fail closed). The gate
// checks the whole chain once at start, with the real script.
//
// Who may ask: the socket sits in a 0700 directory; each push carries a
// random token the gate gave that receive-pack run alone (env
// BOTTLE_GATE_PUSH, inherited by the hook), so a request that is not from a
// live push of ours is refused. The quarantine directory is named by its last
// path component only and must be `[tmp_objdir-]incoming-*` under that push's
// repository.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { RefUpdate } from './policy.ts';

export const TOKEN_ENV = 'BOTTLE_GATE_PUSH';
const SELF_TEST = 'self-test';
const MAX_REF_LINES_BYTES = 4 * 1024 * 1024;

export interface Verdict {
  ok: boolean;
  /** Lines the agent sees as `remote: ...`. */
  lines: string[];
}

export interface HookContext {
  /** The quarantine directory (absolute) of the push; undefined when receive-pack read no pack (a push that only deletes). */
  quarantine: string | undefined;
  updates: RefUpdate[];
}

export interface HookServer {
  /** A token for one receive-pack run; `judge` decides its push. Call `release` when receive-pack has exited. */
  register(objectsDir: string, judge: (ctx: HookContext) => Promise<Verdict>): { token: string; release(): void };
  /** Runs the hook script the way receive-pack would, against this server; throws when the chain does not work. */
  selfTest(): Promise<void>;
  close(): Promise<void>;
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The hook script: sh and curl only. */
export function hookScript(socketPath: string, curl = 'curl'): string {
  return [
    '#!/bin/sh',
    '# claude-bottle git gate: hands this push to the gate, which checks it and',
    '# pushes it upstream; its answer is printed and decides the exit status.',
    'q=${GIT_QUARANTINE_PATH##*/}',
    // -q first: no .curlrc, whatever HOME says.
    `exec ${shq(curl)} -q -sS -N --fail-with-body --unix-socket ${shq(socketPath)} \\`,
    `  -H "X-Gate-Push: \${${TOKEN_ENV}}" -H "X-Gate-Quarantine: \${q}" -H 'Expect:' \\`,
    `  -H 'Content-Type: application/octet-stream' --data-binary @- http://git-gate/pre-receive`,
    '',
  ].join('\n');
}

export function parseUpdates(text: string): RefUpdate[] | undefined {
  const out: RefUpdate[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const m = /^([0-9a-f]{40}|[0-9a-f]{64}) ([0-9a-f]{40}|[0-9a-f]{64}) (\S+)$/.exec(line);
    if (!m) return undefined;
    out.push({ old: m[1]!, new: m[2]!, ref: m[3]! });
  }
  return out;
}

/** The absolute path of `bin` on PATH (the hook must not depend on the PATH receive-pack happens to have). */
export function which(bin: string): string {
  if (bin.includes('/')) return bin;
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (!d.startsWith('/')) continue;
    try {
      accessSync(`${d}/${bin}`, constants.X_OK);
      return `${d}/${bin}`;
    } catch {
      // not here
    }
  }
  throw new Error(`git-gate: ${bin} not found on PATH (the gate's hook needs it)`);
}

export async function startHookServer(o: { socketPath: string; hookPath: string; curl?: string }): Promise<HookServer> {
  const curl = which(o.curl ?? 'curl');
  const pending = new Map<string, { objectsDir: string; judge: (ctx: HookContext) => Promise<Verdict> }>();

  const answer = (res: http.ServerResponse, status: number, lines: string[]) => {
    const body = lines.map((l) => `${l}\n`).join('');
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_REF_LINES_BYTES) tooBig = true;
      else chunks.push(b);
    });
    req.on('error', () => {});
    req.on('end', () => {
      void (async () => {
        const token = String(req.headers['x-gate-push'] ?? '');
        if (req.method !== 'POST' || req.url !== '/pre-receive') return answer(res, 404, ['git-gate: unknown request']);
        if (token === SELF_TEST) return answer(res, 200, ['git-gate: self-test ok']);
        const p = pending.get(token);
        if (!p) return answer(res, 403, ['git-gate: this push is not one the gate started']);
        const q = String(req.headers['x-gate-quarantine'] ?? '');
        if (q && !/^(tmp_objdir-)?incoming-[A-Za-z0-9_]+$/.test(q)) return answer(res, 403, ['git-gate: receive-pack gave a strange quarantine directory']);
        if (tooBig) return answer(res, 403, ['git-gate: too many ref updates in one push']);
        const updates = parseUpdates(Buffer.concat(chunks).toString('utf8'));
        if (!updates) return answer(res, 403, ['git-gate: cannot read the ref updates']);
        let v: Verdict;
        try {
          v = await p.judge({ quarantine: q ? `${p.objectsDir}/${q}` : undefined, updates });
        } catch (e) {
          v = { ok: false, lines: [`git-gate: internal error: ${(e as Error).message}`] };
        }
        answer(res, v.ok ? 200 : 403, v.lines);
      })().catch(() => res.destroy());
    });
  });
  server.on('clientError', (_e, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(o.socketPath, 0o600);
  writeFileSync(o.hookPath, hookScript(o.socketPath, curl), { mode: 0o700 });
  chmodSync(o.hookPath, 0o700);

  return {
    register(objectsDir, judge) {
      const token = randomBytes(24).toString('hex');
      pending.set(token, { objectsDir, judge });
      return { token, release: () => void pending.delete(token) };
    },
    selfTest() {
      return new Promise((resolve, reject) => {
        const c = spawn('/bin/sh', [o.hookPath], {
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', [TOKEN_ENV]: SELF_TEST, GIT_QUARANTINE_PATH: '/x/incoming-selftest' },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.stderr.on('data', (b: Buffer) => (out += b.toString()));
        c.once('error', reject);
        c.once('close', (code) => {
          if (code === 0 && out.includes('self-test ok')) resolve();
          else reject(new Error(`the gate's pre-receive hook does not reach the gate (sh + curl --unix-socket --fail-with-body, curl >= 7.76 needed): exit ${code}: ${out.trim()}`));
        });
        c.stdin.end();
      });
    },
    close() {
      pending.clear();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

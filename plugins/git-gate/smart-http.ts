// git's smart HTTP as the gate serves it: which requests are git's (`route`, pure),
// the refs advertisement after a sync, and upload-pack; a push is receive-pack.ts's.
import type http from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { killTree, type RunOptions, runGit, spawnGit, tail } from './git.ts';
import { errAdvertisement } from './pktline.ts';
import { type Remote, scrub } from './remote.ts';
import type { GateAudit } from './types.ts';

const ROUTE = /^\/(.+)\.git\/(info\/refs|git-upload-pack|git-receive-pack)$/;
/** An upload-pack request (wants, haves, filters) is never near this. */
const MAX_UPLOAD_REQUEST = 64 * 1024 * 1024;
const TEXT = 'text/plain; charset=utf-8';
export const NO_CACHE = { expires: 'Fri, 01 Jan 1980 00:00:00 GMT', pragma: 'no-cache', 'cache-control': 'no-cache, max-age=0, must-revalidate' };

export type Service = 'git-upload-pack' | 'git-receive-pack';

/** Where a request goes: refused with a status and a text, or to one of the three things the gate serves. */
export type Route =
  | { to: 'refuse'; status: 403 | 404 | 405 | 415; text: string }
  | { to: 'info/refs'; remote: string; service: Service }
  | { to: Service; remote: string; gzip: boolean };

/** What `route` reads of a request. */
export type RequestHead = Pick<http.IncomingMessage, 'method' | 'url' | 'headers'>;

const refuse = (status: 403 | 404 | 405 | 415, text: string): Route => ({ to: 'refuse', status, text });

/**
 * Routes a request by its head alone: only `/<remote>.git/info/refs?service=`
 * (GET), `/<remote>.git/git-upload-pack` and `/<remote>.git/git-receive-pack`
 * (POST, with git's own Content-Type) of a known remote; nothing dumb (no
 * `HEAD`, `objects/`, `config`). A body is plain or gzip (git compresses large
 * fetch negotiations); any other encoding is refused before a byte is read.
 */
export function route(req: RequestHead, remotes: readonly string[]): Route {
  const url = new URL(req.url ?? '/', 'http://gate');
  const m = ROUTE.exec(url.pathname);
  if (!m) return refuse(404, 'git-gate: not a git URL of this gate (http://127.0.0.1:9418/<remote>.git)');
  const remote = m[1]!;
  if (!remotes.includes(remote)) return refuse(404, `git-gate: no remote named "${remote}" (remotes: ${remotes.join(', ') || 'none'})`);
  const what = m[2] as 'info/refs' | Service;
  if (what === 'info/refs') {
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(405, 'git-gate: GET only');
    const service = url.searchParams.get('service');
    if (service !== 'git-upload-pack' && service !== 'git-receive-pack') return refuse(403, 'git-gate: smart HTTP only (service=git-upload-pack or git-receive-pack)');
    return { to: 'info/refs', remote, service };
  }
  if (req.method !== 'POST') return refuse(405, 'git-gate: POST only');
  if (String(req.headers['content-type'] ?? '') !== `application/x-${what}-request`) return refuse(415, `git-gate: expected Content-Type application/x-${what}-request`);
  const enc = String(req.headers['content-encoding'] ?? '').toLowerCase();
  const gzip = enc === 'gzip' || enc === 'x-gzip';
  if (!gzip && enc && enc !== 'identity') return refuse(415, `git-gate: unsupported Content-Encoding ${enc}`);
  return { to: what, remote, gzip };
}

/** A text answer; a response already under way can only be cut. */
export function reply(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': TEXT, 'content-length': Buffer.byteLength(text + '\n'), ...NO_CACHE });
  res.end(text + '\n');
}

/** A request's body, gunzipped when `route` found it compressed. */
function bodyOf(req: http.IncomingMessage, gzip: boolean): Readable {
  if (!gzip) return req;
  const gz = zlib.createGunzip();
  req.on('error', (e) => gz.destroy(e));
  return req.pipe(gz);
}

export const wantsV2 = (req: Pick<http.IncomingMessage, 'headers'>) => /(^|:)version=2(:|$)/.test(String(req.headers['git-protocol'] ?? ''));

/** The `# service=...` packet and flush that open a protocol v0/v1 advertisement over HTTP. */
export function servicePrefix(service: string): Buffer {
  const line = `# service=${service}\n`;
  return Buffer.concat([Buffer.from((line.length + 4).toString(16).padStart(4, '0') + line), Buffer.from('0000')]);
}

export interface SmartHttpDeps {
  remotes: ReadonlyMap<string, Remote>;
  /** Options of every local git call (git.ts). */
  local: RunOptions;
  audit(e: GateAudit): void;
  /** Serves one push (receive-pack.ts), given its body as `route` decoded it. */
  receivePack(r: Remote, req: http.IncomingMessage, res: http.ServerResponse, body: Readable): Promise<void>;
}

/** The gate's request handler. */
export function smartHttp(d: SmartHttpDeps): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const { local, audit } = d;

  const advertise = async (r: Remote, service: Service, req: http.IncomingMessage, res: http.ServerResponse) => {
    const v2 = service === 'git-upload-pack' && wantsV2(req);
    const head = { 'content-type': `application/x-${service}-advertisement`, ...NO_CACHE };
    // A fetch always sees the upstream as it is now; a push needs only a first sync (its lease covers the rest).
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

  const uploadPack = (r: Remote, req: http.IncomingMessage, res: http.ServerResponse, gzip: boolean) => {
    const v2 = wantsV2(req);
    const child = spawnGit(['upload-pack', '--stateless-rpc', r.mirror.repo], { ...local, ...(v2 ? { extra: { GIT_PROTOCOL: 'version=2' } } : {}) });
    let size = 0;
    let err = '';
    const body = bodyOf(req, gzip);
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

  return async (req, res) => {
    const to = route(req, [...d.remotes.keys()]);
    if (to.to === 'refuse') return reply(res, to.status, to.text);
    const r = d.remotes.get(to.remote)!;
    switch (to.to) {
      case 'info/refs':
        req.resume();
        return advertise(r, to.service, req, res);
      case 'git-upload-pack':
        return uploadPack(r, req, res, to.gzip);
      case 'git-receive-pack':
        return d.receivePack(r, req, res, bodyOf(req, to.gzip));
    }
  };
}

// The egress proxy with bodies larger than it reads whole: they are scanned
// as they stream (the upstream gets the start before the guest has sent the
// end), a secret anywhere still stops them (the upstream request is cut
// short, the guest gets the usual refusal), a redacting route redacts in the
// stream, and a memory budget makes requests wait or answers 503 instead of
// holding more. Plain HTTP through the proxy's socket, to a local upstream.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAuthority } from '../../../../plugins/ca/authority.ts';
import { createScanner } from '../../../../lib/dlp/index.ts';
import { Allowlist } from '../../../../lib/hosts.ts';
import { type EgressProxy, type ProxyOptions, startProxy } from '../../../../plugins/egress/proxy.ts';
import type { EgressAudit, Route } from '../../../../plugins/egress/types.ts';

/** A fake AWS access key id, built at run time so no secret-looking literal sits in the source. */
const AWS_KEY = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');
const ROUTE = 'up.route.test';
const REDACT = 'model.route.test';

/** What the upstream got: bytes as they came, and whether the request ended or was cut short. */
interface Got {
  url: string;
  body: Buffer;
  complete: boolean;
  done: Promise<void>;
}

let upstream: http.Server;
let port = 0;
const got: Got[] = [];
/** Called with each request's first body bytes. */
let onFirstBytes: (() => void) | undefined;
let tmp: string;
const proxies: EgressProxy[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'proxy-stream-'));
  upstream = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let resolve!: () => void;
    const g: Got = { url: req.url!, body: Buffer.alloc(0), complete: false, done: new Promise((r) => (resolve = r)) };
    got.push(g);
    req.on('data', (c: Buffer) => {
      if (chunks.length === 0) onFirstBytes?.();
      chunks.push(c);
    });
    req.on('end', () => {
      g.complete = true;
      g.body = Buffer.concat(chunks);
      res.end(JSON.stringify({ bytes: g.body.length }));
      resolve();
    });
    req.on('close', () => {
      g.body = Buffer.concat(chunks);
      resolve();
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  port = (upstream.address() as net.AddressInfo).port;
});

afterEach(async () => {
  onFirstBytes = undefined;
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  got.length = 0;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
async function start(over: Partial<ProxyOptions> = {}): Promise<{ proxy: EgressProxy; audits: EgressAudit[] }> {
  const routes: Route[] = [
    { host: ROUTE, upstream: `http://127.0.0.1:${port}` },
    { host: REDACT, upstream: `http://127.0.0.1:${port}`, dlp: 'redact' },
  ];
  const audits: EgressAudit[] = [];
  const proxy = await startProxy({
    socketPath: join(tmp, `p${n++}.sock`),
    policy: new Allowlist(routes.map((r) => r.host)),
    routes,
    authority: createAuthority(),
    scanner: createScanner(),
    maxBodyBytes: 10_000_000,
    oversize: 'block',
    onAudit: (e) => audits.push(e),
    forbiddenAddress: () => false,
    // Small sizes, so that bodies of a few hundred KB stream through many windows.
    memory: { wholeBody: 16 * 1024, window: 8 * 1024, overlap: 2 * 1024 },
    ...over,
  });
  proxies.push(proxy);
  return { proxy, audits };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** A POST through the proxy; `write` sends the body (and ends it) as it likes. */
function post(proxy: EgressProxy, host: string, headers: http.OutgoingHttpHeaders, write: (req: http.ClientRequest) => void | Promise<void>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: proxy.socketPath, method: 'POST', path: `http://${host}/upload`, headers: { host, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    // A refusal may close the connection while the body is still going: the answer counts, not the write.
    req.on('error', (e) => setTimeout(() => reject(e), 500));
    Promise.resolve(write(req)).catch(reject);
  });
}

const send = (body: Buffer) => (req: http.ClientRequest) => void req.end(body);

/** Source-like text, free of findings. */
function filler(bytes: number): Buffer {
  const line = Buffer.from('  const items = await list(values.map((x) => x * 2)); // a line of code\n');
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += line.length) line.copy(out, i, 0, Math.min(line.length, bytes - i));
  return out;
}

/** Polls `cond` (the proxy's state moves on its own event loop turns). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('bodies larger than read whole stream through the scan', () => {
  it('the upstream gets the start of a clean body before the guest has sent its end; all of it arrives byte for byte', async () => {
    const { proxy } = await start();
    const body = filler(300_000);
    const first = new Promise<void>((r) => (onFirstBytes = r));
    const r = await post(proxy, ROUTE, { 'content-length': body.length }, async (req) => {
      req.write(body.subarray(0, 200_000));
      // Buffered whole, nothing would leave until the end: this would wait forever.
      await first;
      req.end(body.subarray(200_000));
    });
    expect(r.status).toBe(200);
    expect(got).toHaveLength(1);
    expect(got[0]!.complete).toBe(true);
    expect(got[0]!.body.equals(body)).toBe(true);
    expect(proxy.stats().bodyBytesLeased).toBe(0);
  });

  it('a secret deep in a large body: 403 naming the rule, the upstream request cut short before any of the secret, audited', async () => {
    const { proxy, audits } = await start();
    const before = filler(200_000);
    const body = Buffer.concat([before, Buffer.from(`\naws_key = ${AWS_KEY}\n`), filler(100_000)]);
    const r = await post(proxy, ROUTE, { 'content-length': body.length }, send(body));
    expect(r.status).toBe(403);
    expect(r.text).toContain('rule aws-access-key-id');
    expect(r.text).not.toContain(AWS_KEY);
    await until(() => got.length === 1);
    await got[0]!.done;
    expect(got[0]!.complete).toBe(false);
    expect(got[0]!.body.length).toBeLessThanOrEqual(before.length + 1);
    expect(got[0]!.body.includes(AWS_KEY.slice(0, 4))).toBe(false);
    expect(audits.filter((a) => a.type === 'egress.dlp')).toEqual([expect.objectContaining({ host: ROUTE, rule: 'aws-access-key-id', status: 403 })]);
    await until(() => proxy.stats().bodyBytesLeased === 0);
    // The proxy goes on serving.
    expect((await post(proxy, ROUTE, {}, send(Buffer.from('ok')))).status).toBe(200);
  });

  it('a chunked body (no length) streams once past what is read whole; a secret at its end still stops it', async () => {
    const { proxy } = await start();
    const clean = filler(100_000);
    const ok = await post(proxy, ROUTE, {}, (req) => {
      req.write(clean.subarray(0, 50_000));
      req.end(clean.subarray(50_000));
    });
    expect(ok.status).toBe(200);
    expect(got.at(-1)!.body.equals(clean)).toBe(true);
    const bad = await post(proxy, ROUTE, {}, (req) => {
      req.write(clean);
      req.end(`token ${AWS_KEY}`);
    });
    expect(bad.status).toBe(403);
    await got.at(-1)!.done;
    expect(got.at(-1)!.complete).toBe(false);
  });

  it('a compressed body streams through the decompressor: a secret deep inside is refused, a clean one leaves as sent', async () => {
    const { proxy } = await start();
    const clean = zlib.gzipSync(filler(400_000));
    const ok = await post(proxy, ROUTE, { 'content-encoding': 'gzip', 'content-length': clean.length }, send(clean));
    expect(ok.status).toBe(200);
    expect(got.at(-1)!.body.equals(clean)).toBe(true);
    const bad = zlib.gzipSync(Buffer.concat([filler(300_000), Buffer.from(` ${AWS_KEY} `), filler(100_000)]));
    const r = await post(proxy, ROUTE, { 'content-encoding': 'gzip', 'content-length': bad.length }, send(bad));
    expect(r.status).toBe(403);
    expect(r.text).toContain('rule aws-access-key-id');
    // Text after the end of a deflate stream is not scanned by the decoder: it does not leave.
    const trailing = Buffer.concat([zlib.deflateSync('hello'), Buffer.from(` ${AWS_KEY} `)]);
    const t = await post(proxy, ROUTE, { 'content-encoding': 'deflate', 'content-length': trailing.length }, send(trailing));
    expect(t.status).toBe(403);
    expect(t.text).toContain('unscannable-encoding');
  });

  it('a redacting route redacts a large body in the stream: same length, the marker, never the key', async () => {
    const { proxy, audits } = await start();
    const content = `${filler(100_000).toString()}my key is ${AWS_KEY} thanks${filler(100_000).toString()}`;
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content }] }));
    const first = new Promise<void>((r) => (onFirstBytes = r));
    const r = await post(proxy, REDACT, { 'content-length': body.length, 'content-type': 'application/json' }, async (req) => {
      req.write(body.subarray(0, 60_000));
      await first;
      req.end(body.subarray(60_000));
    });
    expect(r.status).toBe(200);
    const seen = got.at(-1)!.body;
    expect(seen.length).toBe(body.length);
    expect(seen.includes(AWS_KEY)).toBe(false);
    expect(seen.toString()).toContain('[aws-access-key-id]');
    expect(JSON.parse(seen.toString())).toBeTruthy();
    expect(audits.filter((a) => a.type === 'egress.redact')).toEqual([expect.objectContaining({ host: REDACT, rule: 'aws-access-key-id' })]);
  });
});

describe('the memory budget', () => {
  /** A request whose body has begun and is held open: it holds its lease until ended. */
  async function holdOne(proxy: EgressProxy): Promise<{ end(): Promise<Reply> }> {
    let req!: http.ClientRequest;
    const reply = post(proxy, ROUTE, {}, (r) => {
      req = r;
      r.write('the start of a body that takes its time');
    });
    await until(() => proxy.stats().bodyBytesLeased > 0);
    return {
      end: () => {
        req.end(' and its end');
        return reply;
      },
    };
  }

  it('over the budget with no wait: 503 with Retry-After and a text that says why; bodiless requests are not held back', async () => {
    const { proxy, audits } = await start({ memory: { wholeBody: 16 * 1024, window: 8 * 1024, overlap: 2 * 1024, budget: 64 * 1024, waitMs: 0 } });
    const held = await holdOne(proxy);
    const r = await post(proxy, ROUTE, { 'content-length': 5 }, send(Buffer.from('hello')));
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toMatch(/^\d+$/);
    expect(r.text).toContain('busy');
    expect(r.text).toContain('memory budget');
    expect(audits.at(-1)).toMatchObject({ type: 'egress.error', status: 503 });
    // A GET has no body to hold.
    const get = await new Promise<number>((resolve, reject) => {
      http.get({ socketPath: proxy.socketPath, path: `http://${ROUTE}/get`, headers: { host: ROUTE }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      }).on('error', reject);
    });
    expect(get).toBe(200);
    expect((await held.end()).status).toBe(200);
    expect(proxy.stats().bodyBytesLeased).toBe(0);
    expect((await post(proxy, ROUTE, { 'content-length': 5 }, send(Buffer.from('hello')))).status).toBe(200);
  });

  it('over the budget: a request waits, unread, until the body before it is done, then goes through', async () => {
    const { proxy } = await start({ memory: { wholeBody: 16 * 1024, window: 8 * 1024, overlap: 2 * 1024, budget: 64 * 1024, waitMs: 60_000 } });
    const held = await holdOne(proxy);
    let answered = false;
    const second = post(proxy, ROUTE, { 'content-length': 5 }, send(Buffer.from('later'))).then((r) => ((answered = true), r));
    await until(() => proxy.stats().bodiesWaiting === 1);
    expect(answered).toBe(false);
    expect(got).toHaveLength(0);
    expect((await held.end()).status).toBe(200);
    const r = await second;
    expect(r.status).toBe(200);
    expect(got.at(-1)!.body.toString()).toBe('later');
    expect(proxy.stats()).toMatchObject({ bodyBytesLeased: 0, bodiesWaiting: 0 });
  });
});

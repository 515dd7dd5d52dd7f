// The egress proxy's memory under load, measured on a real proxy process:
// bench/egress/proxy-child.ts (the proxy set up as the egress plugin sets it
// up: DLP on with the default body bound, a route that injects a credential)
// runs in a child process of its own, on its Unix socket; ten guests upload
// 30 MB each at once through it (CONNECT, TLS intercepted, DLP scanning every
// byte) to a local HTTPS upstream. The child's peak RSS (VmHWM, from /proc)
// must stay far below what buffering ten bodies whole takes (some 600 MiB).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildConfig } from '../../bench/egress/proxy-child.ts';
import { createAuthority } from '../../plugins/ca/authority.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ROUTE = 'api.memory.test';
const HEADER = 'x-api-key';
const REAL = `memory-real-key-${randomBytes(16).toString('hex')}`;
const PLACEHOLDER = `bottle-placeholder-${randomBytes(12).toString('hex')}`;
const UPLOADS = 10;
const BODY_BYTES = 30_000_000;
/** A generous bound: the point is "bounded", not a tight figure (from source the proxy idles near 115 MiB and peaks near 220 here; buffering the bodies whole took 932). bench/egress prints the tight figure. */
const BOUND_MIB = 350;

let tmp: string;
let child: ChildProcess | undefined;
let upstream: net.Server | undefined;
let upstreamPort = 0;
let upstreamCa = '';

/** VmRSS and VmHWM of a process, in MiB. */
function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Source-like text, free of DLP findings. */
function body(bytes: number): Buffer {
  const line = Buffer.from('  const items = await list(values.map((x) => x * 2)); // a line of code\n');
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += line.length) line.copy(out, i, 0, Math.min(line.length, bytes - i));
  return out;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'egress-memory-'));
  const ca = createAuthority({ commonName: 'egress memory test upstream CA' });
  upstreamCa = ca.certPem;
  const app = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(JSON.stringify({ bytes: n, injected: req.headers[HEADER] === REAL })));
  });
  upstream = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    const t = new tls.TLSSocket(socket, { isServer: true, secureContext: ca.secureContext('127.0.0.1') });
    t.on('error', () => t.destroy());
    app.emit('connection', t);
  });
  await new Promise<void>((r) => upstream!.listen(0, '127.0.0.1', () => r()));
  upstreamPort = (upstream.address() as net.AddressInfo).port;
});

afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  upstream?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function startChild(): Promise<{ pid: number; socketPath: string; caPem: string }> {
  const cfg: ChildConfig = {
    socketPath: path.join(tmp, 'proxy.sock'),
    dlp: true,
    upstreamPort,
    upstreamCaPem: upstreamCa,
    routeHosts: [ROUTE],
    inject: { header: HEADER, value: REAL, placeholder: PLACEHOLDER },
  };
  const cfgFile = path.join(tmp, 'proxy.json');
  writeFileSync(cfgFile, JSON.stringify(cfg), { mode: 0o600 });
  const proc = spawn(process.execPath, [path.join(ROOT, 'bench/egress/proxy-child.ts'), cfgFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  child = proc;
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.slice(0, buf.indexOf('\n')));
    });
    proc.once('exit', (code) => reject(new Error(`the proxy exited (${code}) before listening: ${err}`)));
  });
  return { pid: proc.pid!, ...(JSON.parse(line) as { socketPath: string; caPem: string }) };
}

/** One upload through the proxy: CONNECT on its socket, TLS with the proxy's CA, POST. */
function upload(socketPath: string, caPem: string, data: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: socketPath });
    s.once('error', reject);
    s.write(`CONNECT ${ROUTE}:443 HTTP/1.1\r\nHost: ${ROUTE}:443\r\n\r\n`);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!head.subarray(0, end).toString().startsWith('HTTP/1.1 200')) return reject(new Error(`CONNECT: ${head.toString()}`));
      s.pause();
      const t = tls.connect({ socket: s, servername: ROUTE, ca: caPem, ALPNProtocols: ['http/1.1'] });
      const req = http.request(
        { createConnection: () => t, host: ROUTE, method: 'POST', path: '/upload', headers: { host: ROUTE, [HEADER]: PLACEHOLDER, 'content-length': data.length } },
        (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => {
            t.destroy();
            resolve({ status: res.statusCode!, text });
          });
        },
      );
      req.on('error', reject);
      req.end(data);
    };
    s.on('data', onData);
  });
}

describe('egress proxy memory', () => {
  it(`stays under ${BOUND_MIB} MiB while ${UPLOADS} guests upload ${BODY_BYTES / 1e6} MB each at once, every byte scanned and delivered`, { timeout: 300_000 }, async () => {
    const proxy = await startChild();
    const data = body(BODY_BYTES);
    const idle = rss(proxy.pid);
    const results = await Promise.all(Array.from({ length: UPLOADS }, () => upload(proxy.socketPath, proxy.caPem, data)));
    const after = rss(proxy.pid);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(JSON.parse(r.text)).toEqual({ bytes: BODY_BYTES, injected: true });
    }
    console.log(`egress proxy RSS: idle ${idle.now.toFixed(0)} MiB, peak during ${UPLOADS} x ${BODY_BYTES / 1e6} MB uploads ${after.peak.toFixed(0)} MiB`);
    expect(after.peak).toBeLessThan(BOUND_MIB);
  });
});

// The guest's forwarder, run on the host with the real Perl: it relays bytes
// both ways intact (half-closes included), shuts a door whose daemon is gone,
// stops when the lifeline closes, and fails closed when it cannot start.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FORWARDER_FAILED } from '../../../../core/backends/forwarder.ts';
import { freePort, type HostForwarder, startHostForwarder } from '../../../helpers/forwarder.ts';

let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fwd-test-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
});

/** A daemon on a Unix socket: `handler` gets each connection. */
async function door(name: string, handler: (s: net.Socket) => void): Promise<string> {
  const socketPath = path.join(dir, `${name}.sock`);
  const server = net.createServer(handler);
  await new Promise<void>((r) => server.listen(socketPath, () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return socketPath;
}

async function forwarder(forwards: Array<{ port: number; socketPath: string }>): Promise<HostForwarder> {
  const f = await startHostForwarder(forwards);
  cleanups.push(() => f.close());
  return f;
}

/** Sends `payload`, half-closes, and collects everything until the other end closes. */
function exchange(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const got: Buffer[] = [];
    s.on('data', (d) => got.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(got)));
    s.end(payload);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('forwarder', () => {
  it('relays each port to its door, both ways, byte for byte, many connections at once', async () => {
    // An echo that answers only after the client's end (a half-close must pass through).
    const echo = await door('echo', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => s.end(Buffer.concat(chunks)));
    });
    const hello = await door('hello', (s) => s.end('hello from the other door'));
    const [p1, p2] = [await freePort(), await freePort()];
    await forwarder([{ port: p1, socketPath: echo }, { port: p2, socketPath: hello }]);
    const big = randomBytes(8 * 1024 * 1024);
    const small = Array.from({ length: 20 }, () => randomBytes(1000 + Math.floor(Math.random() * 50_000)));
    const [bigBack, ...smallBack] = await Promise.all([exchange(p1, big), ...small.map((b) => exchange(p1, b))]);
    expect(sha(bigBack)).toBe(sha(big));
    smallBack.forEach((b, i) => expect(sha(b)).toBe(sha(small[i]!)));
    expect((await exchange(p2, Buffer.alloc(0))).toString()).toBe('hello from the other door');
  });

  it('a door whose daemon is gone is shut: the client is closed at once, and the next door still works', async () => {
    const gone = path.join(dir, 'gone.sock');
    const ok = await door('ok', (s) => s.end('ok'));
    const [p1, p2] = [await freePort(), await freePort()];
    await forwarder([{ port: p1, socketPath: gone }, { port: p2, socketPath: ok }]);
    // Closed (or reset, as the client's bytes were never read): nothing comes back, nothing hangs.
    const r = await exchange(p1, Buffer.from('anyone?')).then((b) => b.length, (e: NodeJS.ErrnoException) => e.code);
    expect([0, 'ECONNRESET']).toContain(r);
    expect((await exchange(p2, Buffer.alloc(0))).toString()).toBe('ok');
  });

  it('stops when the lifeline closes, and its ports with it', async () => {
    const ok = await door('ok', (s) => s.end('ok'));
    const port = await freePort();
    const f = await forwarder([{ port, socketPath: ok }]);
    expect((await exchange(port, Buffer.alloc(0))).toString()).toBe('ok');
    await f.lifeline.close();
    expect(await f.exited).toBe(0);
    await expect(exchange(port, Buffer.alloc(0))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('fails closed without a lifeline: nothing is bound, exit 86 and why', async () => {
    const ok = await door('ok', (s) => s.end('ok'));
    const port = await freePort();
    const e = await startHostForwarder([{ port, socketPath: ok }], { lifeline: false }).then(() => undefined, (err: Error & { exitCode: number }) => err);
    expect(e?.exitCode).toBe(FORWARDER_FAILED);
    expect(e?.message).toMatch(/cannot reach the lifeline/);
    await expect(exchange(port, Buffer.alloc(0))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('fails closed when a door port is taken (nobody may pre-empt a door): exit 86 naming the port', async () => {
    const ok = await door('ok', (s) => s.end('ok'));
    const taken = net.createServer((s) => s.end('squatter'));
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as net.AddressInfo).port;
    const e = await startHostForwarder([{ port, socketPath: ok }]).then(() => undefined, (err: Error & { exitCode: number }) => err);
    expect(e?.exitCode).toBe(FORWARDER_FAILED);
    expect(e?.message).toContain(`cannot listen on 127.0.0.1:${port}`);
  });
});

// Bodies scanned as they stream: a secret is found wherever the chunks cut
// it, none of it is forwarded before the finding, a clean body comes out
// byte for byte, and memory stays at about a window whatever the body's size.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createScanner } from '../../../../../lib/dlp/index.ts';
import { bodyScan, type BodyScan } from '../../../../../plugins/egress/proxy/body.ts';
import { RouteCredentials } from '../../../../../plugins/egress/proxy/credentials.ts';
import { CompressedFilter, type FilterResult, PlainFilter, WindowScan } from '../../../../../plugins/egress/proxy/stream-scan.ts';
import { API, fakeScanner, GIT, MARK } from './fixtures.ts';

const credentials = new RouteCredentials([API, GIT]);
const fake: BodyScan = bodyScan(fakeScanner, credentials, API.host);
/** A fake AWS access key id, built at run time so no secret-looking literal sits in the source. */
const AWS_KEY = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');

/** Source-like text with no finding: words, spaces, newlines. */
function filler(n: number, seed = 1): Buffer {
  const words = ['const', 'value', 'return', 'function', '(x)', '=>', '{', '}', 'items.map', 'await', 'if', 'else', '// note', '"text"', '42;'];
  const out: string[] = [];
  let len = 0;
  let s = seed;
  while (len < n) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const w = words[s % words.length]!;
    const sep = s % 7 === 0 ? '\n' : ' ';
    out.push(w, sep);
    len += w.length + 1;
  }
  return Buffer.from(out.join('').slice(0, n));
}

/** `body` cut at `cuts` (ascending offsets). */
function cut(body: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts, body.length]) {
    if (c > at) out.push(body.subarray(at, c));
    at = Math.max(at, c);
  }
  return out;
}

interface Run {
  out: Buffer;
  finding: string | undefined;
  /** The largest number of bytes the scan held at once. */
  maxHeld: number;
}

function run(scan: WindowScan, chunks: Buffer[]): Run {
  const out: Buffer[] = [];
  let maxHeld = 0;
  for (const c of [...chunks, undefined]) {
    const v = c ? scan.push(c) : scan.end();
    maxHeld = Math.max(maxHeld, scan.held, scan.capacity);
    if ('finding' in v) return { out: Buffer.concat(out), finding: v.finding.rule, maxHeld };
    // A view is valid until the next call, as the proxy writes it out before it pushes more.
    out.push(...v.clean.map((b) => Buffer.from(b)));
  }
  return { out: Buffer.concat(out), finding: undefined, maxHeld };
}

describe('WindowScan', () => {
  const opts = { window: 256, overlap: 64 };

  it('finds a secret whatever chunk boundary cuts it, and forwards none of it first', () => {
    const secret = Buffer.from(` ${MARK} `);
    for (const at of [0, 1, 255, 256, 300, 511, 1000]) {
      const body = Buffer.concat([filler(at), secret, filler(2000, at + 7)]);
      // Every cut through the secret, in chunks of one size or another.
      for (let k = 0; k <= secret.length; k++) {
        for (const size of [1, 7, 64, 300]) {
          const cuts: number[] = [at + k];
          for (let c = at + k + size; c < body.length; c += size) cuts.push(c);
          for (let c = at + k - size; c > 0; c -= size) cuts.unshift(c);
          const r = run(new WindowScan(fake, opts), cut(body, cuts));
          expect(r.finding, `secret at ${at}, cut at +${k}, chunks of ${size}`).toBe('fake-secret');
          // What went out before the finding is all before the secret.
          expect(r.out.length).toBeLessThanOrEqual(at + 1);
          expect(r.out.includes(MARK)).toBe(false);
        }
      }
    }
  });

  it('finds a real credential cut across windows of a large body with the real scanner', () => {
    const scanner = bodyScan(createScanner(), credentials, API.host);
    const window = 64 * 1024;
    for (const at of [window - 10, 3 * window + 5, 5 * window - 19]) {
      const body = Buffer.concat([filler(at), Buffer.from(`aws_key=${AWS_KEY}\n`), filler(6 * window, 3)]);
      const chunks = cut(body, Array.from({ length: Math.ceil(body.length / 16384) }, (_, i) => (i + 1) * 16384 - 3));
      const r = run(new WindowScan(scanner, { window, overlap: 16 * 1024 }), chunks);
      expect(r.finding).toBe('aws-access-key-id');
      expect(r.out.includes(AWS_KEY.slice(0, 4))).toBe(false);
    }
  });

  it('forwards a clean body byte for byte, holding about a window however large the body', () => {
    const body = filler(1_000_000, 5);
    for (const size of [1000, 4096, 50_000]) {
      const chunks = cut(body, Array.from({ length: Math.floor(body.length / size) }, (_, i) => (i + 1) * size));
      const r = run(new WindowScan(fake, { window: 8192, overlap: 2048 }), chunks);
      expect(r.finding).toBeUndefined();
      expect(r.out.equals(body)).toBe(true);
      // window + overlap + the slack a window's edge may move back + a socket read + one chunk: not the body's size.
      expect(r.maxHeld).toBeLessThanOrEqual(8192 + 2048 + 2 * 8192 + 65_536 + size);
      expect(r.maxHeld).toBeLessThan(body.length / 4);
    }
    // Binary bytes too (no separators to cut at).
    const bin = randomBytes(100_000);
    const r = run(new WindowScan(fake, { window: 8192, overlap: 2048 }), cut(bin, [1, 5000, 5001, 77_777]));
    expect(r.out.equals(bin) || r.finding !== undefined).toBe(true);
  });

  it('does not call a token cut at a window edge a credential (a window ends at a separator)', () => {
    // A run of token characters that a rule would match if cut after 20 of them.
    const seen: string[] = [];
    const strict: BodyScan = (plain) => {
      const text = plain.toString('latin1');
      seen.push(text.slice(-30));
      return /(?:^|[^A-Z0-9])AKIA[A-Z0-9]{16}$/.test(text) ? { rule: 'cut-token', where: 'body', layer: 'raw' } : undefined;
    };
    const body = Buffer.concat([filler(1000), Buffer.from(` AKIA${'Q'.repeat(40)} `), filler(3000, 9)]);
    const at = 1000 + 1 + 20;
    const r = run(new WindowScan(strict, { window: 512, overlap: 128 }), cut(body, [at]));
    expect(r.finding).toBeUndefined();
    expect(r.out.equals(body)).toBe(true);
  });

  it('redacts in the stream on a redacting route: same length, cut anywhere, the rest byte for byte', () => {
    const scanner = bodyScan(createScanner(), credentials, API.host);
    const text = `${filler(70_000).toString()}here is ${AWS_KEY} ok${filler(70_000, 2).toString()}`;
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: text }] }));
    const at = body.indexOf(AWS_KEY);
    for (const k of [0, 3, 19, 20]) {
      const r = run(new WindowScan(scanner, { window: 32 * 1024, overlap: 8 * 1024, redact: true }), cut(body, [at + k, at + k + 1000]));
      expect(r.finding).toBeUndefined();
      expect(r.out.length).toBe(body.length);
      expect(r.out.includes(AWS_KEY)).toBe(false);
      expect(r.out.toString('latin1')).toContain('[aws-access-key-id]');
      expect(JSON.parse(r.out.toString('utf8'))).toBeTruthy();
    }
  });
});

async function filterRun(f: PlainFilter | CompressedFilter, chunks: Buffer[]): Promise<{ out: Buffer; refused: FilterResult | undefined }> {
  const out: Buffer[] = [];
  for (const c of [...chunks, undefined]) {
    const r = c ? await f.write(c) : await f.end();
    if (!('out' in r)) return { out: Buffer.concat(out), refused: r };
    out.push(...r.out.map((b) => Buffer.from(b)));
  }
  return { out: Buffer.concat(out), refused: undefined };
}

describe('PlainFilter: the oversize policy past maxBody', () => {
  const body = filler(50_000);
  const chunks = cut(body, [10_000, 20_000, 30_000, 40_000]);
  it('block: refused once the body passes maxBody', async () => {
    const r = await filterRun(new PlainFilter(fake, { window: 4096, overlap: 1024, maxBody: 25_000, oversize: 'block' }), chunks);
    expect(r.refused).toEqual({ refuse: 'oversize' });
  });
  it('pass: the first maxBody bytes scanned, the whole body forwarded', async () => {
    const r = await filterRun(new PlainFilter(fake, { window: 4096, overlap: 1024, maxBody: 25_000, oversize: 'pass' }), chunks);
    expect(r.refused).toBeUndefined();
    expect(r.out.equals(body)).toBe(true);
    const late = Buffer.concat([body, Buffer.from(` ${MARK} `)]);
    expect((await filterRun(new PlainFilter(fake, { window: 4096, overlap: 1024, maxBody: 25_000, oversize: 'pass' }), [late])).refused).toBeUndefined();
    const early = Buffer.concat([Buffer.from(` ${MARK} `), body]);
    expect((await filterRun(new PlainFilter(fake, { window: 4096, overlap: 1024, maxBody: 25_000, oversize: 'pass' }), [early])).refused).toMatchObject({ refuse: 'finding' });
  });
});

describe('CompressedFilter: a compressed body scanned as it decompresses, forwarded compressed', () => {
  const limits = { window: 16 * 1024, overlap: 4096, maxBody: 10_000_000, oversize: 'block' as const };
  const chunked = (b: Buffer, size = 1000) => cut(b, Array.from({ length: Math.floor(b.length / size) }, (_, i) => (i + 1) * size));

  it.each([
    ['gzip', zlib.gzipSync],
    ['deflate', zlib.deflateSync],
    ['br', zlib.brotliCompressSync],
  ] as const)('%s: a clean body leaves as sent; a secret deep inside is found', async (enc, compress) => {
    const clean = compress(filler(300_000));
    const ok = await filterRun(new CompressedFilter(enc, fake, limits), chunked(clean));
    expect(ok.refused).toBeUndefined();
    expect(ok.out.equals(clean)).toBe(true);
    const bad = compress(Buffer.concat([filler(250_000), Buffer.from(` ${MARK} `), filler(50_000, 4)]));
    const r = await filterRun(new CompressedFilter(enc, fake, limits), chunked(bad));
    expect(r.refused).toMatchObject({ refuse: 'finding', finding: { rule: 'fake-secret' } });
    // What left before decompresses to text before the secret.
    const sent = zlib.constants && r.out.length > 0 ? partial(enc, r.out) : '';
    expect(sent.includes(MARK)).toBe(false);
  });

  it('refuses a body that does not decode, bytes after the compressed stream, and a bomb past maxBody', async () => {
    const unscannable = { refuse: 'finding', finding: { rule: 'unscannable-encoding' } };
    expect((await filterRun(new CompressedFilter('gzip', fake, limits), [Buffer.from('not gzip at all')])).refused).toMatchObject(unscannable);
    // deflate and brotli decoders stop at the end of their stream and ignore what follows: it is not scanned, so it does not leave.
    for (const [enc, c] of [['deflate', zlib.deflateSync], ['br', zlib.brotliCompressSync]] as const) {
      const trailing = Buffer.concat([c(Buffer.from('hello')), Buffer.from(` ${MARK} `)]);
      const r = await filterRun(new CompressedFilter(enc, fake, limits), [trailing]);
      expect(r.refused).toMatchObject(unscannable);
      expect(r.out.length).toBe(0);
    }
    const bomb = zlib.gzipSync(Buffer.alloc(50_000_000));
    const r = await filterRun(new CompressedFilter('gzip', fake, { ...limits, maxBody: 1_000_000 }), [bomb]);
    expect(r.refused).toMatchObject(unscannable);
  });

  it('past maxBody compressed: block refuses as oversize, pass as unscannable', async () => {
    const body = zlib.gzipSync(randomBytes(20_000));
    expect((await filterRun(new CompressedFilter('gzip', fake, { ...limits, maxBody: 10_000 }), chunked(body))).refused).toEqual({ refuse: 'oversize' });
    expect((await filterRun(new CompressedFilter('gzip', fake, { ...limits, maxBody: 10_000, oversize: 'pass' }), chunked(body))).refused).toMatchObject({
      refuse: 'finding',
      finding: { rule: 'unscannable-encoding' },
    });
  });
});

/** What a truncated compressed stream decodes to, as far as it goes. */
function partial(enc: string, b: Buffer): string {
  const opts = { finishFlush: enc === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH };
  try {
    if (enc === 'br') return zlib.brotliDecompressSync(b, opts).toString('latin1');
    if (enc === 'deflate') return zlib.inflateSync(b, opts).toString('latin1');
    return zlib.gunzipSync(b, opts).toString('latin1');
  } catch {
    return '';
  }
}

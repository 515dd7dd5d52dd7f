// Request bodies before they leave: read up to the limit, decoded when
// compressed, scanned, and refused or passed as the oversize policy says;
// and the response decoders that let a masked answer be read.
import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type BodyLimits,
  bodyScan,
  declaredOversize,
  decodeBody,
  decoderFor,
  judgeBody,
  readBody,
  redactionMarker,
} from '../../../../../plugins/egress/proxy/body.ts';
import { createScanner } from '../../../../../lib/dlp/index.ts';
import { RouteCredentials } from '../../../../../plugins/egress/proxy/credentials.ts';
import { API, fakeScanner, GIT, MARK } from './fixtures.ts';

const credentials = new RouteCredentials([API, GIT]);
const scan = bodyScan(fakeScanner, credentials, API.host);
const block: BodyLimits = { maxBody: 1024, oversize: 'block' };
const pass: BodyLimits = { maxBody: 1024, oversize: 'pass' };
const secret = Buffer.from(`{"note":"a ${MARK} in the body"}`);
const clean = Buffer.from('{"note":"nothing to see"}');
const unscannable = (layer: string) => ({ verdict: 'finding', finding: { rule: 'unscannable-encoding', where: 'body', layer } });
const found = { verdict: 'finding', finding: { rule: 'fake-secret', where: 'body', layer: 'raw' } };

describe('declaredOversize: refused on Content-Length alone, before reading', () => {
  it.each([
    { contentLength: undefined, limits: block, refused: false },
    { contentLength: '1024', limits: block, refused: false },
    { contentLength: '1025', limits: block, refused: true },
    { contentLength: '1025', limits: pass, refused: false },
    { contentLength: '0', limits: { maxBody: 0, oversize: 'block' as const }, refused: false },
    { contentLength: '1', limits: { maxBody: 0, oversize: 'block' as const }, refused: true },
  ])('Content-Length $contentLength with $limits: refused $refused', ({ contentLength, limits, refused }) => {
    expect(declaredOversize(contentLength, limits)).toBe(refused);
  });
});

describe('judgeBody: what happens to a body that was read', () => {
  it.each([
    { what: 'a clean body is forwarded as read', body: clean, encoding: undefined, verdict: { verdict: 'forward', body: clean, rest: false } },
    { what: 'a secret in a plain body is refused', body: secret, encoding: undefined, verdict: found },
    { what: 'a gzip body is decoded before scanning', body: zlib.gzipSync(secret), encoding: 'gzip', verdict: found },
    { what: 'an x-gzip body is decoded before scanning', body: zlib.gzipSync(secret), encoding: 'x-gzip', verdict: found },
    { what: 'a deflate body is decoded before scanning', body: zlib.deflateSync(secret), encoding: 'deflate', verdict: found },
    { what: 'a brotli body is decoded before scanning', body: zlib.brotliCompressSync(secret), encoding: 'br', verdict: found },
    { what: 'the encoding name is read loosely', body: zlib.gzipSync(secret), encoding: ' GZip ', verdict: found },
    { what: 'identity is no encoding', body: secret, encoding: 'identity', verdict: found },
    { what: 'a clean gzip body is forwarded still compressed', body: zlib.gzipSync(clean), encoding: 'gzip', verdict: { verdict: 'forward', body: zlib.gzipSync(clean), rest: false } },
    { what: 'an encoding the proxy cannot decode does not leave', body: clean, encoding: 'compress', verdict: unscannable('compress') },
    { what: 'a body that does not decode does not leave', body: clean, encoding: 'gzip', verdict: unscannable('gzip') },
    {
      what: 'a body that decodes past the limit does not leave (a bomb is not expanded)',
      body: zlib.gzipSync(Buffer.alloc(4096, 'a')),
      encoding: 'gzip',
      verdict: unscannable('gzip'),
    },
    { what: "another route's real token in the body is refused", body: Buffer.from(`t=${GIT.inject!.value}`), encoding: undefined, verdict: { verdict: 'finding', finding: { rule: 'route-credential', where: 'body', layer: 'raw' } } },
    { what: "the route's own real token in its body passes", body: Buffer.from(`t=${API.inject!.value}`), encoding: undefined, verdict: { verdict: 'forward', body: Buffer.from(`t=${API.inject!.value}`), rest: false } },
  ])('$what', ({ body, encoding, verdict }) => {
    expect(judgeBody({ body, more: false }, encoding, block, scan)).toEqual(verdict);
  });

  it.each([
    { what: 'blocked as oversize with oversize: block', limits: block, first: clean, encoding: undefined, verdict: { verdict: 'oversize' } },
    { what: 'forwarded, the rest unscanned, with oversize: pass', limits: pass, first: clean, encoding: undefined, verdict: { verdict: 'forward', body: clean, rest: true } },
    { what: 'still refused for a secret in the part read, with oversize: pass', limits: pass, first: secret, encoding: undefined, verdict: found },
    { what: 'blocked as oversize before its encoding matters', limits: block, first: clean, encoding: 'gzip', verdict: { verdict: 'oversize' } },
    { what: 'compressed, not scannable in part, with oversize: pass', limits: pass, first: zlib.gzipSync(clean), encoding: 'gzip', verdict: unscannable('gzip') },
  ])('a body longer than the limit is $what', ({ limits, first, encoding, verdict }) => {
    expect(judgeBody({ body: first, more: true }, encoding, limits, scan)).toEqual(verdict);
  });
});

describe('decodeBody', () => {
  const text = Buffer.from('hello, bottle');
  it.each([
    { encoding: 'gzip', coded: zlib.gzipSync(text), out: text },
    { encoding: 'x-gzip', coded: zlib.gzipSync(text), out: text },
    { encoding: 'deflate', coded: zlib.deflateSync(text), out: text },
    { encoding: 'br', coded: zlib.brotliCompressSync(text), out: text },
    { encoding: 'zstd', coded: text, out: undefined },
    { encoding: 'gzip', coded: text, out: undefined },
  ])('$encoding of $coded.length bytes: $out', ({ encoding, coded, out }) => {
    expect(decodeBody(encoding, coded, 1024)).toEqual(out);
  });

  it.each([
    { max: text.length, out: text },
    { max: text.length - 1, out: undefined },
  ])('decodes at most $max bytes', ({ max, out }) => {
    expect(decodeBody('gzip', zlib.gzipSync(text), max)).toEqual(out);
  });
});

describe('decoderFor: decoding a response so it can be masked', () => {
  const text = Buffer.from('the answer, uncompressed');
  const cases: { encoding: string; coded: Buffer }[] = [
    { encoding: 'gzip', coded: zlib.gzipSync(text) },
    { encoding: 'x-gzip', coded: zlib.gzipSync(text) },
    { encoding: 'deflate', coded: zlib.deflateSync(text) },
    { encoding: 'br', coded: zlib.brotliCompressSync(text) },
  ];
  if (typeof zlib.zstdCompressSync === 'function') cases.push({ encoding: 'zstd', coded: zlib.zstdCompressSync(text) });
  it.each(cases)('decodes $encoding', async ({ encoding, coded }) => {
    const decoder = decoderFor(encoding)!;
    expect(await buffer(Readable.from([coded]).pipe(decoder))).toEqual(text);
  });

  it.each(['compress', 'identity', ''])('has no decoder for %j', (encoding) => {
    expect(decoderFor(encoding)).toBeUndefined();
  });
});

describe('readBody', () => {
  const source = () => Object.assign(new PassThrough(), { complete: false });

  it.each([
    { chunks: ['abc', 'def'], limit: 10, body: 'abcdef', more: false },
    { chunks: ['abcde', 'fghij'], limit: 10, body: 'abcdefghij', more: false },
    { chunks: ['abcde', 'fghij', 'k'], limit: 10, body: 'abcdefghijk', more: true },
    { chunks: ['abcdefghijklmnop'], limit: 4, body: 'abcdefghijklmnop', more: true },
    { chunks: [], limit: 0, body: '', more: false },
  ])('reads $chunks with limit $limit', async ({ chunks, limit, body, more }) => {
    const req = source();
    const read = readBody(req, limit);
    for (const c of chunks) req.write(c);
    req.end();
    expect(await read).toEqual({ body: Buffer.from(body), more });
  });

  it('leaves the rest of a long body unread, for streaming on', async () => {
    const req = source();
    const read = readBody(req, 3);
    req.write('abcd');
    expect((await read).more).toBe(true);
    expect(req.isPaused()).toBe(true);
    req.end('efg');
    req.resume();
    expect((await buffer(req)).toString()).toBe('efg');
  });

  it.each([
    { what: 'the client goes away mid-body', end: (s: PassThrough) => s.destroy(), message: 'client went away' },
    { what: 'the stream fails', end: (s: PassThrough) => s.destroy(new Error('boom')), message: 'boom' },
  ])('rejects when $what', async ({ end, message }) => {
    const req = source();
    const read = readBody(req, 100);
    req.write('ab');
    end(req);
    await expect(read).rejects.toThrow(message);
  });
});

describe('redaction on a route that redacts (the model\'s): the secret replaced in place, the request sent on', () => {
  const real = createScanner();
  const scanReal = bodyScan(real, credentials, API.host);
  const aws = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');
  const oauth = `sk-ant-oat01-${'abcDEF0123_-'.repeat(6)}`;
  const conversation = (...secrets: string[]) => Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'read creds' }, { role: 'assistant', content: secrets.map((s) => `found: ${s}`).join('\n') }] }));
  const read = (body: Buffer, more = false) => ({ body, more });

  it.each([
    { name: 'one AWS key', secrets: [aws], rules: ['aws-access-key-id'] },
    { name: 'an OAuth token and an AWS key', secrets: [oauth, aws], rules: ['anthropic-key', 'aws-access-key-id'] },
  ])('$name: same length, valid JSON, no trace of the secret, each rule named', ({ secrets, rules }) => {
    const body = conversation(...secrets);
    const v = judgeBody(read(body), undefined, block, scanReal, true);
    expect(v.verdict).toBe('forward');
    if (v.verdict !== 'forward') return;
    expect(v.body.length).toBe(body.length);
    const text = v.body.toString('utf8');
    expect(() => JSON.parse(text)).not.toThrow();
    for (const s of secrets) expect(text).not.toContain(s.slice(4, -4));
    expect([...(v.redacted ?? [])].sort()).toEqual([...rules].sort());
    for (const r of rules) expect(text).toMatch(new RegExp(`\\[(REDACTED:)?${r.slice(0, 8)}`));
    // What was sent is clean now.
    expect(scanReal(v.body)).toBeUndefined();
  });

  it('a match that runs past its JSON string is cut at the quote: the document stays JSON, the password is gone', () => {
    const password = 'S3cr3tPassw0rdXyz';
    const body = Buffer.from(`{"model":"x","messages":[{"role":"user","content":"DATABASE_URL=postgres://admin:${password}@db.example.com:5432/app"}],"max_tokens":5,"system":"be nice"}`);
    const v = judgeBody(read(body), undefined, block, scanReal, true);
    expect(v.verdict).toBe('forward');
    if (v.verdict !== 'forward') return;
    const doc = JSON.parse(v.body.toString('utf8')) as { system: string; max_tokens: number; messages: Array<{ content: string }> };
    expect(doc.system).toBe('be nice');
    expect(doc.max_tokens).toBe(5);
    expect(doc.messages[0]!.content).not.toContain(password);
    expect(doc.messages[0]!.content).toMatch(/^DATABASE_URL=\[/);
  });

  it.each([
    { name: 'the route does not redact', body: conversation(aws), encoding: undefined, redact: false },
    { name: 'a compressed body (redaction works on the bytes as sent)', body: zlib.gzipSync(conversation(aws)), encoding: 'gzip', redact: true },
    { name: 'a secret inside a base64 layer (no place to replace)', body: Buffer.from(`{"x":"${Buffer.from(`key ${aws} here`).toString('base64')}"}`), encoding: undefined, redact: true },
  ])('refused as before when $name', ({ body, encoding, redact }) => {
    expect(judgeBody(read(body), encoding, { maxBody: 1 << 20, oversize: 'block' }, scanReal, redact).verdict).toBe('finding');
  });

  it.each([
    { rule: 'aws-access-key-id', length: 40, marker: '[REDACTED:aws-access-key-id]************' },
    { rule: 'aws-access-key-id', length: 20, marker: '[aws-access-key-id]*' },
    { rule: 'aws-access-key-id', length: 8, marker: '[aws-acc' },
  ])('the marker for $rule in $length characters', ({ rule, length, marker }) => {
    expect(redactionMarker(rule, length)).toBe(marker);
    expect(marker).toHaveLength(length);
  });
});

// Bodies: reading the guest's request body up to the scan limit, deciding
// what happens to it (refused as oversize, refused for a secret, forwarded),
// and the decompression both ways (request bodies to scan, responses to mask).
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { DlpFinding, DlpScanner } from '../types.ts';
import { credentialFinding, type RouteCredentials } from './credentials.ts';

/** A request body being received: an http.IncomingMessage, or anything readable that says when it is complete. */
export type BodySource = Readable & { readonly complete: boolean };

export interface ReadBody {
  /** What was read: all of it, or the first chunks past the limit. */
  body: Buffer;
  /** The body is longer than the limit; the source is paused with the rest unread. */
  more: boolean;
}

/** What the scan may know of a body policy. */
export interface BodyLimits {
  maxBody: number;
  oversize: 'block' | 'pass';
}

export type BodyVerdict =
  | { verdict: 'oversize' }
  | { verdict: 'finding'; finding: DlpFinding }
  /** `body` goes first, then the rest of the source when `rest`; `redacted`: the rules whose findings were replaced. */
  | { verdict: 'forward'; body: Buffer; rest: boolean; redacted?: string[] };

/** A DLP check of a (decoded) body; undefined means clean. */
export type BodyScan = (plain: Buffer) => DlpFinding | undefined;

/** The check of a body to `host`: the scanner's rules, and any route credential that is not `host`'s. */
export function bodyScan(scanner: DlpScanner, credentials: RouteCredentials, host: string): BodyScan {
  return (plain) => scanner.scan(plain, 'body') ?? credentialFinding(credentials.inBytes(host, plain), 'body');
}

/** A declared Content-Length over the limit, with oversize bodies blocked: refused before a byte is read. */
export function declaredOversize(contentLength: string | undefined, limits: BodyLimits): boolean {
  const declared = contentLength === undefined ? -1 : Number(contentLength);
  return declared > limits.maxBody && limits.oversize === 'block';
}

/**
 * Reads `req` until it ends or just past `limit` bytes, whichever is first;
 * rejects when the client goes away or the stream fails.
 */
export function readBody(req: BodySource, limit: number): Promise<ReadBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > limit) {
        done();
        req.pause();
        resolve({ body: Buffer.concat(chunks, size), more: true });
      }
    };
    const onEnd = () => {
      done();
      resolve({ body: Buffer.concat(chunks, size), more: false });
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    const onClose = () => {
      if (req.complete) return;
      done();
      reject(new Error('client went away'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * What happens to a body that was read: blocked as oversize (per the
 * policy), refused for a finding, or forwarded. A compressed body is scanned
 * as what it decompresses to; one that cannot be decompressed whole within
 * the limit is not scannable, and does not leave.
 */
export function judgeBody(read: ReadBody, contentEncoding: string | undefined, limits: BodyLimits, scan: BodyScan, redact = false): BodyVerdict {
  if (read.more && limits.oversize === 'block') return { verdict: 'oversize' };
  const encoding = contentEncoding?.trim().toLowerCase();
  let plain = read.body;
  if (encoding && encoding !== 'identity') {
    const decoded = read.more ? undefined : decodeBody(encoding, read.body, limits.maxBody);
    if (!decoded) return { verdict: 'finding', finding: { rule: 'unscannable-encoding', where: 'body', layer: encoding } };
    plain = decoded;
  }
  let finding = scan(plain);
  if (!finding) return { verdict: 'forward', body: read.body, rest: read.more };
  // Redaction works on the body as sent, whole and uncompressed, and only on
  // what the scanner can point at (not a secret inside a decoded layer).
  if (!redact || plain !== read.body || read.more) return { verdict: 'finding', finding };
  const body = Buffer.from(read.body);
  const redacted: string[] = [];
  finding = redactAll(body, finding, scan, redacted);
  if (finding) return { verdict: 'finding', finding };
  // A JSON body must still be JSON: a redaction that broke it would break every later request of the session.
  if (isJson(read.body) && !isJson(body)) return { verdict: 'finding', finding: { rule: redacted[0]!, where: 'body', layer: 'raw' } };
  return { verdict: 'forward', body, rest: false, redacted };
}

/**
 * Replaces `finding` in `body` (in place) by its marker, rescans, and so on
 * until the body is clean: undefined then, with each rule replaced appended
 * to `redacted`; or the finding that cannot be replaced (not in the raw
 * layer, nothing left to replace, or more than MAX_REDACTIONS in `redacted`).
 */
export function redactAll(body: Buffer, first: DlpFinding, scan: BodyScan, redacted: string[]): DlpFinding | undefined {
  let finding: DlpFinding | undefined = first;
  while (finding) {
    if (!finding.range || redacted.length >= MAX_REDACTIONS) return finding;
    const [s, end] = finding.range;
    // A match may run past the end of the JSON string it sits in (a connection
    // string rule takes up to 500 non-blank characters): the marker stops at
    // the first quote or backslash, so the document around it stays whole.
    let e = s;
    while (e < end && body[e] !== 0x22 && body[e] !== 0x5c) e++;
    if (e === s) return finding;
    body.write(redactionMarker(finding.rule, e - s), s, 'latin1');
    redacted.push(finding.rule);
    finding = scan(body);
  }
  return undefined;
}

function isJson(b: Buffer): boolean {
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

/** More findings than this in one body: refused instead (a body of secrets is not a conversation). */
export const MAX_REDACTIONS = 64;

/**
 * What replaces a secret: the same length (offsets and Content-Length stay
 * right), characters that are valid in a JSON string and in a URL, and the
 * rule's name when it fits: `[REDACTED:aws-access-key-id]****`.
 */
export function redactionMarker(rule: string, length: number): string {
  const full = `[REDACTED:${rule}]`;
  const short = `[${rule}]`;
  const m = full.length <= length ? full : short.length <= length ? short : short.slice(0, length);
  return m + '*'.repeat(length - m.length);
}

/** The decompressed body (bounded by `max`), or undefined when it cannot be read. */
export function decodeBody(encoding: string, body: Buffer, max: number): Buffer | undefined {
  try {
    // A bound on the output, not the input: a small bomb must not fill memory.
    const opts = { maxOutputLength: Math.max(1, max) };
    switch (encoding) {
      case 'gzip':
      case 'x-gzip':
        return zlib.gunzipSync(body, opts);
      case 'deflate':
        return zlib.inflateSync(body, opts);
      case 'br':
        return zlib.brotliDecompressSync(body, opts);
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** A stream decoding a response body in `encoding`, or undefined when the proxy cannot decode it. */
export function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | zlib.ZstdDecompress | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd':
      return typeof zlib.createZstdDecompress === 'function' ? zlib.createZstdDecompress() : undefined;
    default:
      return undefined;
  }
}

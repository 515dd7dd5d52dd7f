// Headers on their way through the proxy: what of the guest's request reaches
// the upstream (no hop-by-hop headers, no guest credential for a route host,
// the route's own credential instead), what of the upstream's response
// reaches the guest (masked), and whether a tunnel's Host names its CONNECT.
import type { DlpFinding, DlpScanner, Route } from '../types.ts';
import { credentialFinding, type RouteCredentials } from './credentials.ts';
import { maskString, type Secret } from './mask.ts';
import { parseAuthority, type Target } from './target.ts';

/** Connection-level headers: never forwarded in either direction. `host`, `expect` and framing are set by the proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'http2-settings',
]);
/** Headers that carry a credential to a route host: the guest's are always dropped when the route injects. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'proxy-authorization'];

type Inject = Route['inject'];

/** The guest's request headers as the proxy read them: what may go on, the framing, and what is wrong with them. */
export interface RequestHead {
  /** Raw name/value pairs (as in `rawHeaders`) that may be forwarded. */
  headers: string[];
  contentLength: string | undefined;
  chunked: boolean;
  /** Why the request is malformed (400), if it is. */
  bad: string | undefined;
  /** A secret in a header that would have been forwarded. */
  finding: DlpFinding | undefined;
}

/** A DLP check of one header; undefined means clean. */
export type HeaderScan = (name: string, value: string) => DlpFinding | undefined;

/**
 * The check of a forwarded header to `host`: its value, its name when long
 * enough to hide a secret in, and any route credential that is not `host`'s.
 */
export function headerScan(scanner: DlpScanner, credentials: RouteCredentials, host: string): HeaderScan {
  return (name, value) =>
    scanner.scan(value, 'header') ??
    (name.length >= 16 ? scanner.scan(name, 'header') : undefined) ??
    credentialFinding(credentials.inText(host, value) ?? credentials.inText(host, name), 'header');
}

/** Adds the tokens of a Connection header that name other headers (which are hop-by-hop too, RFC 9110 7.6.1). */
function connectionTokens(value: string, tokens: string[] | undefined): string[] | undefined {
  for (const t of value.split(',')) {
    const token = t.trim().toLowerCase();
    if (token && token !== 'close' && token !== 'keep-alive') (tokens ??= []).push(token);
  }
  return tokens;
}

/** Drops, in place, the pairs whose name is one of `names` (lower-case). */
function dropNamed(pairs: string[], names: readonly string[]): void {
  for (let i = pairs.length - 2; i >= 0; i -= 2) {
    if (names.includes(pairs[i]!.toLowerCase())) pairs.splice(i, 2);
  }
}

/**
 * One pass over the guest's raw headers: drops hop-by-hop headers and those
 * its Connection header names, and (for a route that injects) its credential
 * headers and Accept-Encoding; checks the framing; scans what is left with
 * `scan`, stopping at the first finding. Host is never kept: the proxy sets it.
 */
export function requestHead(raw: readonly string[], inject: Inject, scan: HeaderScan | undefined): RequestHead {
  const out: string[] = [];
  let hosts = 0;
  let contentLength: string | undefined;
  let chunked = false;
  let tokens: string[] | undefined;
  const result = (bad: string | undefined, finding?: DlpFinding): RequestHead => ({ headers: out, contentLength, chunked, bad, finding });
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      hosts++;
      continue;
    }
    if (lower === 'content-length') {
      contentLength = value;
      continue;
    }
    if (lower === 'transfer-encoding') {
      // Node's parser lets `gzip, chunked` through; the proxy forwards only plain chunked framing.
      if (value.trim().toLowerCase() !== 'chunked') return result('unsupported Transfer-Encoding');
      chunked = true;
      continue;
    }
    if (HOP_BY_HOP.has(lower)) {
      if (lower === 'connection') tokens = connectionTokens(value, tokens);
      continue;
    }
    if (inject && (lower === inject.header || CREDENTIAL_HEADERS.includes(lower))) continue;
    if (inject && lower === 'accept-encoding') continue; // replaced by identity: responses are masked
    if (scan) {
      const finding = scan(name, value);
      if (finding) return result(undefined, finding);
    }
    out.push(name, value);
  }
  if (hosts > 1) return result('more than one Host header');
  if (tokens) dropNamed(out, tokens);
  return result(undefined);
}

export interface Outgoing {
  /** The Host the destination expects (a route upstream's own). */
  hostHeader: string;
  inject: Inject;
  method: string;
  /** The body as read (and scanned), if it was. */
  body: Buffer | undefined;
  /** The client's body (or the rest of it, after `body`) is still to be streamed. */
  rest: boolean;
}

/**
 * The headers sent upstream: the kept ones, then Host, the route's credential
 * (with an uncompressed answer asked for, so it can be masked), and framing:
 * a body read whole gets its real length, a streamed one keeps the guest's.
 */
export function upstreamHeaders(head: RequestHead, out: Outgoing): string[] {
  const headers = [...head.headers, 'host', out.hostHeader];
  if (out.inject) headers.push(out.inject.header, out.inject.value, 'accept-encoding', 'identity');
  if (out.body && !out.rest) headers.push('content-length', String(out.body.length));
  else if (head.contentLength !== undefined) headers.push('content-length', head.contentLength);
  else if (head.chunked) headers.push('transfer-encoding', 'chunked');
  else if (out.method !== 'GET' && out.method !== 'HEAD') headers.push('content-length', '0');
  return headers;
}

export interface ResponseHead {
  /** Raw name/value pairs for the guest. */
  headers: string[];
  /** The body's Content-Encoding when it must be decoded to be masked (only with secrets). */
  encoding: string | undefined;
}

/**
 * The upstream's response headers for the guest: hop-by-hop headers (and
 * Transfer-Encoding: Node frames the answer) dropped; with `secrets`, every
 * value masked and Content-Encoding taken out, since the body is decoded
 * before it is masked.
 */
export function responseHead(raw: readonly string[], secrets: readonly Secret[] | undefined): ResponseHead {
  const out: string[] = [];
  let tokens: string[] | undefined;
  let encoding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'transfer-encoding') {
      if (lower === 'connection') tokens = connectionTokens(value, tokens);
      continue;
    }
    if (secrets) {
      if (lower === 'content-encoding') {
        const e = value.trim().toLowerCase();
        // Several header lines are one list (`gzip, br`): the decoder refuses
        // more than one coding, so the last line alone must never win.
        if (e !== '' && e !== 'identity') encoding = encoding ? `${encoding}, ${e}` : e;
        continue;
      }
      value = maskString(value, secrets);
    }
    // A secret in a header's name is masked too (names are the upstream's to choose).
    out.push(secrets ? maskString(name, secrets) : name, value);
  }
  if (tokens) dropNamed(out, tokens);
  return { headers: out, encoding };
}

/** The pairs without Content-Length: a decoded body's length is not the upstream's, so Node frames it. */
export function withoutContentLength(pairs: readonly string[]): string[] {
  const out = [...pairs];
  dropNamed(out, ['content-length']);
  return out;
}

/** Whether a request inside a tunnel names the tunnel's host and port in Host (absent is fine: HTTP/1.0). */
export function hostMatches(host: string | undefined, tunnel: Target): boolean {
  if (host === undefined) return true;
  const h = parseAuthority(host, 443);
  return h !== undefined && h.host === tunnel.host && h.port === tunnel.port;
}

// Host names for the egress allowlist: one canonical spelling per host, the
// allowlist that matches canonical hosts on whole labels, and the check that
// a dialled address is not the host itself or anything private.
//
// The guest controls every byte of the host it asks for, so everything here
// fails closed: anything not plainly a host name or an IP literal is
// `undefined` (the proxy answers 400), and the proxy must both match AND dial
// the canonical form, never the raw input.
//
// Decisions:
// - Underscores are allowed inside DNS labels. They are legal in DNS
//   (RFC 2181 §11), real hosts use them, the WHATWG URL parser and curl send
//   them, and they carry no separator meaning, so they cannot make one label
//   look like two. Everything else outside [a-z0-9-_] is refused after IDNA.
// - IDN is mapped the way the WHATWG URL parser does (UTS #46, non-
//   transitional): `ALLOWED.com`, `ａｌｌｏｗｅｄ.com` and `allowed.com。` are
//   `allowed.com`; `аllowed.com` (Cyrillic а) is `xn--llowed-2nf.com`, a
//   different host. An `xn--` label must be valid punycode of a real IDN.
// - IPv4 is whatever the WHATWG host parser accepts (inet_aton forms:
//   `2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`), written as a dotted quad.
//   A name whose last label is numeric but not a valid IPv4 is refused.
// - IPv6 is accepted with or without brackets, without a zone id, and is
//   written compressed, lower-case and WITHOUT brackets (`::1`). IPv4-mapped
//   addresses (`::ffff:127.0.0.1`) become the IPv4 dotted quad, so one rule
//   covers both spellings.
// - `*.example.com` matches any name with at least one more label
//   (`a.example.com`, `a.b.example.com`) and never `example.com` itself; add
//   `example.com` as well to allow the apex. `*` only as the whole first
//   label; `*` alone and one-label suffixes (`*.com`) are refused. What users
//   write (the config, an approval) is checked further (refuseRiskyPattern):
//   no wildcard over a public suffix (`*.co.uk`, `*.github.io`: the public
//   suffix list, through tldts), no name or address of this machine, a
//   private network or a metadata service.
import { BlockList, isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { parse as parseDomain } from 'tldts';

/** Longer raw inputs are refused before any parsing (a DNS name is at most 253 octets). */
const MAX_INPUT = 1024;
const MAX_NAME = 253;
const MAX_LABEL = 63;

/** ASCII characters a raw host name may contain; non-ASCII goes through IDNA and is checked after. */
const RAW_ASCII_OK = /^[A-Za-z0-9._-]$/;
const LABEL_OK = /^[a-z0-9_-]+$/;
const MAPPED_V4 = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;

function v4FromGroups(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** Canonical IPv6 (no brackets) for an address string `isIP` says is v6, or undefined. */
function canonicalV6(inner: string): string | undefined {
  if (inner.includes('%') || isIP(inner) !== 6) return undefined; // no zone ids
  let serialised: string;
  try {
    serialised = new URL(`http://[${inner}]/`).hostname;
  } catch {
    return undefined;
  }
  const bare = serialised.slice(1, -1);
  const mapped = MAPPED_V4.exec(bare);
  if (mapped) return v4FromGroups(Number.parseInt(mapped[1]!, 16), Number.parseInt(mapped[2]!, 16));
  return bare;
}

/** True when an `xn--` label is valid punycode that round-trips through IDNA. */
function validAceLabel(label: string): boolean {
  const unicode = domainToUnicode(label);
  return unicode !== label && domainToASCII(unicode) === label;
}

/**
 * The one spelling of a host: lower-case, one trailing dot dropped, IDN as
 * punycode, IPv4 as a dotted quad, IPv6 compressed without brackets (IPv4-
 * mapped IPv6 as IPv4). Undefined for anything that is not a valid host:
 * ports, userinfo, percent-encoding, whitespace, empty or over-long labels,
 * characters outside [a-z0-9-_], leading or trailing hyphens.
 */
export function canonicalHost(input: string): string | undefined {
  if (typeof input !== 'string' || input.length === 0 || input.length > MAX_INPUT) return undefined;

  if (input.startsWith('[')) {
    if (!input.endsWith(']')) return undefined;
    return canonicalV6(input.slice(1, -1));
  }
  if (input.includes(':')) return canonicalV6(input);

  for (const ch of input) {
    if (ch.charCodeAt(0) < 0x80 && !RAW_ASCII_OK.test(ch)) return undefined;
  }
  let ascii = domainToASCII(input);
  if (ascii === '') return undefined;
  if (ascii.endsWith('.')) ascii = ascii.slice(0, -1);
  if (isIP(ascii) === 4) return ascii;
  if (ascii.length === 0 || ascii.length > MAX_NAME) return undefined;

  const labels = ascii.split('.');
  for (const label of labels) {
    if (label.length === 0 || label.length > MAX_LABEL) return undefined;
    if (!LABEL_OK.test(label)) return undefined;
    if (label.startsWith('-') || label.endsWith('-')) return undefined;
    if (label.startsWith('xn--') && !validAceLabel(label)) return undefined;
  }
  // The WHATWG parser turns a numeric last label into IPv4 or fails; never let one through as a name.
  if (/^(?:\d+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) return undefined;
  return ascii;
}

/** True for an IPv4 or IPv6 literal (IPv6 with or without brackets). */
export function isIpLiteral(host: string): boolean {
  if (typeof host !== 'string') return false;
  if (host.startsWith('[') && host.endsWith(']')) return isIP(host.slice(1, -1)) === 6;
  return isIP(host) !== 0;
}

/**
 * The canonical form of an allowlist pattern, or an Error saying what is
 * wrong with it: an exact host (name or IP literal) or `*.` followed by a
 * name of at least two labels.
 */
export function validatePattern(pattern: string): string {
  if (typeof pattern !== 'string') throw new Error(`egress pattern must be a string, got ${typeof pattern}`);
  const shown = JSON.stringify(pattern);
  if (pattern.length === 0) throw new Error('egress pattern is empty');
  if (/\s/.test(pattern)) throw new Error(`egress pattern ${shown} contains whitespace`);
  if (pattern.includes('://') || pattern.includes('/')) {
    throw new Error(`egress pattern ${shown} must be a host, not a URL (no scheme or path)`);
  }
  if (pattern === '*') throw new Error('egress pattern "*" would allow every host; list the hosts instead');

  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(2);
    if (suffix.includes('*')) throw new Error(`egress pattern ${shown}: "*" is only allowed as the whole first label`);
    const canonical = canonicalHost(suffix);
    if (canonical === undefined) throw new Error(`egress pattern ${shown}: ${JSON.stringify(suffix)} is not a valid host name`);
    if (isIpLiteral(canonical)) throw new Error(`egress pattern ${shown}: a wildcard cannot apply to an IP address`);
    if (!canonical.includes('.')) {
      throw new Error(`egress pattern ${shown} would allow a whole top-level domain; name at least two labels after "*."`);
    }
    return `*.${canonical}`;
  }

  if (pattern.includes('*')) throw new Error(`egress pattern ${shown}: "*" is only allowed as the whole first label, as in "*.example.com"`);
  if (pattern.includes('@')) throw new Error(`egress pattern ${shown} must be a host, without user info`);
  const canonical = canonicalHost(pattern);
  if (canonical === undefined) {
    if (/^[^:[\]]+:\d*$/.test(pattern) || /^\[.*\]:\d*$/.test(pattern)) {
      throw new Error(`egress pattern ${shown} must be a host without a port`);
    }
    throw new Error(`egress pattern ${shown} is not a valid host name or IP address`);
  }
  return canonical;
}

/**
 * Refuses a (canonical) pattern that is valid but gives away more than it
 * says: a wildcard over a public suffix, or a name or address of this
 * machine, a private network or a metadata service. For what users write
 * (the config, an approval), not for the matcher itself.
 */
export function refuseRiskyPattern(pattern: string): void {
  const shown = JSON.stringify(pattern);
  if (pattern.startsWith('*.')) {
    const canonical = pattern.slice(2);
    // `*.co.uk` is every British company; `*.github.io` or `*.workers.dev`
    // every stranger's site there (the list's private section: suffixes
    // under which anyone can get a name, and run a server that takes data).
    if (isLocalName(canonical)) {
      throw new Error(`egress pattern ${shown} covers names of this machine or the local network; list the hosts you need, or give a route an \`upstream\``);
    }
    if (parseDomain(canonical, { allowPrivateDomains: true }).publicSuffix === canonical) {
      throw new Error(`egress pattern ${shown}: "${canonical}" is a public suffix (anyone can have a name under it), so this would allow sites of every owner; list the exact hosts you need`);
    }
    return;
  }
  const canonical = pattern;
  if (isLocalName(canonical) || (isIpLiteral(canonical) && isForbiddenAddress(canonical))) {
    throw new Error(`egress pattern ${shown} is this machine, a private network or a cloud metadata address: the proxy never dials those for the guest; to reach a service of yours, give a route an \`upstream\` (e.g. { host: 'svc.internal.test', upstream: 'http://127.0.0.1:8080' })`);
  }
}

/**
 * Names that mean this machine, its containers' host, the local network or a
 * cloud's metadata service, whatever DNS says: localhost and its subdomains,
 * `.internal` (ICANN's private-use TLD: metadata.google.internal,
 * host.docker.internal, host.containers.internal), mDNS `.local`,
 * `.home.arpa`, and /etc/hosts' IPv6 loopback names.
 */
function isLocalName(host: string): boolean {
  if (['localhost', 'localhost.localdomain', 'ip6-localhost', 'ip6-loopback', 'metadata'].includes(host)) return true;
  return ['localhost', 'internal', 'local', 'home.arpa'].some((tld) => host === tld || host.endsWith(`.${tld}`));
}

/** Which hosts the guest may reach; patterns are exact hosts or `*.` wildcards on whole labels. */
export interface HostPolicy {
  /** `host` must already be canonical (see canonicalHost). */
  allows(host: string): boolean;
  /** Adds a pattern at run time (an approved request); invalid patterns throw. */
  add(pattern: string): void;
  /** The patterns in force, for `bottle_status` and audit. */
  patterns(): string[];
}

/** The hosts the guest may reach: exact hosts and `*.` wildcards, matched on whole labels. */
export class Allowlist implements HostPolicy {
  readonly #exact = new Set<string>();
  /** Wildcard suffixes, without the `*.`. */
  readonly #suffixes = new Set<string>();
  readonly #patterns = new Set<string>();

  constructor(patterns: Iterable<string> = []) {
    for (const p of patterns) this.add(p);
  }

  add(pattern: string): void {
    const canonical = validatePattern(pattern);
    this.#patterns.add(canonical);
    if (canonical.startsWith('*.')) this.#suffixes.add(canonical.slice(2));
    else this.#exact.add(canonical);
  }

  allows(host: string): boolean {
    // Fail closed on anything not already canonical rather than trust the caller.
    if (canonicalHost(host) !== host) return false;
    if (this.#exact.has(host)) return true;
    if (this.#suffixes.size === 0 || isIP(host) !== 0) return false;
    // Every proper suffix that starts at a label boundary; the first label is never empty.
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      if (this.#suffixes.has(host.slice(dot + 1))) return true;
    }
    return false;
  }

  patterns(): string[] {
    return [...this.#patterns];
  }
}

// Addresses a host reached by name must never dial.
const FORBIDDEN_V4: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. broadcast 255.255.255.255
];
const FORBIDDEN_V6: readonly (readonly [string, number])[] = [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['100::', 64], // discard-only
  ['2001::', 32], // Teredo (embeds an obfuscated IPv4)
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];
const forbidden = new BlockList();
for (const [net, prefix] of FORBIDDEN_V4) forbidden.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of FORBIDDEN_V6) forbidden.addSubnet(net, prefix, 'ipv6');

/** The eight 16-bit groups of a canonical (compressed, hex-only) IPv6 address. */
function v6Groups(v6: string): number[] {
  const [head = '', tail] = v6.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/** IPv4 addresses an IPv6 address carries and that a translator or tunnel could deliver to. */
function embeddedV4(v6: string): string[] {
  const g = v6Groups(v6);
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  const out: string[] = [];
  if (zero(0, 6)) out.push(v4FromGroups(g[6]!, g[7]!)); // IPv4-compatible ::a.b.c.d (and ::, ::1)
  if (zero(0, 5) && g[5] === 0xffff) out.push(v4FromGroups(g[6]!, g[7]!)); // IPv4-mapped
  if (zero(0, 4) && g[4] === 0xffff && g[5] === 0) out.push(v4FromGroups(g[6]!, g[7]!)); // SIIT ::ffff:0:a.b.c.d
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) out.push(v4FromGroups(g[6]!, g[7]!)); // NAT64 64:ff9b::/96
  if (g[0] === 0x2002) out.push(v4FromGroups(g[1]!, g[2]!)); // 6to4 2002:aabb:ccdd::/48
  return out;
}

/**
 * True when `ip` must not be dialled for a host reached by name: loopback,
 * link-local (incl. metadata), private, CGNAT, multicast, reserved,
 * documentation, unspecified, their IPv4-mapped / -compatible / NAT64 / 6to4
 * IPv6 forms, and any of the `extra` addresses (the host's own). Anything that
 * is not an IP address is forbidden too. Throws if an `extra` entry is not an
 * IP address.
 */
export function isForbiddenAddress(ip: string, extra?: Iterable<string>): boolean {
  const canonical = typeof ip === 'string' ? canonicalHost(ip) : undefined;
  if (canonical === undefined) return true;
  const family = isIP(canonical);
  if (family === 0) return true;

  const candidates = family === 4 ? [canonical] : [canonical, ...embeddedV4(canonical)];
  for (const c of candidates) {
    if (forbidden.check(c, isIP(c) === 4 ? 'ipv4' : 'ipv6')) return true;
  }
  if (extra !== undefined) {
    const own = new Set<string>();
    for (const e of extra) {
      const ce = canonicalHost(e);
      if (ce === undefined || isIP(ce) === 0) throw new Error(`not an IP address: ${JSON.stringify(e)}`);
      own.add(ce);
    }
    if (candidates.some((c) => own.has(c))) return true;
  }
  return false;
}

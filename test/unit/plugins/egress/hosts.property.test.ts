// Properties of the egress host rules, over generated hosts and attack strings.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Allowlist, canonicalHost, isForbiddenAddress } from '../../../../lib/hosts.ts';

const LABEL_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-_'.split('');
/** A valid lower-case label: no leading/trailing hyphen, not a number (decimal or hex), not an ACE prefix. */
const label = fc
  .array(fc.constantFrom(...LABEL_CHARS), { minLength: 1, maxLength: 12 })
  .map((cs) => cs.join(''))
  .filter((l) => !l.startsWith('-') && !l.endsWith('-') && !/^(?:\d+|0x[0-9a-f]*)$/.test(l) && !/^..--/.test(l));
/** A canonical name of `min`..`max` labels. */
const name = (min: number, max: number) => fc.array(label, { minLength: min, maxLength: max }).map((ls) => ls.join('.'));

/** Any string with the characters attacks use, plus plain domains and IP forms. */
const hostish = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ unit: fc.constantFrom(...'aA0.-_:[]@%xX\u0430\u3002\uff21\u00ad'.split('')), maxLength: 20 }),
  fc.domain(),
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6(),
  fc.ipV6().map((ip) => `[${ip}]`),
);

/** Random upper/lower case per character. */
const recase = (s: string) =>
  fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((ups) => [...s].map((c, i) => (ups[i] ? c.toUpperCase() : c)).join(''));

const octet = (n: number, shift: number) => (n >>> shift) & 0xff;
const dotted = (n: number) => `${octet(n, 24)}.${octet(n, 16)}.${octet(n, 8)}.${octet(n, 0)}`;

describe('canonicalHost properties', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(hostish, (s) => {
        const c = canonicalHost(s);
        if (c !== undefined) expect(canonicalHost(c)).toBe(c);
      }),
      { numRuns: 5000 },
    );
  });

  it('agrees with the WHATWG URL parser whenever it accepts a non-IPv6 host', () => {
    fc.assert(
      fc.property(hostish, (s) => {
        const c = canonicalHost(s);
        if (c === undefined || c.includes(':') || s.includes(':')) return;
        const parsed = new URL(`http://${s}/`).hostname;
        expect(parsed.endsWith('.') ? parsed.slice(0, -1) : parsed).toBe(c);
      }),
      { numRuns: 5000 },
    );
  });

  it('only ever yields [a-z0-9._-] or an IPv6 literal', () => {
    fc.assert(
      fc.property(hostish, (s) => {
        const c = canonicalHost(s);
        if (c !== undefined) expect(c).toMatch(/^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|[0-9a-f:]+)$/);
      }),
      { numRuns: 5000 },
    );
  });

  it('writes every 32-bit IPv4 the same way in decimal, octal, hex, mixed and short forms', () => {
    const radix = fc.constantFrom<(n: number) => string>(
      (n) => String(n),
      (n) => `0${n.toString(8)}`,
      (n) => `0x${n.toString(16)}`,
      (n) => `0X${n.toString(16).toUpperCase()}`,
      (n) => `000${n.toString(8)}`,
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), radix, radix, radix, radix, fc.boolean(), (n, r1, r2, r3, r4, dot) => {
        const a = octet(n, 24);
        const b = octet(n, 16);
        const c = octet(n, 8);
        const d = octet(n, 0);
        const forms = [
          r1(n),
          `${r1(a)}.${r2(b)}.${r3(c)}.${r4(d)}`,
          `${r1(a)}.${r2(b)}.${r3((c << 8) | d)}`, // a.b.16bit
          `${r1(a)}.${r2(n & 0xffffff)}`, // a.24bit
          `::ffff:${dotted(n)}`,
          `[::ffff:${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}]`,
        ];
        for (const f of forms) expect(canonicalHost(dot && !f.includes(':') ? `${f}.` : f)).toBe(dotted(n));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('Allowlist properties', () => {
  it('matches whatever the case and a trailing dot', () => {
    fc.assert(
      fc.property(
        name(1, 4).chain((d) => fc.tuple(fc.constant(d), recase(d), fc.boolean())),
        ([d, spelled, dot]) => {
          const host = canonicalHost(dot ? `${spelled}.` : spelled);
          expect(host).toBe(d);
          expect(new Allowlist([d]).allows(host!)).toBe(true);
          expect(new Allowlist([dot ? spelled : `${spelled}.`]).allows(d)).toBe(true);
        },
      ),
    );
  });

  it('matches *.d exactly when the host ends with ".d" (and so is longer than d)', () => {
    const case_ = name(2, 3).chain((d) =>
      fc.tuple(
        fc.constant(d),
        fc.oneof(
          name(1, 3).map((p) => `${p}.${d}`), // a real subdomain
          fc.constant(d), // the apex
          label.map((l) => `${l}${d}`), // glued on, no dot
          name(1, 2).map((t) => `${d}.${t}`), // d as a prefix
          name(1, 5), // anything
          label.map((l) => `${l}.${d.split('.').slice(1).join('.')}`), // a sibling of d
        ),
      ),
    );
    fc.assert(
      fc.property(case_, ([d, h]) => {
        const host = canonicalHost(h);
        if (host === undefined) return; // e.g. over-long
        const list = new Allowlist([`*.${d}`]);
        expect(list.allows(host)).toBe(host.endsWith(`.${d}`) && host.length > d.length + 1);
      }),
      { numRuns: 3000 },
    );
  });

  it('never lets evil+allowed, allowed+evil or allowed.evil match', () => {
    const evil = fc.string({ unit: fc.constantFrom(...LABEL_CHARS, ...'A\u0430\uff41'.split('')), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(name(2, 3), evil, name(1, 3), (allowed, e, tail) => {
        const exact = new Allowlist([allowed]);
        const wild = new Allowlist([`*.${allowed}`]);
        for (const attempt of [`${e}${allowed}`, `${allowed}${e}`, `${allowed}.${tail}`, `${allowed}.${e}`, `${e}-${allowed}`]) {
          const host = canonicalHost(attempt);
          if (host === undefined) continue;
          expect(exact.allows(host)).toBe(false);
          expect(wild.allows(host)).toBe(false);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never lets a wildcard match an IP literal', () => {
    const list = new Allowlist(['*.example.com', '*.in-addr.arpa', '*.ip6.arpa', '*.nip.io']);
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV4Extended(), fc.ipV6()), (ip) => {
        expect(list.allows(canonicalHost(ip)!)).toBe(false);
      }),
    );
  });
});

describe('isForbiddenAddress properties', () => {
  it('judges an IPv4 the same in its mapped, compatible, NAT64 and 6to4 IPv6 forms', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        const v4 = dotted(n);
        const hi = (n >>> 16).toString(16);
        const lo = (n & 0xffff).toString(16);
        const expected = isForbiddenAddress(v4);
        expect(isForbiddenAddress(`::ffff:${v4}`)).toBe(expected);
        expect(isForbiddenAddress(`64:ff9b::${hi}:${lo}`)).toBe(expected);
        expect(isForbiddenAddress(`2002:${hi}:${lo}::1`)).toBe(expected);
        expect(isForbiddenAddress(String(n))).toBe(expected);
        if (expected) expect(isForbiddenAddress(`::${v4}`)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('forbids every address in 127/8, 10/8, 169.254/16, 172.16/12 and 192.168/16', () => {
    const nets: [number, number][] = [
      [0x7f000000, 8],
      [0x0a000000, 8],
      [0xa9fe0000, 16],
      [0xac100000, 12],
      [0xc0a80000, 16],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...nets), fc.integer({ min: 0, max: 0xffffffff }), ([base, bits], r) => {
        const n = (base | (r & (2 ** (32 - bits) - 1))) >>> 0;
        expect(isForbiddenAddress(dotted(n))).toBe(true);
      }),
    );
  });
});

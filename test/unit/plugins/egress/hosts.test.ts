// The egress allowlist's host rules, one table per rule and per attack form:
// one canonical spelling per host, whole-label matching, and no dialling of
// private, loopback, metadata or host addresses.
import { describe, expect, it } from 'vitest';
import { Allowlist, canonicalHost, isForbiddenAddress, isIpLiteral, validatePattern } from '../../../../lib/hosts.ts';

describe('canonicalHost', () => {
  it.each([
    // case and trailing dot
    ['allowed.com', 'allowed.com'],
    ['ALLOWED.COM', 'allowed.com'],
    ['AlLoWeD.CoM', 'allowed.com'],
    ['allowed.com.', 'allowed.com'],
    ['ALLOWED.COM.', 'allowed.com'],
    ['localhost', 'localhost'],
    ['a-b.c--d.example', 'a-b.c--d.example'],
    ['a1.2b.example', 'a1.2b.example'],
    // underscores are allowed (documented decision)
    ['_dmarc.example.com', '_dmarc.example.com'],
    ['my_bucket.s3.example.com', 'my_bucket.s3.example.com'],
    // IDN: to punycode, the way the WHATWG URL parser does it
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['XN--BCHER-KVA.EXAMPLE', 'xn--bcher-kva.example'],
    ['\u0430llowed.com', 'xn--llowed-2nf.com'], // Cyrillic а: a different host
    ['ａｌｌｏｗｅｄ.com', 'allowed.com'], // full-width letters map to ASCII
    ['allowed\u3002com', 'allowed.com'], // ideographic full stop is a dot
    ['allowed.com\u3002', 'allowed.com'],
    ['a\u00adllowed.com', 'allowed.com'], // soft hyphen is ignored by UTS #46
  ])('%j -> %j', (input, expected) => {
    expect(canonicalHost(input)).toBe(expected);
  });

  it.each([
    '2130706433',
    '0x7f000001',
    '0X7F000001',
    '017700000001',
    '0177.0.0.1',
    '0177.0000.0.01',
    '0x7f.0.0.1',
    '0x7f.1',
    '0x7F.0x0.0x0.0x1',
    '127.1',
    '127.0.1',
    '127.0.0.1',
    '127.0.0.1.',
    '00000000000000177.1',
    '１２７.０.０.１', // full-width digits
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::FFFF:7F00:1',
    '[::ffff:7f00:1]',
    '[::ffff:127.0.0.1]',
    '0:0:0:0:0:ffff:7f00:1',
  ])('IPv4 form %j -> 127.0.0.1', (input) => {
    expect(canonicalHost(input)).toBe('127.0.0.1');
  });

  it.each([
    ['4294967295', '255.255.255.255'],
    ['0', '0.0.0.0'],
    ['0x', '0.0.0.0'],
    ['256', '0.0.1.0'],
    ['1.2.3', '1.2.0.3'],
    ['169.254.43518', '169.254.169.254'],
    ['0xa9fea9fe', '169.254.169.254'],
  ])('IPv4 %j -> %j', (input, expected) => {
    expect(canonicalHost(input)).toBe(expected);
  });

  it.each([
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['[0000:0000:0000:0000:0000:0000:0000:0001]', '::1'],
    ['::', '::'],
    ['[::]', '::'],
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['FE80::1', 'fe80::1'],
    ['::127.0.0.1', '::7f00:1'], // IPv4-compatible stays IPv6 (isForbiddenAddress looks inside)
    ['64:ff9b::127.0.0.1', '64:ff9b::7f00:1'],
  ])('IPv6 %j -> %j', (input, expected) => {
    expect(canonicalHost(input)).toBe(expected);
  });

  it.each([
    ['empty', ''],
    ['a space', ' '],
    ['a leading space', ' allowed.com'],
    ['a trailing space', 'allowed.com '],
    ['an inner space', 'allowed com'],
    ['a tab', 'allowed.com\t'],
    ['CRLF', 'allowed.com\r\n'],
    ['NUL', 'allowed.com\0'],
    ['NUL before a suffix', 'allowed.com\0.evil.test'],
    ['a port', 'allowed.com:443'],
    ['an empty port', 'allowed.com:'],
    ['an IPv4 with a port', '127.0.0.1:80'],
    ['a bracketed IPv6 with a port', '[::1]:443'],
    ['userinfo', 'a@b'],
    ['userinfo before the allowed host', 'evil.test@allowed.com'],
    ['userinfo after the allowed host', 'allowed.com@evil.test'],
    ['a percent-encoded dot', 'allowed%2ecom'],
    ['a percent-encoded letter', '%61llowed.com'],
    ['a percent-encoded NUL', 'allowed.com%00.evil.test'],
    ['full-width percent-encoding', 'allowed\uff05\uff12\uff45com'],
    ['full-width @', 'evil.test\uff20allowed.com'],
    ['a slash', 'allowed.com/evil'],
    ['a backslash', 'allowed.com\\evil.test'],
    ['a question mark', 'allowed.com?x'],
    ['a hash', 'allowed.com#x'],
    ['a scheme', 'http://allowed.com'],
    ['a wildcard', '*.allowed.com'],
    ['two trailing dots', 'allowed.com..'],
    ['an empty label', 'allowed..com'],
    ['a leading dot', '.allowed.com'],
    ['just a dot', '.'],
    ['a leading hyphen', '-allowed.com'],
    ['a trailing hyphen', 'allowed-.com'],
    ['a 64-octet label', `${'a'.repeat(64)}.com`],
    ['a 254-octet name', `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`],
    ['a label that is only zero-width', '\u200b.com'],
    ['an invalid punycode label', 'xn--a.com'],
    ['a bare ACE prefix', 'xn--.com'],
    ['punycode of plain ASCII', 'xn--abc-.com'],
    ['an IPv4 part over 255', '1.2.3.256'],
    ['an IPv4 over 32 bits', '4294967296'],
    ['five IPv4 parts', '1.2.3.4.5'],
    ['a bad octal part', '08.1.1.1'],
    ['a numeric last label', 'example.123'],
    ['a hex last label', 'example.0x1'],
    ['an IPv4 in brackets', '[127.0.0.1]'],
    ['an unclosed bracket', '[::1'],
    ['a stray bracket', '::1]'],
    ['an IPv6 zone id', 'fe80::1%eth0'],
    ['a bracketed zone id', '[fe80::1%25eth0]'],
    ['a malformed IPv6', '1::2::3'],
    ['a name in brackets', '[allowed.com]'],
    ['a huge input', 'a.'.repeat(2000)],
  ])('rejects %s', (_what, input) => {
    expect(canonicalHost(input)).toBeUndefined();
  });

  it('accepts a 63-octet label and a 253-octet name', () => {
    const label = 'a'.repeat(63);
    expect(canonicalHost(`${label}.com`)).toBe(`${label}.com`);
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(name).toHaveLength(253);
    expect(canonicalHost(name)).toBe(name);
    expect(canonicalHost(`${name}.`)).toBe(name);
  });

  it('refuses a name that is only over-long once it is punycode', () => {
    expect(canonicalHost(`${'ü'.repeat(40)}.com`)).toBe(`${canonicalHost('ü'.repeat(40))}.com`);
    expect(canonicalHost(`${'ü'.repeat(60)}.com`)).toBeUndefined(); // 60 chars, but over 63 octets as xn--
  });
});

describe('isIpLiteral', () => {
  it.each([
    ['127.0.0.1', true],
    ['::1', true],
    ['[::1]', true],
    ['2001:db8::1', true],
    ['allowed.com', false],
    ['2130706433', false], // not canonical: canonicalise first
    ['[127.0.0.1]', false],
    ['', false],
  ])('%j -> %j', (input, expected) => {
    expect(isIpLiteral(input)).toBe(expected);
  });
});

describe('validatePattern', () => {
  it.each([
    ['allowed.com', 'allowed.com'],
    ['ALLOWED.COM.', 'allowed.com'],
    ['*.allowed.com', '*.allowed.com'],
    ['*.ALLOWED.com.', '*.allowed.com'],
    ['*.bücher.example', '*.xn--bcher-kva.example'],
    ['*.co.uk', '*.co.uk'], // multi-label public suffixes are not detected (documented)
    ['localhost', 'localhost'],
    ['127.0.0.1', '127.0.0.1'],
    ['0x7f.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['::FFFF:7F00:1', '127.0.0.1'],
  ])('%j -> %j', (input, expected) => {
    expect(validatePattern(input)).toBe(expected);
  });

  it.each([
    ['', /empty/],
    ['*', /every host/],
    ['*.com', /top-level domain/],
    ['*.COM.', /top-level domain/],
    ['*.localhost', /top-level domain/],
    ['*.', /not a valid host/],
    ['*.*.allowed.com', /whole first label/],
    ['**.allowed.com', /whole first label/],
    ['*allowed.com', /whole first label/],
    ['a*.allowed.com', /whole first label/],
    ['allowed.*.com', /whole first label/],
    ['allowed.com.*', /whole first label/],
    ['*.127.0.0.1', /IP address/],
    ['*.0x7f.1', /IP address/],
    ['allowed.com:443', /port/],
    ['[::1]:443', /port/],
    ['https://allowed.com', /not a URL/],
    ['allowed.com/path', /not a URL/],
    ['user@allowed.com', /user info/],
    [' allowed.com', /whitespace/],
    ['allowed.com\n', /whitespace/],
    ['allowed..com', /not a valid host/],
    ['-allowed.com', /not a valid host/],
    ['example.123', /not a valid host/],
    ['1.2.3.256', /not a valid host/],
  ])('refuses %j', (input, message) => {
    expect(() => validatePattern(input)).toThrow(message);
  });

  it('puts the offending pattern in the message', () => {
    expect(() => validatePattern('*.com')).toThrow('"*.com"');
  });
});

describe('Allowlist', () => {
  const list = new Allowlist(['allowed.com', '*.wild.test', '127.0.0.1', '[::1]', '*.bücher.example']);
  const allows = (host: string) => {
    const c = canonicalHost(host);
    return c !== undefined && list.allows(c);
  };

  it('keeps the canonical patterns, in order, without duplicates', () => {
    const l = new Allowlist(['B.example', '*.A.example', 'b.example.', '*.a.example']);
    expect(l.patterns()).toEqual(['b.example', '*.a.example']);
    l.add('c.example');
    expect(l.patterns()).toEqual(['b.example', '*.a.example', 'c.example']);
    l.patterns().push('mutated.example');
    expect(l.patterns()).toHaveLength(3);
  });

  it('refuses invalid patterns in the constructor and in add, and keeps the rest', () => {
    expect(() => new Allowlist(['allowed.com', '*.com'])).toThrow(/top-level domain/);
    const l = new Allowlist(['allowed.com']);
    expect(() => l.add('*')).toThrow();
    expect(() => l.add('evil.test:443')).toThrow(/port/);
    expect(l.patterns()).toEqual(['allowed.com']);
  });

  it('allows nothing when empty', () => {
    const empty = new Allowlist([]);
    expect(empty.allows('allowed.com')).toBe(false);
    expect(empty.patterns()).toEqual([]);
  });

  it.each([
    // exact hosts, any spelling
    ['allowed.com', true],
    ['ALLOWED.COM', true],
    ['allowed.com.', true],
    ['AlLoWeD.CoM.', true],
    ['ａｌｌｏｗｅｄ.com', true],
    ['127.0.0.1', true],
    ['2130706433', true],
    ['0177.0.0.1', true],
    ['0x7f.1', true],
    ['127.1', true],
    ['::ffff:7f00:1', true],
    ['[::ffff:127.0.0.1]', true],
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    // an exact host does not cover its subdomains or look-alikes
    ['www.allowed.com', false],
    ['evilallowed.com', false],
    ['evil-allowed.com', false],
    ['allowed.com.evil.test', false],
    ['allowed.co', false],
    ['llowed.com', false],
    ['allowed.comm', false],
    ['\u0430llowed.com', false], // Cyrillic а
    ['xn--llowed-2nf.com', false],
    ['127.0.0.2', false],
    ['::2', false],
    ['::7f00:1', false], // IPv4-compatible is a different address
    // wildcards: deeper names only, never the apex, never look-alikes
    ['a.wild.test', true],
    ['A.WILD.TEST.', true],
    ['a.b.wild.test', true],
    ['x.y.z.wild.test', true],
    ['_srv.wild.test', true],
    ['wild.test', false],
    ['evilwild.test', false],
    ['a.evilwild.test', false],
    ['a.wild.test.evil.test', false],
    ['wild.test.evil.test', false],
    ['a.wild.testx', false],
    ['münchen.bücher.example', true],
    ['a.xn--bcher-kva.example', true],
    ['bücher.example', false],
    ['a.bucher.example', false],
  ])('%j -> %j', (host, expected) => {
    expect(allows(host)).toBe(expected);
  });

  it('never lets a wildcard match an IP literal', () => {
    const l = new Allowlist(['*.0.0.1.example', '*.in-addr.arpa']);
    expect(l.allows('127.0.0.1')).toBe(false);
    expect(l.allows('1.0.0.127.in-addr.arpa')).toBe(true); // a name, not an address
  });

  it('refuses hosts that are not canonical, whatever the patterns', () => {
    for (const host of ['ALLOWED.COM', 'allowed.com.', 'allowed.com:443', ' allowed.com', '[::1]', '2130706433', 'A.wild.test', '']) {
      expect(list.allows(host)).toBe(false);
    }
  });

  it('takes run-time additions', () => {
    const l = new Allowlist(['allowed.com']);
    expect(l.allows('new.example')).toBe(false);
    l.add('NEW.example.');
    expect(l.allows('new.example')).toBe(true);
    l.add('*.deep.example');
    expect(l.allows('a.deep.example')).toBe(true);
    expect(l.allows('deep.example')).toBe(false);
  });
});

describe('isForbiddenAddress', () => {
  it.each([
    // IPv4, each range at its edges
    '0.0.0.0',
    '0.255.255.255',
    '10.0.0.0',
    '10.255.255.255',
    '100.64.0.0',
    '100.127.255.255',
    '127.0.0.1',
    '127.255.255.254',
    '169.254.0.1',
    '169.254.169.254', // cloud metadata
    '172.16.0.0',
    '172.31.255.255',
    '192.0.0.0',
    '192.0.0.255',
    '192.0.2.1',
    '192.168.0.1',
    '192.168.255.255',
    '198.18.0.0',
    '198.19.255.255',
    '198.51.100.1',
    '203.0.113.1',
    '224.0.0.1',
    '239.255.255.255',
    '240.0.0.1',
    '255.255.255.255',
    // IPv4 in other spellings
    '2130706433',
    '0x7f.1',
    '[::ffff:127.0.0.1]',
    // IPv6
    '::',
    '::1',
    '[::1]',
    'fe80::1',
    'febf:ffff::1',
    'fec0::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    'ff0e::1',
    '2001:db8::1',
    '2001::1', // Teredo
    '100::1',
    '64:ff9b:1::1',
    // IPv4 forbidden addresses inside IPv6
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::ffff:10.1.2.3',
    '::127.0.0.1',
    '::169.254.169.254',
    '::ffff:0:127.0.0.1',
    '64:ff9b::127.0.0.1',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::192.168.1.1',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    // not an address at all: fail closed
    'localhost',
    'allowed.com',
    '',
    'fe80::1%eth0',
  ])('%j is forbidden', (ip) => {
    expect(isForbiddenAddress(ip)).toBe(true);
  });

  it.each([
    '1.1.1.1',
    '8.8.8.8',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
    'fe7f::1',
    'fbff::1',
  ])('%j is allowed', (ip) => {
    expect(isForbiddenAddress(ip)).toBe(false);
  });

  it('forbids the extra host addresses in any spelling', () => {
    const extra = ['203.0.114.5', '2a01:4f8::5'];
    expect(isForbiddenAddress('203.0.114.5', extra)).toBe(true);
    expect(isForbiddenAddress('::ffff:203.0.114.5', extra)).toBe(true);
    expect(isForbiddenAddress('64:ff9b::203.0.114.5', extra)).toBe(true);
    expect(isForbiddenAddress('3405804037', extra)).toBe(true); // 203.0.114.5 as one number
    expect(isForbiddenAddress('2A01:4F8:0::5', extra)).toBe(true);
    expect(isForbiddenAddress('[2a01:4f8::5]', new Set(extra))).toBe(true);
    expect(isForbiddenAddress('203.0.114.6', extra)).toBe(false);
    expect(isForbiddenAddress('203.0.114.5', [])).toBe(false);
    expect(isForbiddenAddress('203.0.114.5', ['::ffff:203.0.114.5'])).toBe(true);
  });

  it('throws on an extra entry that is not an address', () => {
    expect(() => isForbiddenAddress('8.8.8.8', ['gateway.local'])).toThrow(/not an IP address/);
  });
});

// The DLP scanner: every required credential is found raw and under URL,
// base64 and hex encodings (and nested layers), in URLs, headers and
// bodies; `allowed` values are not findings; ordinary source code is clean.
//
// Every fake credential here is assembled at run time from pieces and random
// characters, so this file holds nothing credential-shaped itself.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { mulberry32 } from '../../../helpers/prng.ts';
import { notInCorpus, walkFiles } from '../../../helpers/walk.ts';
import { describe, expect, it } from 'vitest';
import { createScanner, DEFAULT_OVERSIZE_POLICY, RULE_NAMES } from '../../../../lib/dlp/index.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../../../../plugins/egress/config.ts';
import { ANCHORS, RULES, presetScannerIds } from '../../../../lib/dlp/rules.ts';
import type { DlpFinding, DlpWhere } from '../../../../plugins/egress/types.ts';

const UP = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LO = 'abcdefghijklmnopqrstuvwxyz';
const DIG = '0123456789';
const ALNUM = UP + LO + DIG;
const B64 = ALNUM + '+/';

type Rand = () => number;
const str = (r: Rand, n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join('');

/** A PEM private key block of random base64 that starts like DER (`MI`), as real ones do. */
function pem(r: Rand, kind: string): string {
  const body = 'MII' + str(r, 1213, B64);
  const lines = body.match(/.{1,64}/g)!.join('\n');
  const label = `${kind}PRIVATE ${'KEY'}`;
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

interface Fake {
  rule: string;
  /** Other names that are right too (a GCP key file embedded in other text is a private key). */
  alsoOk?: string[];
  make(r: Rand): string;
}

const FAKES: Fake[] = [
  { rule: 'aws-access-key-id', make: (r) => 'AK' + 'IA' + str(r, 16, UP + '234567') },
  { rule: 'aws-secret-access-key', make: (r) => `aws_secret_${'access'}_key = ${str(r, 39, B64)}${str(r, 1, ALNUM)}` },
  { rule: 'github-token', make: (r) => 'gh' + 'p_' + str(r, 36, ALNUM) },
  { rule: 'github-token', make: (r) => 'github' + '_pat_' + str(r, 82, ALNUM + '_') },
  { rule: 'slack-token', make: (r) => 'xo' + 'xb-' + str(r, 12, DIG) + '-' + str(r, 13, DIG) + '-' + str(r, 24, ALNUM) },
  { rule: 'slack-incoming-webhook', make: (r) => `https://hooks.${'slack'}.com/services/T${str(r, 8, UP + DIG)}/B${str(r, 8, UP + DIG)}/${str(r, 24, ALNUM)}` },
  { rule: 'private-key', make: (r) => pem(r, 'RSA ') },
  { rule: 'private-key', make: (r) => pem(r, '') },
  { rule: 'anthropic-api-key', make: (r) => 'sk-' + 'ant-api03-' + str(r, 93, ALNUM + '_-') + 'AA' },
  { rule: 'anthropic-key', make: (r) => 'sk-' + 'ant-oat01-' + str(r, 93, ALNUM + '_-') + 'AA' },
  { rule: 'openai-token', make: (r) => 'sk-' + 'proj-' + str(r, 74, ALNUM) + 'T3Blbk' + 'FJ' + str(r, 74, ALNUM) },
  {
    rule: 'gcp-service-account-key',
    alsoOk: ['private-key'],
    make: (r) =>
      JSON.stringify(
        {
          type: 'service_account',
          project_id: 'demo-' + str(r, 6, LO),
          private_key_id: str(r, 40, '0123456789abcdef'),
          private_key: pem(r, ''),
          client_email: `bot@demo-${str(r, 6, LO)}.iam.gserviceaccount.com`,
          client_id: str(r, 21, DIG),
        },
        null,
        2,
      ),
  },
  { rule: 'npm-access-token', make: (r) => 'np' + 'm_' + str(r, 36, ALNUM) },
  { rule: 'npmrc-auth-token', make: (r) => `//registry.npmjs.org/:_auth${'Token'}=${str(r, 8, '0123456789abcdef')}-${str(r, 4, '0123456789abcdef')}-${str(r, 4, '0123456789abcdef')}-${str(r, 12, '0123456789abcdef')}` },
  { rule: 'basic-auth', make: (r) => `https://deploy${str(r, 3, DIG)}:${str(r, 14, ALNUM)}@git.corp-${str(r, 5, LO)}.net/team/repo.git` },
  { rule: 'postgresql-connection-string', make: (r) => `postgres://app${str(r, 2, DIG)}:${str(r, 18, ALNUM)}@db.corp-${str(r, 5, LO)}.net:5432/prod` },
  { rule: 'stripe-secret-key-live', make: (r) => 'sk_' + 'live_' + str(r, 24, ALNUM) },
  { rule: 'gitlab-personal-access-token', make: (r) => 'gl' + 'pat-' + str(r, 20, ALNUM) },
];

/** Every byte as %XX: nothing of the secret is left readable. */
const percentAll = (s: string) => [...Buffer.from(s, 'latin1')].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('');
const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

interface Encoding {
  name: string;
  encode(secret: string): string;
  /** The layer the finding must name (a prefix match), or undefined for any. */
  layer: RegExp | undefined;
}

const ENCODINGS: Encoding[] = [
  { name: 'raw', encode: (s) => s, layer: /^raw$/ },
  { name: 'percent-encoded', encode: percentAll, layer: /^url$/ },
  { name: 'encodeURIComponent', encode: encodeURIComponent, layer: undefined },
  { name: 'base64', encode: b64, layer: /^base64$/ },
  { name: 'base64url', encode: (s) => Buffer.from(s, 'latin1').toString('base64url'), layer: /^base64$/ },
  { name: 'base64 of JSON', encode: (s) => b64(JSON.stringify({ note: 'config', value: s })), layer: /^base64$/ },
  // `base64` CLI output: 76 columns (in a JSON body the line breaks become `\n` escapes)
  { name: 'base64 wrapped at 76', encode: (s) => b64(`# credentials, written by the setup script\n${s}\n`).replace(/.{76}(?!$)/g, '$&\n'), layer: /^base64$/ },
  { name: 'base64 wrapped at 64, CRLF', encode: (s) => b64(`# credentials, written by the setup script\n${s}\n`).replace(/.{64}(?!$)/g, '$&\r\n'), layer: /^base64$/ },
  { name: 'hex', encode: (s) => Buffer.from(s, 'latin1').toString('hex'), layer: /^hex$/ },
  { name: 'HEX', encode: (s) => Buffer.from(s, 'latin1').toString('hex').toUpperCase(), layer: /^hex$/ },
  { name: 'base64 of percent-encoded', encode: (s) => b64(percentAll(s)), layer: /^base64\+url$/ },
  { name: 'percent-encoded base64', encode: (s) => percentAll(b64(s)), layer: /^url\+base64$/ },
  { name: 'hex of base64', encode: (s) => Buffer.from(b64(s)).toString('hex'), layer: /^hex\+base64$/ },
];

/** Where the encoded secret is put, per `where`. */
const CONTEXTS: Record<DlpWhere, (v: string) => string | Uint8Array> = {
  url: (v) => `/v1/upload?id=42&data=${v}&mode=fast`,
  header: (v) => `Bearer ${v}`,
  body: (v) => Buffer.from(JSON.stringify({ model: 'demo', messages: [{ role: 'user', content: `here it is: ${v}` }] })),
};

const scanner = createScanner();

function expectFinding(f: DlpFinding | undefined, fake: Fake, where: DlpWhere, layer: RegExp | undefined): void {
  expect(f, 'a finding').toBeDefined();
  expect([fake.rule, ...(fake.alsoOk ?? [])]).toContain(f!.rule);
  expect(f!.where).toBe(where);
  if (layer) expect(f!.layer).toMatch(layer);
}

describe('DLP scanner: every rule, every encoding, every where', () => {
  const cases = FAKES.flatMap((fake, i) => ENCODINGS.map((enc) => [fake.rule, enc.name, fake, enc, i] as const));
  it.each(cases)('%s, %s', (_rule, _enc, fake, enc, i) => {
    const secret = fake.make(mulberry32(1000 + i));
    for (const where of ['url', 'header', 'body'] as const) {
      expectFinding(scanner.scan(CONTEXTS[where](enc.encode(secret)), where), fake, where, enc.layer);
    }
  });

  it('names the GCP key file when it is the whole body', () => {
    const fake = FAKES.find((f) => f.rule === 'gcp-service-account-key')!;
    const json = fake.make(mulberry32(7));
    expect(scanner.scan(json, 'body')?.rule).toBe('gcp-service-account-key');
    expect(scanner.scan(b64(json), 'body')).toMatchObject({ rule: 'gcp-service-account-key', layer: 'base64' });
  });

  it('finds a secret as a string and as bytes alike, anywhere in a large body', () => {
    const secret = FAKES[2]!.make(mulberry32(3));
    const filler = 'const x = 1; // ordinary code\n'.repeat(20_000);
    const body = filler + secret + '\n' + filler;
    expect(scanner.scan(body, 'body')?.rule).toBe('github-token');
    expect(scanner.scan(Buffer.from(body), 'body')?.rule).toBe('github-token');
    expect(scanner.scan(new Uint8Array(Buffer.from('x'.repeat(100) + ' ' + secret)).subarray(50), 'body')?.rule).toBe('github-token');
    // glued to a letter, it is another word (the rules' own boundaries)
    expect(scanner.scan('x'.repeat(100) + secret, 'body')).toBeUndefined();
  });

  it('never puts the secret (or a piece of it) in the finding', () => {
    FAKES.forEach((fake, i) => {
      const secret = fake.make(mulberry32(2000 + i));
      const f = scanner.scan(secret, 'body');
      expect(f).toBeDefined();
      // Only names and numbers: the rule, where, the layer, and (raw layer) the range of the secret.
      expect(Object.keys(f!).filter((k) => k !== 'range').sort()).toEqual(['layer', 'rule', 'where']);
      if (f!.range) expect(f!.range.every((n) => Number.isInteger(n))).toBe(true);
      expect(RULE_NAMES).toContain(f!.rule);
      const shown = JSON.stringify(f);
      for (let k = 0; k + 12 <= secret.length; k += 4) expect(shown).not.toContain(secret.slice(k, k + 12));
    });
  });

  it('says where a secret is in the raw data, so that a redaction can replace exactly it', () => {
    const aws = ['AK', 'IA', 'Q3EGZXN', 'TLP4KWR7U'].join('').padEnd(20, 'Z');
    const oauth = `sk-ant-oat01-${'abcDEF0123_-'.repeat(6)}`;
    for (const secret of [aws, oauth]) {
      const body = JSON.stringify({ messages: [{ role: 'user', content: `cat creds\n${secret}\nthat was it` }] });
      const f = scanner.scan(body, 'body');
      expect(f?.range, f?.rule).toBeDefined();
      expect(body.slice(f!.range![0], f!.range![1])).toContain(secret.slice(4, -4));
      expect(f!.range![1] - f!.range![0]).toBeLessThanOrEqual(secret.length + 8);
    }
    // Found in a decoded layer: no range (its positions are not the data's).
    const hidden = Buffer.from(`key ${aws} here`).toString('base64');
    const f = scanner.scan(`data=${hidden}`, 'body');
    expect(f?.layer).toBe('base64');
    expect(f?.range).toBeUndefined();
  });

  it('does not honour secretlint-disable comments in the traffic', () => {
    const secret = FAKES[2]!.make(mulberry32(5));
    expect(scanner.scan(`// secretlint-disable\n${secret}\n// secretlint-enable`, 'body')?.rule).toBe('github-token');
    expect(scanner.scan(`${secret} // secretlint-disable-line`, 'body')?.rule).toBe('github-token');
  });

  it('looks through nested layers (base64 three times is found; the depth limits are in dlp-layers.test.ts)', () => {
    const secret = FAKES[2]!.make(mulberry32(6));
    expect(scanner.scan(b64(b64(secret)), 'body')?.layer).toBe('base64+base64');
    expect(scanner.scan(b64(b64(b64(secret))), 'body')?.layer).toBe('base64+base64+base64');
  });

  it('bounds its work on adversarial input', () => {
    const inputs = [
      'A'.repeat(2_000_000),
      '%41'.repeat(500_000),
      b64('%41%42'.repeat(200_000)),
      ('ghp_' + 'a'.repeat(20) + ' ').repeat(50_000),
      ('https://' + 'a'.repeat(300) + '@').repeat(3_000),
      ('-----BEGIN PRIVATE ' + 'KEY-----\n' + 'M'.repeat(9_000)).repeat(50),
    ];
    // Each ends (the test's timeout catches a blow-up; bench/dlp prints the times); none is a credential.
    for (const input of inputs) expect(scanner.scan(input, 'body')?.rule ?? 'none').not.toBe('github');
  });
});

describe('DLP scanner: allowed values', () => {
  const r = mulberry32(42);
  const injected = 'sk-' + 'ant-oat01-' + str(r, 93, ALNUM + '_-') + 'AA';
  const other = 'sk-' + 'ant-oat01-' + str(r, 93, ALNUM + '_-') + 'AA';
  const allowing = createScanner({ allowed: [`Bearer ${injected}`, injected] });

  it('does not report the allowed value, wherever and however it appears', () => {
    for (const where of ['url', 'header', 'body'] as const) {
      expect(allowing.scan(`Bearer ${injected}`, where)).toBeUndefined();
      expect(allowing.scan(CONTEXTS[where](injected), where)).toBeUndefined();
      expect(allowing.scan(CONTEXTS[where](b64(injected)), where)).toBeUndefined();
      expect(allowing.scan(CONTEXTS[where](percentAll(injected)), where)).toBeUndefined();
    }
  });

  it('reports the same value to a scanner that does not allow it (another host)', () => {
    expect(scanner.scan(`Bearer ${injected}`, 'header')?.rule).toBe('anthropic-key');
  });

  it('suppresses exactly that value: another token of the same kind is still found', () => {
    expect(allowing.scan(other, 'header')?.rule).toBe('anthropic-key');
    expect(allowing.scan(`${injected} ${other}`, 'body')?.rule).toBe('anthropic-key');
    expect(allowing.scan(`${other}\n${injected}`, 'body')?.rule).toBe('anthropic-key');
    expect(allowing.scan(b64(`${injected}:${other}`), 'body')?.rule).toBe('anthropic-key');
    // a longer token that merely starts with the allowed one is not the allowed one
    const gh = 'gh' + 'p_' + str(r, 36, ALNUM);
    const onlyGh = createScanner({ allowed: [gh] });
    expect(onlyGh.scan(gh, 'body')).toBeUndefined();
    expect(onlyGh.scan('gh' + 'p_' + str(r, 36, ALNUM), 'body')?.rule).toBe('github-token');
    expect(onlyGh.scan(`${gh} and ${'AK' + 'IA' + str(r, 16, UP)}`, 'body')?.rule).toBe('aws-access-key-id');
  });

  it('ignores allowed values too short to be tokens', () => {
    const s = createScanner({ allowed: ['a', 'ghp_', ''] });
    const gh = 'gh' + 'p_' + str(r, 36, ALNUM);
    expect(s.scan(gh, 'body')?.rule).toBe('github-token');
  });
});

describe('DLP ruleset', () => {
  it('has prefilter anchors for every detector of the preset (an upgrade adding a rule must add its anchors)', () => {
    for (const id of presetScannerIds()) {
      expect(Object.keys(ANCHORS).some((k) => k === id || k.startsWith(id + '#')), id).toBe(true);
    }
    for (const r of RULES) expect(r.anchors, r.source).toBeDefined();
  });

  it('covers the credentials the issue asks for', () => {
    for (const name of [
      'aws-access-key-id',
      'aws-secret-access-key',
      'github-token',
      'slack-token',
      'private-key',
      'anthropic-api-key',
      'anthropic-key',
      'openai-token',
      'gcp-service-account-key',
      'npm-access-token',
      'basic-auth',
    ]) {
      expect(RULE_NAMES).toContain(name);
    }
  });

  it('exports the body bound and its default policy', () => {
    expect(DEFAULT_MAX_BODY_BYTES).toBe(32 * 1024 * 1024);
    expect(DEFAULT_OVERSIZE_POLICY).toBe('block');
  });
});

// --- false positives over real source code ---------------------------------

const ROOT = path.resolve(import.meta.dirname, '../../../..');
const CORPUS_CAP = 8 * 1024 * 1024;

describe('DLP scanner: no findings over ordinary source code', () => {
  it(`finds nothing in this repo's source and ${CORPUS_CAP >> 20} MB of node_modules JavaScript`, () => {
    const hits: string[] = [];
    let total = 0;
    const scanFile = (f: string) => {
      const b = readFileSync(f);
      total += b.length;
      for (let i = 0; i < b.length; i += 65_536) {
        const found = scanner.scan(b.subarray(i, i + 65_536), 'body');
        if (found) hits.push(`${path.relative(ROOT, f)}: ${found.rule} (${found.layer})`);
      }
    };
    for (const f of walkFiles(ROOT, /\.(ts|md|json)$/, (n) => n === 'node_modules' || n === 'dist' || n.startsWith('.'))) scanFile(f);
    for (const f of walkFiles(path.join(ROOT, 'node_modules'), /\.(c|m)?js$/, notInCorpus)) {
      if (total >= CORPUS_CAP) break;
      scanFile(f);
    }
    expect(total).toBeGreaterThan(1 << 20);
    expect(hits).toEqual([]);
  });
});

// --- properties ------------------------------------------------------------

/** Printable ASCII with newlines and tabs: ordinary text. */
const printable = fc.string({ unit: fc.constantFrom(...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)), '\n', '\t'), maxLength: 400 });
/** Characters that end a token on both sides. */
const delimiter = fc.constantFrom(' ', '\n', '\t', '"', "'", ',', ';', '(', ')', '<', '>', '[', ']');
const encodings = fc.constantFrom(...ENCODINGS.filter((e) => !e.name.includes(' of ') || e.name === 'base64 of JSON'));

describe('DLP scanner: properties', () => {
  it('a secret spliced into random text is found, raw or under any single encoding of the whole text', () => {
    fc.assert(
      fc.property(printable, printable, delimiter, delimiter, fc.nat(FAKES.length - 1), fc.integer(), encodings, fc.constantFrom<DlpWhere>('url', 'header', 'body'), (pre, post, d1, d2, k, seed, enc, where) => {
        const fake = FAKES[k]!;
        const text = `${pre}${d1}${fake.make(mulberry32(seed))}${d2}${post}`;
        const f = scanner.scan(enc.encode(text), where);
        expect(f).toBeDefined();
        expect([fake.rule, ...(fake.alsoOk ?? [])]).toContain(f!.rule);
      }),
      { numRuns: 300 },
    );
  });

  /**
   * Text without secrets but full of near misses: each credential's prefix
   * followed by too few characters, or by characters outside its alphabet,
   * URLs without passwords, PEM blocks that are not private keys, and all of
   * it also base64-, hex- and percent-encoded. None may be a finding.
   */
  const nearMiss = fc.oneof(
    printable,
    fc.constantFrom('AK' + 'IA', 'gh' + 'p_', 'github' + '_pat_', 'xo' + 'xb-', 'sk-' + 'ant-api03-', 'sk-' + 'ant-oat01-', 'sk-' + 'proj-', 'np' + 'm_', 'sk_' + 'live_', 'gl' + 'pat-').chain((p) =>
      fc.oneof(
        fc.string({ unit: fc.constantFrom(...ALNUM), maxLength: 12 }).map((s) => p + s), // too short
        fc.string({ unit: fc.constantFrom(...'!#$%&*.:;?@~'), minLength: 20, maxLength: 60 }).map((s) => p + s), // wrong alphabet
      ),
    ),
    fc.webUrl({ withQueryParameters: true, withFragments: true }), // no user:password@
    fc.constantFrom(`-----BEGIN PUBLIC ${'KEY'}-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC ${'KEY'}-----`, `-----BEGIN PRIVATE ${'KEY'}-----\n...\n-----END PRIVATE ${'KEY'}-----`, 'aws_secret_access_key = ${AWS_SECRET}', '_authToken=${NPM_TOKEN}'),
    fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 16, maxLength: 80 }), // identifiers, hashes, ids
  );
  const noisyText = fc.array(fc.tuple(nearMiss, delimiter), { maxLength: 12 }).map((parts) => parts.map(([a, d]) => a + d).join(''));

  it('text full of near misses is not a finding, raw or encoded', () => {
    fc.assert(
      fc.property(noisyText, encodings, (text, enc) => {
        expect(scanner.scan(enc.encode(text), 'body')).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });

  it('the near misses are near: completing one into a full credential makes it a finding', () => {
    // Guards the property above against passing vacuously (say, if the
    // scanner found nothing at all): the same texts plus a real-shaped token are found.
    fc.assert(
      fc.property(noisyText, fc.integer(), (text, seed) => {
        const token = 'gh' + 'p_' + str(mulberry32(seed), 36, ALNUM);
        expect(scanner.scan(`${text} ${token} `, 'body')?.rule).toBe('github-token');
      }),
      { numRuns: 100 },
    );
  });
});

// Attacks on the fixes of issue 11, as pure units: the config loader's
// writable-span guard (driven with the record a bottle writes, and files
// changed the way a hostile agent and then the host user would), the text
// shown to a human, the audit redaction, response masking and `allow`
// validation. Each test asserts the SAFE behaviour.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config/load.ts';
import { endWritableMounts, readWritableSpans, recordWritableMounts } from '../../core/writable-mounts.ts';
import { builtinSchemaExtensions as extensions } from '../../plugins/index.ts';
import { safeJson, sanitize } from '../../lib/sanitize.ts';
import { refuseRiskyPattern, validatePattern } from '../../lib/hosts.ts';
import { MaskStream, maskString, secretsOf } from '../../plugins/egress/proxy/mask.ts';
import { AuditLog } from '../../core/audit-log.ts';
import { textRedactor } from '../../cli/audit-redactor.ts';
import { createScanner } from '../../lib/dlp/index.ts';
import { formatRecord } from '../../cli/commands/logs.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const OLD = new Date('2024-01-01T00:00:00Z');

let bases: string[] = [];
afterEach(() => {
  for (const b of bases) rmSync(b, { recursive: true, force: true });
  bases = [];
});

function setup() {
  const base = mkdtempSync(path.join(tmpdir(), 'atk11-'));
  bases.push(base);
  const work = path.join(base, 'work');
  const state = path.join(base, 'state');
  mkdirSync(work);
  return { base, work, state };
}

const cfg = (extra = '') => `export default { agents: { a: { bottle: 'dev' } }, bottles: { dev: { workspace: 'mount' } } };\n${extra}`;

/** What a bottle does around its guest: the span opens, the agent writes, the guest is gone, the span closes. */
async function bottleSpan(state: string, dirs: string[], agent: () => void, slug = `claude-${Math.random().toString(36).slice(2, 7)}`) {
  await sleep(50); // the user's own files, written before, stay out of the span
  recordWritableMounts(state, slug, dirs);
  await sleep(50);
  agent();
  await sleep(50);
  endWritableMounts(state, slug);
  await sleep(50); // the host user's later actions come after
}

/** `import` in the config ran planted code when this file exists. */
const planted = (marker: string) => `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'pwned');\nexport const x = 1;\n`;

const exists = (f: string) => {
  try {
    readFileSync(f);
    return true;
  } catch {
    return false;
  }
};

describe('config loader: files the agent wrote in a mounted dir', () => {
  it('a module the config imports, edited in the span, is refused (baseline)', async () => {
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    writeFileSync(path.join(work, 'helper.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), cfg(`import { x } from './helper.mjs'; void x;`));
    for (const f of ['helper.mjs', 'bottle.config.mjs']) utimesSync(path.join(work, f), OLD, OLD);
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'helper.mjs'), planted(pwned)));
    await expect(loadConfig({ cwd: work, extensions, stateRoot: state })).rejects.toThrow(/helper\.mjs/);
    expect(exists(pwned)).toBe(false);
  });

  it('a .cjs config require()ing a helper the agent edited is refused', async () => {
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    writeFileSync(path.join(work, 'helper.cjs'), 'module.exports = {};\n');
    writeFileSync(path.join(work, 'bottle.config.cjs'), `require('./helper.cjs');\nmodule.exports = { agents: { a: { bottle: 'dev' } }, bottles: { dev: {} } };\n`);
    await sleep(20);
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'helper.cjs'), `require('node:fs').writeFileSync(${JSON.stringify(pwned)}, 'x');\n`));
    await expect(loadConfig({ cwd: work, extensions, stateRoot: state })).rejects.toThrow(/helper\.cjs/);
    expect(exists(pwned)).toBe(false);
  });

  it('a JSON module imported with import attributes, edited in the span, is refused', async () => {
    const { work, state } = setup();
    writeFileSync(path.join(work, 'extra.json'), '{"workspace":"copy"}\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), `import extra from './extra.json' with { type: 'json' };\nexport default { agents: { a: { bottle: 'dev' } }, bottles: { dev: extra } };\n`);
    await sleep(20);
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'extra.json'), '{"workspace":"mount"}\n'));
    await expect(loadConfig({ cwd: work, extensions, stateRoot: state })).rejects.toThrow(/extra\.json/);
  });

  it('a dynamic import() the config starts but does not await runs after the guard is gone', async () => {
    // (Top-level await is refused by the loader: cosmiconfig require()s the .mjs.)
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    writeFileSync(path.join(work, 'helper.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), cfg(`import('./' + 'helper.mjs').catch(() => {});`));
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'helper.mjs'), planted(pwned)));
    await loadConfig({ cwd: work, extensions, stateRoot: state }).catch(() => {});
    await sleep(300);
    expect(exists(pwned)).toBe(false);
  });

  it('a node_modules package the config imports, rewritten by the agent, is refused', async () => {
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    const pkg = path.join(work, 'node_modules', 'cfg-helper');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), '{"name":"cfg-helper","type":"module","main":"index.js"}\n');
    writeFileSync(path.join(pkg, 'index.js'), 'export const x = 1;\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), cfg(`import { x } from 'cfg-helper'; void x;`));
    await sleep(20);
    await bottleSpan(state, [work], () => writeFileSync(path.join(pkg, 'index.js'), planted(pwned)));
    await expect(loadConfig({ cwd: work, extensions, stateRoot: state })).rejects.toThrow(/index\.js/);
    expect(exists(pwned)).toBe(false);
  });

  it('a higher-ranked config created by the agent in a subdirectory the user later runs bottle from is refused', async () => {
    const { work, state } = setup();
    writeFileSync(path.join(work, 'bottle.config.json'), JSON.stringify({ agents: { a: { bottle: 'dev' } }, bottles: { dev: {} } }));
    mkdirSync(path.join(work, 'src'));
    await sleep(20);
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'src', '.bottlerc.yaml'), 'agents: {a: {bottle: dev}}\nbottles: {dev: {workspace: mount}}\n'));
    await expect(loadConfig({ cwd: path.join(work, 'src'), extensions, stateRoot: state })).rejects.toThrow(/\.bottlerc\.yaml/);
  });

  it('the agent\'s config survives neither a hard link nor a rename of an old file (both change its ctime)', async () => {
    const { work, state } = setup();
    writeFileSync(path.join(work, 'old.json'), JSON.stringify({ agents: { a: { bottle: 'dev' } }, bottles: { dev: { workspace: 'mount' } } }));
    writeFileSync(path.join(work, 'old2.json'), JSON.stringify({ agents: { a: { bottle: 'dev' } }, bottles: { dev: { workspace: 'mount' } } }));
    mkdirSync(path.join(work, 'a'));
    mkdirSync(path.join(work, 'b'));
    await sleep(20);
    await bottleSpan(state, [work], () => {
      execFileSync('ln', [path.join(work, 'old.json'), path.join(work, 'a', 'bottle.config.json')]);
      renameSync(path.join(work, 'old2.json'), path.join(work, 'b', 'bottle.config.json'));
    });
    await expect(loadConfig({ cwd: path.join(work, 'a'), extensions, stateRoot: state })).rejects.toThrow(/changed while bottle/);
    await expect(loadConfig({ cwd: path.join(work, 'b'), extensions, stateRoot: state })).rejects.toThrow(/changed while bottle/);
  });

  it('a directory the agent replaced by a symlink redirects a relative import to a file outside the workspace', async () => {
    // The config imports ./lib/helper.mjs. The agent replaces lib/ by a link
    // to any host dir holding a helper.mjs (here an old one of the user's
    // other project): the link is the agent's, but only the last component
    // of the import is looked at, so the redirect goes unnoticed.
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    const other = path.join(base, 'other-project', 'lib');
    mkdirSync(other, { recursive: true });
    writeFileSync(path.join(other, 'helper.mjs'), planted(pwned));
    utimesSync(path.join(other, 'helper.mjs'), OLD, OLD);
    mkdirSync(path.join(work, 'lib'));
    writeFileSync(path.join(work, 'lib', 'helper.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), cfg(`import { x } from './lib/helper.mjs'; void x;`));
    await sleep(20);
    await bottleSpan(state, [work], () => {
      rmSync(path.join(work, 'lib'), { recursive: true });
      symlinkSync(other, path.join(work, 'lib'));
    });
    await loadConfig({ cwd: work, extensions, stateRoot: state }).catch(() => {});
    expect(exists(pwned)).toBe(false);
  });

  it('the workspace renamed after the bottle (mv) makes the agent\'s module load: the span is keyed by path', async () => {
    const { work, state, base } = setup();
    const pwned = path.join(base, 'pwned');
    writeFileSync(path.join(work, 'helper.mjs'), 'export const x = 1;\n');
    writeFileSync(path.join(work, 'bottle.config.mjs'), cfg(`import { x } from './helper.mjs'; void x;`));
    await sleep(20);
    await bottleSpan(state, [work], () => writeFileSync(path.join(work, 'helper.mjs'), planted(pwned)));
    const moved = path.join(base, 'work-renamed');
    renameSync(work, moved); // a rename of the dir: no file in it changes its ctime
    await loadConfig({ cwd: moved, extensions, stateRoot: state }).catch(() => {});
    expect(exists(pwned)).toBe(false);
  });

  it('the record\'s compaction drops the start of a span that is still open (a long-running bottle)', () => {
    const { work, state } = setup();
    recordWritableMounts(state, 'claude-long', [work], 1000);
    // 5000 short bottles elsewhere since (written as recordWritableMounts/endWritableMounts would), then one more start.
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(JSON.stringify({ slug: `s${i}`, dirs: ['/elsewhere'], from: 2000 + i }), JSON.stringify({ slug: `s${i}`, to: 2000 + i }));
    writeFileSync(path.join(state, 'writable-mounts.jsonl'), readFileSync(path.join(state, 'writable-mounts.jsonl'), 'utf8') + lines.join('\n') + '\n');
    recordWritableMounts(state, 'claude-next', ['/elsewhere'], 9000);
    const open = readWritableSpans(state).filter((s) => s.slug === 'claude-long');
    expect(open).toHaveLength(1);
    expect(open[0]!.to).toBeUndefined();
  });
});

describe('agent text shown to a human', () => {
  const hostile = [
    '\x1b]52;c;cHduZWQ=\x07', // OSC 52: write the clipboard
    '\x1b]8;;https://evil.test\x1b\\click\x1b]8;;\x1b\\',
    '\x1b[2J\x1b[H',
    '\x9b31m\x9d0;title\x9c', // raw C1 (as UTF-16 code units = U+009B...)
    Buffer.from([0xc2, 0x9b, 0x33, 0x31, 0x6d]).toString('utf8'), // C1 CSI as UTF-8
    '\x07\x08\x0d\x7f',
    'safe\u202egnp.exe',
    '\u2066\u2067\u2068\u2069\u200e\u200f\u061c',
    'zero\u200bwidth\u200c\u200d\u2060\ufeff',
    'line\u2028sep\u2029para',
    '\u00ad\u034f\u115f\u1160\u3164\uffa0\u180e',
    '\udb40\udc41\udb40\udc7f', // tag characters
    '\ud800lone',
    '\ufe0f\u{e0100}', // variation selectors
  ];
  const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\u00ad\u034f\u115f\u1160\u3164\uffa0\u180e\ufe00-\ufe0f]|[\udb40][\udc00-\udfff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/u;

  it('sanitize leaves no control, bidi, invisible or separator character raw', () => {
    for (const h of hostile) {
      for (const singleLine of [false, true]) {
        const out = sanitize(h, { singleLine });
        expect(RAW.test(out.replace(/\n|\t/g, '')), JSON.stringify(out)).toBe(false);
        expect(sanitize(out, { singleLine })).toBe(out);
      }
    }
  });

  it('safeJson leaves none raw either, and parses back to the same value', () => {
    for (const h of hostile) {
      const out = safeJson({ [h]: h, nested: [h] }, 2);
      expect(RAW.test(out.replace(/\n/g, '')), out).toBe(false);
      expect(JSON.parse(out)).toEqual({ [h]: h, nested: [h] });
    }
  });

  it('very long agent text is bounded, never cut inside an escape', () => {
    const out = sanitize('\x1b'.repeat(100_000) + 'A'.repeat(100_000), { maxLength: 300 });
    expect(out.length).toBeLessThanOrEqual(300);
    expect(out).toMatch(/…\[\+\d+\]$/);
    const out2 = sanitize('\u202e'.repeat(1000), { maxLength: 100 });
    expect(out2).not.toMatch(/\\u\{[0-9a-f]*…/);
  });

  it('`bottle logs` lines carry no raw control from any field value', () => {
    for (const h of hostile) {
      const line = formatRecord({ time: '2025-01-01T00:00:00.000Z', plugin: h, type: h, host: h, reason: h, extra: { [h]: h } });
      expect(RAW.test(line), JSON.stringify(line)).toBe(false);
      expect(line.includes('\n')).toBe(false);
    }
  });
});

describe('egress allow: names and addresses of this machine, private networks, metadata', () => {
  const risky = [
    'LOCALHOST', 'localhost.', 'LocalHost.', 'foo.localhost', 'FOO.LOCALHOST.', '*.localhost', '*.foo.localhost',
    'localhost.localdomain.', '\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54', // fullwidth "localhost"
    'metadata', 'metadata.', 'metadata.google.internal', 'metadata.google.internal.', 'METADATA.GOOGLE.INTERNAL', '*.google.internal', '*.internal',
    '0', '0.0.0.0', '127.1', '2130706433', '0x7f000001', '0177.0.0.1', '127.0.0.1.',
    '[::1]', '::1', '[::]', '::ffff:127.0.0.1', '[::ffff:7f00:1]', '::127.0.0.1', '[0:0:0:0:0:ffff:a9fe:a9fe]',
    '169.254.169.254', '0xa9fea9fe', '2852039166', '[fd00:ec2::254]', '100.100.100.200', '10.0.0.1', '192.168.1.1', '[fe80::1]',
    '[64:ff9b::a9fe:a9fe]', '[2002:a9fe:a9fe::]',
  ];
  for (const p of risky) {
    it(`${JSON.stringify(p)} is refused`, () => {
      expect(() => refuseRiskyPattern(validatePattern(p))).toThrow();
    });
  }
  // Names that mean this machine on a Docker or Podman host: refused only at the dial (they resolve to private addresses).
  for (const p of ['host.docker.internal', 'gateway.docker.internal', 'host.containers.internal', 'kubernetes.docker.internal', 'ip6-localhost', 'ip6-loopback', '*.docker.internal']) {
    it(`${JSON.stringify(p)} is refused`, () => {
      expect(() => refuseRiskyPattern(validatePattern(p))).toThrow();
    });
  }
});

describe('response masking: an upstream echoing the injected credential, encoded', () => {
  // A token whose base64 forms hold "/" and "+" (JSON escapes "/" as "\/" in some encoders).
  const token = 'sk-ant-api03-AbC?dEf>gHi~jKl?mNo>pQr~sTu?vWx>yZ0~123?456>789';
  const header = `Bearer ${token}`;
  const secrets = secretsOf(header);

  function throughStream(text: string, chunk = 7): string {
    const m = new MaskStream(secrets);
    const out: Buffer[] = [];
    m.on('data', (b: Buffer) => out.push(b));
    const buf = Buffer.from(text, 'latin1');
    for (let i = 0; i < buf.length; i += chunk) m.write(buf.subarray(i, i + chunk));
    m.end();
    return Buffer.concat(out).toString('latin1');
  }
  /** Everything that could be read back: the masked text decoded every way an echo could have encoded it. */
  function readBack(masked: string): string[] {
    const joined = masked.replace(/\\r\\n|\\n|\r?\n/g, '').replace(/\\\//g, '/');
    const out = [masked, joined];
    for (const run of joined.match(/[A-Za-z0-9+/_-]{16,}={0,2}/g) ?? []) {
      for (let off = 0; off < 4; off++) out.push(Buffer.from(run.slice(off).replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1'));
    }
    for (const run of joined.match(/[0-9a-fA-F]{16,}/g) ?? []) {
      for (let off = 0; off < 2; off++) out.push(Buffer.from(run.slice(off), 'hex').toString('latin1'));
    }
    try {
      out.push(decodeURIComponent(joined));
    } catch {
      // not URL-encoded
    }
    return out;
  }
  const leaks = (masked: string) => readBack(masked).some((t) => t.includes(token.slice(4, 40)));

  const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
  const cases: Record<string, string> = {
    plain: `{"headers":{"Authorization":"${header}"}}`,
    'base64, offset 0..2': ['', 'x', 'xy'].map((p) => b64(`${p}Authorization: ${header}\r\n`)).join(' '),
    base64url: Buffer.from(`Authorization: ${header}`).toString('base64url'),
    hex: Buffer.from(header).toString('hex'),
    HEX: Buffer.from(header).toString('hex').toUpperCase(),
    'url-encoded': encodeURIComponent(header),
    'url-encoded, every byte, lower case': [...Buffer.from(header)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
    'url-encoded, lower-case hex, reserved only': encodeURIComponent(header).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    'base64 wrapped at 76 columns (MIME)': (b64(`Authorization: ${header}`).match(/.{1,76}/g) ?? []).join('\r\n'),
    'base64 wrapped at 64 columns, JSON-escaped newlines': (b64(`Authorization: ${header}`).match(/.{1,64}/g) ?? []).join('\\n'),
    'base64 with "/" JSON-escaped': ['', 'x', 'xy'].map((p) => JSON.stringify(b64(`${p}Authorization: ${header}`)).replace(/\//g, '\\/')).join(' '),
    'plain with "/" JSON-escaped ("\\/")': `${header}`.replace(/\//g, '\\/'),
    'hex, mixed case': (() => {
      let n = 0;
      return Buffer.from(header).toString('hex').replace(/[a-f]/g, (c) => (n++ % 2 ? c.toUpperCase() : c));
    })(),
  };
  for (const [name, echo] of Object.entries(cases)) {
    it(`${name}: masked in a body streamed in small chunks`, () => {
      expect(leaks(throughStream(echo))).toBe(false);
    });
  }
  it('plain and base64 forms in a header value are masked', () => {
    expect(leaks(maskString(`x ${header} ${b64(header)}`, secrets))).toBe(false);
  });
});

describe('audit trail: no refused secret kept', () => {
  const ghp = 'ghp_' + 'aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5';
  function auditOf(records: Array<Record<string, unknown>>): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'atk11-audit-'));
    bases.push(dir);
    const log = new AuditLog(dir, textRedactor(createScanner()));
    for (const r of records) log.write(r);
    return readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
  }

  it('a token in a refused path, a header-name-like field, a host label and a reason are redacted', () => {
    const text = auditOf([
      { type: 'egress.dlp', host: 'api.example.com', method: 'GET', path: `/x/${ghp}/y`, rule: 'github', status: 403 },
      { type: 'egress.deny', host: `${ghp.toLowerCase()}.evil.test`, path: `/?t=${encodeURIComponent(ghp)}`, status: 403 },
      { type: 'supervise.request', kind: 'egress', subject: 'x', reason: `please: ${Buffer.from(ghp).toString('base64')}` },
      { type: 'x', [`x-${ghp}`]: 1 },
    ]);
    expect(text).not.toContain(ghp);
    expect(text).not.toContain(ghp.slice(4));
    expect(text).not.toContain(Buffer.from(ghp).toString('base64'));
  });

});

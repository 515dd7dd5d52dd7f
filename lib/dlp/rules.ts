// The detection rules: secretlint's recommended preset, driven directly.
//
// Each secretlint rule is a `creator` whose `create(context, options)` returns
// a `file(source)` handler that runs the rule's own regular expressions over
// `source.content` and calls `context.report(...)`. We build a minimal
// SecretLintRuleContext (the documented rule API, no secretlint core) and call
// the handlers on small windows of the text, chosen by a cheap prefilter (see
// scan.ts): the patterns themselves stay the package's, maintained upstream.
//
// What we add here is only what the prefilter needs: for each rule, the
// literal ANCHORS that every one of its matches contains, and how far before
// and after an anchor a match can reach. A preset upgrade that adds a rule
// without an entry here still works (the rule then runs over whole texts,
// slowly), and the unit tests fail until an entry is added.
import { rules as presetRules } from '@secretlint/secretlint-rule-preset-recommend';
import type { SecretLintRuleContext, SecretLintRuleCreator, SecretLintRuleReportHandler, SecretLintSourceCode } from '@secretlint/types';

/** How a rule is reached from the prefilter. */
export interface AnchorSpec {
  /**
   * Literals found inside (or just before) a run of >= 16 token characters
   * `[A-Za-z0-9+/_-]`: the credential's own prefix. Case-sensitive.
   */
  token?: readonly string[];
  /** Literals found anywhere: URL schemes, PEM headers. Case-sensitive. */
  text?: readonly string[];
  /**
   * A key name that may stand just before the credential's value instead of
   * in a run of its own (`SecretAccessKey = "..."`): looked for in the
   * `lookback` characters before every run of at least `minRun`.
   */
  name?: { pattern: RegExp; minRun: number; lookback: number };
  /** Characters of context a match can start before its anchor. */
  before: number;
  /**
   * Characters a match can extend past the start of its anchor. A window's
   * edges also move on over credential characters ([A-Za-z0-9+/_.=-], up to
   * 4 KiB), so a long token is never cut.
   */
  after: number;
}

/**
 * A text anchor counts only if this character follows it within this many
 * characters: every rule on `://` (basic auth, database URLs, x-oauth-basic)
 * needs `user:password@`, and most URLs in source code have no `@`.
 */
export const ANCHOR_NEEDS: Readonly<Record<string, { char: string; within: number }>> = {
  '://': { char: '@', within: 600 },
};

/** One runnable detector. */
export interface Rule {
  /** secretlint's rule id, or ours for the few rules of our own. */
  source: string;
  anchors: AnchorSpec | undefined;
  /** Runs the detector over `content`; the first finding's name, or undefined. */
  run(content: string): string | undefined;
  /** Where the last `run`'s finding is in its content, [start, end), when the detector says. */
  at(): readonly [number, number] | undefined;
  /** Every finding name this detector can produce (for docs and tests). */
  names: readonly string[];
  /**
   * Runs over the whole text of a layer (once), not a window, if the text
   * passes this check: the GCP rule parses a whole JSON document.
   */
  whole?: (text: string) => boolean;
}

const PREFIX = '@secretlint/secretlint-rule-';

/** Every concatenation of one string from each list. */
function product(...lists: string[][]): string[] {
  return lists.reduce<string[]>((acc, l) => acc.flatMap((a) => l.map((b) => a + b)), ['']);
}

/**
 * Prefilter anchors per secretlint rule (short id), read off each rule's
 * patterns. `before`/`after` bound where a match can lie around its anchor.
 */
export const ANCHORS: Record<string, AnchorSpec> = {
  aws: {
    // Key ids; and the key name of a secret key (SECRET|secret|Secret, _?, ACCESS|access|Access).
    token: ['AKIA', 'A3T', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'ASIA', ...product(['SECRET', 'secret', 'Secret'], ['', '_'], ['ACCESS', 'access', 'Access'])],
    name: { pattern: /(?:SECRET|[Ss]ecret)_?(?:ACCESS|[Aa]ccess)/g, minRun: 40, lookback: 64 },
    before: 16,
    after: 200,
  },
  privatekey: { text: ['PRIVATE KEY'], before: 40, after: 10_200 },
  // Two instances of the npm rule (see build()): package.json-like and .npmrc-like.
  'npm#package': { token: ['npm_'], text: ['://'], before: 16, after: 600 },
  'npm#npmrc': { text: ['_authToken='], before: 0, after: 4096 },
  basicauth: { text: ['://'], before: 16, after: 800 },
  // (The webhook host is matched in lower and upper case; the rule itself ignores case.)
  slack: { token: ['xoxb-', 'xoxp-', 'xapp-', 'xoxa-', 'xoxo-', 'xoxr-'], text: ['hooks.slack.com', 'HOOKS.SLACK.COM'], before: 16, after: 400 },
  sendgrid: { token: ['SG.'], before: 4, after: 420 },
  shopify: { token: ['shppa_', 'shpca_', 'shpat_', 'shpss_'], before: 4, after: 100 },
  stripe: { token: ['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_'], before: 4, after: 130 },
  // (App installation tokens, `ghs_<id>_<JWT>`, run on past `after` with the window's edge, up to 4 KiB.)
  github: { token: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'], before: 4, after: 120 },
  gitlab: { token: ['glpat-'], before: 4, after: 160 },
  grafana: { token: ['glc_', 'glsa_'], before: 4, after: 430 },
  openai: { token: ['T3BlbkFJ'], before: 100, after: 100 },
  anthropic: { token: ['sk-ant-api0'], before: 4, after: 160 },
  groq: { token: ['gsk_'], before: 4, after: 80 },
  huggingface: { token: ['hf_'], before: 4, after: 60 },
  linear: { token: ['lin_api_'], before: 4, after: 160 },
  notion: { token: ['ntn_'], before: 4, after: 70 },
  '1password': { token: ['ops_ey'], before: 4, after: 1300 },
  'database-connection-string': { text: ['://'], before: 16, after: 1200 },
  'hashicorp-vault': { token: ['hvs.', 'hvb.', 'hvr.'], before: 4, after: 320 },
  vercel: { token: ['vcp_', 'vci_', 'vca_', 'vcr_', 'vck_'], before: 4, after: 90 },
  databricks: { token: ['dapi'], before: 4, after: 60 },
  docker: { token: ['dckr_pat_'], before: 4, after: 60 },
  figma: { token: ['figd_'], before: 4, after: 220 },
  cloudflare: { token: ['cfk_', 'cfut_', 'cfat_'], before: 4, after: 80 },
  tailscale: { token: ['tskey-'], before: 4, after: 160 },
  // The GCP rule parses a whole JSON document (a service-account key file):
  // run on the whole text, once, when a private key header is seen.
  gcp: { text: ['PRIVATE KEY'], before: 0, after: 0 },
};

/** Rules of the preset that are not detectors, or findings that are not credentials. */
const SKIPPED_RULES = new Set(['filter-comments']); // honours `secretlint-disable` comments: anyone could opt out
const SKIPPED_MESSAGES = new Set(['AWSAccountID']); // an account id is not a secret, and 12 digits after "account" are common

/**
 * Findings of the preset kept only if the window also matches: ours, for
 * patterns too loose for egress. The npm rule takes anything after
 * `_authToken=` (it lints .npmrc files); in traffic that is source code that
 * mentions the setting, so a value must look like a token.
 */
const CONFIRM: Readonly<Record<string, RegExp>> = {
  Npmrc_authToken: /_authToken=["']?[A-Za-z0-9._~+/=-]{20,}/,
};

/** Our own detectors, for credentials the preset does not cover (patterns written here, not copied). */
const OWN_RULES: { name: string; pattern: RegExp; anchors: AnchorSpec; check?: (m: RegExpExecArray) => boolean }[] = [
  {
    // PEM private keys the preset's rule passes over: it wants a body of 100+
    // characters starting `MI` (DER) or the OpenSSH magic, with nothing but
    // base64 inside, so it misses EC keys in SEC1 form (`MH...`), Ed25519 and
    // X25519 keys in PKCS#8 (64 characters), encrypted keys (PKCS#8
    // `ENCRYPTED PRIVATE KEY`, or PKCS#1 with `Proc-Type:` headers) and PGP
    // private key blocks (headers, a blank line, a checksum line). Here: any
    // `BEGIN ... PRIVATE KEY` block whose body, once header lines (`Name:
    // value`), the checksum line and line breaks (real or `\n` escaped) are
    // dropped, is 60+ characters of base64 alone (a placeholder or a body cut
    // with `...` is not a key).
    name: 'private-key',
    pattern: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----((?:[^-]|-(?!-)){0,12000}?)-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g,
    check: (m) => {
      // Lines end at a line break, real or escaped (`\\n`; in a window escapes are blanked to spaces, hence 2+ blanks).
      const lines = m[1]!.split(/\r?\n|\\r\\n|\\n|\s{2,}/).map((l) => l.trim());
      const data = lines.filter((l) => !/^[A-Za-z0-9-]+:/.test(l) && !/^=[A-Za-z0-9+/]{4}$/.test(l)).join('');
      return data.length >= 60 && /^[A-Za-z0-9+/]+={0,2}$/.test(data.replace(/\s+/g, ''));
    },
    anchors: { text: ['PRIVATE KEY'], before: 64, after: 12_200 },
  },
  {
    // Anthropic keys other than `sk-ant-api0N-` (which the preset's rule names):
    // OAuth access/refresh tokens (what Claude Code holds) and admin keys.
    name: 'anthropic-key',
    pattern: /(?<![A-Za-z0-9_-])sk-ant-(?!api0\d-)[a-z]{2,12}\d{2}-[A-Za-z0-9_-]{32,400}(?![A-Za-z0-9_-])/,
    anchors: { token: ['sk-ant-'], before: 4, after: 440 },
  },
];

/** `AWSAccessKeyID` -> `aws-access-key-id`; `NPM_ACCESS_TOKEN` -> `npm-access-token`. */
export function kebab(id: string): string {
  return id
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1-$2')
    .replace(/[_\s]+/g, '-')
    .toLowerCase()
    .replace(/-+/g, '-');
}

/** Finding names that read better than their derived form. */
const RENAMED: Readonly<Record<string, string>> = {
  PrivateKeyJSON: 'gcp-service-account-key',
  PrivateKeyP12: 'gcp-service-account-key-p12',
  PackageJSON_xOauthToken: 'github-x-oauth-basic-url',
  MongoDBConnection: 'mongodb-connection-string',
  MySQLConnection: 'mysql-connection-string',
  PostgreSQLConnection: 'postgresql-connection-string',
};

/**
 * The finding name for a message of a rule: kebab case, prefixed with the
 * rule's short id unless it already reads so (`aws-access-key-id`,
 * `1password-ops-token`). Built from ids only, never from what matched.
 */
export function findingName(shortId: string, messageId: string): string {
  const renamed = RENAMED[messageId];
  if (renamed) return renamed;
  const k = kebab(messageId);
  const flat = (s: string) => s.replace(/-/g, '');
  return flat(k).startsWith(flat(shortId)) ? k : `${shortId}-${k}`;
}

type AnyCreator = SecretLintRuleCreator<Record<string, unknown>>;

function sourceOf(content: string, filePath: string | undefined, ext: string): SecretLintSourceCode {
  // Only what the preset's detectors read: content, filePath, ext, contentType.
  return {
    content,
    filePath,
    physicalFilePath: undefined,
    ext,
    contentType: 'text',
    hasBOM: false,
    getFilePath: () => filePath,
    getPhysicalFilePath: () => undefined,
    locationToRange: () => [0, 0],
    rangeToLocation: () => ({ start: { line: 1, column: 0 }, end: { line: 1, column: 0 } }),
    positionToIndex: () => 0,
    indexToPosition: () => ({ line: 1, column: 0 }),
  } as SecretLintSourceCode;
}

function secretlintRule(creator: AnyCreator, key: string, shortId: string, opts: { filePath?: string; ext?: string; options?: Record<string, unknown> }): Rule {
  let found: string | undefined;
  let range: readonly [number, number] | undefined;
  let content = '';
  const context: SecretLintRuleContext = {
    sharedOptions: {},
    // The props carry the secret itself: they are dropped here, only the message id is kept.
    createTranslator: () => ((messageId: string) => ({ message: messageId, messageId, data: undefined })) as never,
    report(descriptor) {
      const id = descriptor.message.messageId;
      if (found !== undefined || SKIPPED_MESSAGES.has(id)) return;
      if (CONFIRM[id] && !CONFIRM[id].test(content)) return;
      found = findingName(shortId, id);
      const r = (descriptor as { range?: readonly [number, number] }).range;
      range = r && r[1] > r[0] ? [r[0], r[1]] : undefined;
    },
    ignore() {},
  };
  const handler: SecretLintRuleReportHandler = creator.create(context, opts.options ?? {});
  const names = Object.keys(creator.messages ?? {})
    .filter((id) => !SKIPPED_MESSAGES.has(id))
    .map((id) => findingName(shortId, id));
  return {
    source: creator.meta.id,
    anchors: ANCHORS[key],
    names,
    at: () => range,
    run(text) {
      found = undefined;
      range = undefined;
      content = text;
      const r = handler.file?.(sourceOf(text, opts.filePath, opts.ext ?? ''));
      // Every detector of the preset reports synchronously for text; a promise
      // (the GCP .p12 path, never taken here) is not awaited.
      if (r && typeof (r as Promise<void>).then === 'function') (r as Promise<void>).catch(() => {});
      return found;
    },
  };
}

function ownRule(r: (typeof OWN_RULES)[number]): Rule {
  let range: readonly [number, number] | undefined;
  return {
    source: 'claude-bottle',
    anchors: r.anchors,
    names: [r.name],
    at: () => range,
    run(content) {
      // A global pattern goes on past a match its check refuses (a placeholder before a real key).
      const re = r.pattern;
      re.lastIndex = 0;
      for (let m = re.exec(content); m; m = re.global ? re.exec(content) : null) {
        if (r.check && !r.check(m)) continue;
        range = [m.index, m.index + m[0].length];
        return r.name;
      }
      range = undefined;
      return undefined;
    },
  };
}

/** Builds the detectors, in the preset's order, own rules last. */
function build(): Rule[] {
  const out: Rule[] = [];
  for (const c of presetRules as unknown as AnyCreator[]) {
    const shortId = c.meta.id.startsWith(PREFIX) ? c.meta.id.slice(PREFIX.length) : c.meta.id;
    if (c.meta.type !== 'scanner' || SKIPPED_RULES.has(shortId)) continue;
    if (shortId === 'gcp') {
      // It reports only a JSON object with `private_key_id` and a PEM `private_key`.
      const whole = (text: string) => /^\s*\{/.test(text) && text.includes('private_key_id');
      out.push({ ...secretlintRule(c, 'gcp', shortId, { ext: '.json' }), whole });
      continue;
    }
    if (shortId === 'npm') {
      // The npm rule looks for `x-oauth-basic` URLs in package files and
      // `_authToken=` in .npmrc files, by file name: run it as both.
      out.push(secretlintRule(c, 'npm#package', shortId, { filePath: 'package.json' }));
      out.push(secretlintRule(c, 'npm#npmrc', shortId, { filePath: '.npmrc' }));
      continue;
    }
    // AWS access key ids are off by default in secretlint (it lints repositories full of examples); we want them.
    out.push(secretlintRule(c, shortId, shortId, { options: shortId === 'aws' ? { enableIDScanRule: true } : {} }));
  }
  for (const r of OWN_RULES) out.push(ownRule(r));
  return out;
}

export const RULES: readonly Rule[] = build();

/** The ids of the preset's detectors, for the test that every one has anchors. */
export function presetScannerIds(): string[] {
  return (presetRules as unknown as AnyCreator[])
    .filter((c) => c.meta.type === 'scanner')
    .map((c) => c.meta.id.slice(PREFIX.length))
    .filter((id) => !SKIPPED_RULES.has(id));
}

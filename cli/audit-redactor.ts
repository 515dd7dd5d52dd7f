// The filter of the audit trail: the host keeps a record of every refusal,
// and a refusal for a secret must not keep the secret (a token in a refused
// URL's path was once written to the audit file verbatim). Each finding of
// the DLP scanner becomes `[REDACTED:<rule>:<hash>]`: the rule says what it
// was, the hash (8 hex digits of SHA-256) lets two records be matched to the
// same value without holding it. A finding inside a decoded layer (a base64
// run) has no exact place in the text: the whole string goes.
import { createHash } from 'node:crypto';
import type { DlpScanner } from '../lib/dlp/types.ts';

/** Findings replaced in one string before the whole string is replaced instead. */
const MAX_FINDINGS = 32;
/** Shorter strings hold no credential the rules know (their shortest is 16 characters). */
const MIN_LENGTH = 16;

export const redactionOf = (rule: string, value: string) => `[REDACTED:${rule}:${createHash('sha256').update(value).digest('hex').slice(0, 8)}]`;

export function textRedactor(scanner: DlpScanner): (text: string) => string {
  return (text) => {
    if (text.length < MIN_LENGTH) return text;
    let out = text;
    for (let i = 0; i < MAX_FINDINGS; i++) {
      const f = scanner.scan(out, 'body');
      if (!f) return out;
      if (!f.range) return redactionOf(f.rule, out);
      const [s, e] = f.range;
      out = out.slice(0, s) + redactionOf(f.rule, out.slice(s, e)) + out.slice(e);
    }
    return scanner.scan(out, 'body') ? redactionOf('secrets', text) : out;
  };
}

/** Loaded with the run (the DLP rules are a module of their own, not needed by `bottle plan`). */
export async function loadAuditRedactor(): Promise<(text: string) => string> {
  const { createScanner } = await import('../lib/dlp/index.ts');
  return textRedactor(createScanner());
}

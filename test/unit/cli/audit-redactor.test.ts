// The audit trail keeps what was refused, never the secret itself: each
// finding becomes its rule and a short hash of the value.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAuditRedactor, redactionOf } from '../../../cli/audit-redactor.ts';
import { AuditLog } from '../../../core/audit-log.ts';

/** Built at run time: fake secrets of shapes the rules know. */
const token = ['ghp', '_', 'Zq9TestTokenForTheAuditTrail', '12345678'].join('');
const aws = ['AKIA', 'Q3EXAMPLE', 'Z7TESTKEY'].join('').slice(0, 20);

describe('the audit redactor', () => {
  it('replaces a token in a path by its rule and a hash, and keeps the rest', async () => {
    const redact = await loadAuditRedactor();
    const out = redact(`/repos/${token}/contents`);
    expect(out).not.toContain(token.slice(4));
    expect(out).toMatch(/^\/repos\/\[REDACTED:[a-z-]+:[0-9a-f]{8}\]\/contents$/);
    // The same value gives the same hash: records can be matched without the value.
    expect(redact(`x-note: ${token}`)).toContain(out.slice('/repos/'.length, out.indexOf(']') + 1));
  });

  it('replaces a whole string whose secret hides in an encoded layer; leaves clean text alone', async () => {
    const redact = await loadAuditRedactor();
    const b64 = Buffer.from(`aws=${aws}`).toString('base64');
    const out = redact(`/upload?d=${b64}`);
    expect(out).not.toContain(b64);
    expect(out).toMatch(/^\[REDACTED:[a-z-]+:[0-9a-f]{8}\]$/);
    for (const clean of ['GET https://api.anthropic.com/v1/messages', 'refused: host evil.test is not on the list', 'sha256-0123456789abcdef0123456789abcdef']) {
      expect(redact(clean)).toBe(clean);
    }
  });

  it('the audit file written through it holds no secret, in values or keys', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-audit-'));
    const log = new AuditLog(dir, await loadAuditRedactor());
    log.write({ type: 'egress.dlp', path: `/x/${token}`, headers: { [token]: aws } });
    const text = readFileSync(path.join(dir, 'audit.jsonl'), 'utf8');
    expect(text).not.toContain(token.slice(4));
    expect(text).not.toContain(aws);
    expect(text).toContain(redactionOf('x', token).slice(-10));
  });
});

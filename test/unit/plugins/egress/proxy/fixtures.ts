// Shared fixtures of the proxy's unit tests: two injecting routes and a fake
// DLP scanner that finds the word SECRET, so the tests are about the proxy's
// handling, not about DLP rules (those are tested in dlp.test.ts).
import type { DlpScanner, Route } from '../../../../../plugins/egress/types.ts';

export const MARK = 'SECRET';

/** Finds MARK in text or bytes, as a DLP rule `fake-secret` would. */
export const fakeScanner: DlpScanner = {
  scan(data, where) {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
    return text.includes(MARK) ? { rule: 'fake-secret', where, layer: 'raw' } : undefined;
  },
};

export const API: Route = {
  host: 'api.example.com',
  inject: { header: 'x-api-key', value: 'real-api-token-0123456789', placeholder: 'placeholder-api-0001' },
};

export const GIT: Route = {
  host: 'git.example.com',
  inject: { header: 'authorization', value: 'Bearer real-git-token-9876543210', placeholder: 'placeholder-git-0002' },
};

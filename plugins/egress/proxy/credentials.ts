// The routes' credentials as the proxy watches for them: a route's
// placeholder or real token is fine on its own route host and a finding
// anywhere else, whether or not a DLP rule would recognise it.
import type { DlpFinding, Route } from '../types.ts';

export type CredentialRule = 'route-placeholder' | 'route-credential';

/** A credential found off its route, as a DLP finding (it is seen as written, hence `raw`). */
export function credentialFinding(rule: CredentialRule | undefined, where: DlpFinding['where']): DlpFinding | undefined {
  return rule ? { rule, where, layer: 'raw' } : undefined;
}

interface Credential {
  owner: string;
  rule: CredentialRule;
  text: string;
  bytes: Buffer;
}

export class RouteCredentials {
  readonly #all: Credential[] = [];

  constructor(routes: readonly Route[]) {
    for (const r of routes) {
      if (!r.inject) continue;
      this.#all.push({ owner: r.host, rule: 'route-placeholder', text: r.inject.placeholder, bytes: Buffer.from(r.inject.placeholder) });
      this.#all.push({ owner: r.host, rule: 'route-credential', text: r.inject.value, bytes: Buffer.from(r.inject.value) });
      // The token alone, without a scheme word (`Bearer x` → `x`).
      const space = r.inject.value.indexOf(' ');
      if (space > 0 && r.inject.value.length - space - 1 >= 8) {
        const token = r.inject.value.slice(space + 1);
        this.#all.push({ owner: r.host, rule: 'route-credential', text: token, bytes: Buffer.from(token) });
      }
    }
  }

  get empty(): boolean {
    return this.#all.length === 0;
  }

  /** The rule of the first credential in `text` that does not belong to `host`. URL text is also checked percent-decoded. */
  inText(host: string, text: string, decode = false): CredentialRule | undefined {
    let decoded: string | undefined;
    if (decode && text.includes('%')) {
      try {
        decoded = decodeURIComponent(text);
      } catch {
        decoded = undefined;
      }
    }
    for (const c of this.#all) {
      if (c.owner === host) continue;
      if (text.includes(c.text) || (decoded !== undefined && decoded.includes(c.text))) return c.rule;
    }
    return undefined;
  }

  /** The rule of the first credential in `body` that does not belong to `host`. */
  inBytes(host: string, body: Buffer): CredentialRule | undefined {
    for (const c of this.#all) {
      if (c.owner !== host && body.indexOf(c.bytes) >= 0) return c.rule;
    }
    return undefined;
  }
}

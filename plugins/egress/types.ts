// The contracts between the egress pieces: host matching (hosts.ts), the
// bottle's CA (plugins/ca), the DLP scanner (dlp/), and the proxy (proxy.ts).

export type { HostPolicy } from '../../lib/hosts.ts';
export type { DlpFinding, DlpScanner, DlpScannerOptions, DlpWhere } from '../../lib/dlp/types.ts';

/** What the proxy needs of the bottle's CA (the ca plugin's contract). */
export type { Authority } from '../ca/index.ts';

/** A route: traffic to `host` is always intercepted; `inject` swaps in a real credential; `upstream` redirects. */
export interface Route {
  /** Canonical host name. */
  host: string;
  inject?: {
    /** Header to set, e.g. `x-api-key` or `authorization`. */
    header: string;
    /** The real value, already formatted (e.g. `Bearer sk-...`). Never logged. */
    value: string;
    /** What the guest holds instead (its env), so clients that need a token are satisfied. */
    placeholder: string;
  };
  /** `http://127.0.0.1:8080` or `https://gateway.internal`: where this host's requests really go. */
  upstream?: string;
  /** A secret in a request body to this host: refused (`block`, the default) or replaced in place by a marker naming the rule (`redact`). */
  dlp?: 'block' | 'redact';
}

/** An audit record the proxy emits; the plugin forwards it to the bus. */
export interface EgressAudit {
  type: 'egress.allow' | 'egress.deny' | 'egress.dlp' | 'egress.redact' | 'egress.error';
  host: string;
  method?: string;
  /** Path without the query (queries can carry secrets). */
  path?: string;
  reason?: string;
  rule?: string;
  status?: number;
}

// The contracts between the egress pieces: host matching (hosts.ts), the
// bottle's CA (plugins/ca), the DLP scanner (dlp/), and the proxy (proxy.ts).
import type { SecureContext } from 'node:tls';

/** Which hosts the guest may reach; patterns are exact hosts or `*.` wildcards on whole labels. */
export interface HostPolicy {
  /** `host` must already be canonical (see canonicalHost). */
  allows(host: string): boolean;
  /** Adds a pattern at run time (an approved request); invalid patterns throw. */
  add(pattern: string): void;
  /** The patterns in force, for `bottle_status` and audit. */
  patterns(): string[];
}

/** The bottle's certificate authority. Its private key never leaves the host process. */
export interface Authority {
  /** PEM of the CA certificate (what the guest trusts). */
  certPem: string;
  /** SHA-256 fingerprint of the CA certificate, `AB:CD:...`. */
  fingerprint256: string;
  /** A TLS context with a leaf certificate for `host` (DNS name or IP literal), signed on demand and cached. */
  secureContext(host: string): SecureContext;
}

/** Where a finding was made. */
export type DlpWhere = 'url' | 'header' | 'body';

export interface DlpFinding {
  /** The rule's id, e.g. `aws-access-key-id`. Never the secret itself. */
  rule: string;
  where: DlpWhere;
  /** Which decoding layer revealed it: `raw`, `url`, `base64`, `hex`. */
  layer: string;
  /** Where it is in the scanned data, [start, end) in bytes: for the raw layer only (what a redaction can replace in place). */
  range?: readonly [number, number];
}

export interface DlpScanner {
  /** The first secret found in `data`, after decoding URL, base64 and hex layers, or undefined. */
  scan(data: string | Uint8Array, where: DlpWhere): DlpFinding | undefined;
}

export interface DlpScannerOptions {
  /**
   * Values that are not findings wherever they appear in a request to the
   * host they belong to: the real tokens the proxy itself injects. The proxy
   * passes them only when scanning traffic to that token's own route host.
   */
  allowed?: readonly string[];
}

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

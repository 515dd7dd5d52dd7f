// What the DLP scanner finds, and its interface: shared by the egress proxy,
// the git gate and the audit trail's filter.

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

// OpenSSL's subject-name hash (`openssl x509 -hash`), computed on the host so
// the guest's trust-store step needs one process fewer: SHA-1 over the
// canonical DER encoding of the name (each RDN's SET, values as UTF8String,
// lower-cased and with runs of whitespace collapsed, no outer SEQUENCE), the
// first four bytes read little-endian. OpenSSL looks a CA up in a hashed
// directory by `<hash>.0`.
import { createHash } from 'node:crypto';

export interface NameAttribute {
  /** Dotted OID, e.g. 2.5.4.3 for CN. */
  oid: string;
  value: string;
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlv = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

function derOid(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number) as [number, number, ...number[]];
  const out = [40 * a + b];
  for (const n of rest) {
    const chunk: number[] = [];
    for (let v = n; ; v = Math.floor(v / 128)) {
      chunk.unshift((v % 128) | (chunk.length ? 0x80 : 0));
      if (v < 128) break;
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** OpenSSL's canonical form of a value: ASCII lower-cased, whitespace trimmed and collapsed. */
const canonical = (value: string) => value.replace(/[A-Z]/g, (c) => c.toLowerCase()).trim().replace(/[ \t\n\r\f\v]+/g, ' ');

/** The 8 hex digits `openssl x509 -hash` prints for a name of one attribute per RDN. */
export function subjectHash(name: readonly NameAttribute[]): string {
  const canon = Buffer.concat(name.map((a) => tlv(0x31, tlv(0x30, Buffer.concat([derOid(a.oid), tlv(0x0c, Buffer.from(canonical(a.value), 'utf8'))])))));
  const digest = createHash('sha1').update(canon).digest();
  return digest.readUInt32LE(0).toString(16).padStart(8, '0');
}

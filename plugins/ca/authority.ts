// The bottle's certificate authority, in memory only. Keys come from
// node:crypto (native, fast); certificates are built with node-forge and
// signed natively too: forge gives the TBSCertificate DER, node signs it
// (RSA PKCS#1 v1.5, SHA-256). A leaf for a new host therefore costs one RSA
// signature, not a key generation: every leaf shares ONE key, made once.
import { generateKeyPair, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import forge from 'node-forge';
import { subjectHash } from './subject-hash.ts';

/** The bottle's certificate authority. Its private key never leaves the host process. */
export interface Authority {
  /** PEM of the CA certificate (what the guest trusts). */
  certPem: string;
  /** SHA-256 fingerprint of the CA certificate, `AB:CD:...`. */
  fingerprint256: string;
  /** A TLS context with a leaf certificate for `host` (DNS name or IP literal), signed on demand and cached. */
  secureContext(host: string): SecureContext;
}

export interface AuthorityOptions {
  /** The CA certificate's CN; default `claude-bottle CA <random>`. */
  commonName?: string;
  /** How many per-host contexts are kept (least recently used go first); default 1000. */
  cacheSize?: number;
}

/** The bottle's CA with the extras its own plugin uses. */
export interface BottleAuthority extends Authority {
  /** The CA certificate's subject CN. */
  commonName: string;
  /** OpenSSL's hash of the CA's subject (`openssl x509 -hash`): its file name in a hashed CA dir. */
  subjectHash: string;
  /**
   * Makes the shared leaf key in the background (libuv's pool), so the first
   * `secureContext` costs a signature only. Idempotent; `secureContext`
   * makes the key synchronously if this has not finished.
   */
  warm(): Promise<void>;
  /** PEM of the leaf certificate `secureContext(host)` serves (issued if needed). */
  leafCertPem(host: string): string;
}

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const CA_DAYS = 30;
const LEAF_DAYS = 7;
/** A cached leaf is reissued once it is this old, well before it expires. */
const LEAF_MAX_AGE = (LEAF_DAYS - 1) * DAY;
const RSA_BITS = 2048;

type Attrs = forge.pki.CertificateField[];

interface Leaf {
  pem: string;
  context: SecureContext;
  issued: number;
}

/** The CN, SAN and cache key of a host: lower-case, no trailing dot, IPv6 without brackets. */
export function leafName(host: string): { name: string; ip: boolean } {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIP(h)) return { name: h, ip: true };
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (!h || h.length > 253 || !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(h) || h.split('.').some((l) => l.length > 63)) {
    throw new Error(`cannot issue a certificate for ${JSON.stringify(host)}: not a DNS name or IP address`);
  }
  return { name: h, ip: false };
}

/** A positive, non-zero-led 128-bit serial, as forge wants it (hex). */
function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString('hex');
}

function forgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  return forge.pki.publicKeyFromPem(key.export({ type: 'spki', format: 'pem' }) as string) as forge.pki.rsa.PublicKey;
}

/**
 * Signs `cert` with `key` natively: the TBSCertificate is DER-encoded by
 * forge (with sha256WithRSAEncryption as its signature algorithm) and signed
 * by node. Returns the certificate as PEM.
 */
function signNatively(cert: forge.pki.Certificate, key: KeyObject): string {
  const oid = forge.pki.oids.sha256WithRSAEncryption!;
  cert.siginfo.algorithmOid = oid;
  cert.signatureOid = oid;
  const pki = forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 };
  const tbs = pki.getTBSCertificate(cert);
  cert.tbsCertificate = tbs;
  const der = Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary');
  cert.signature = sign('sha256', der, key).toString('binary');
  return forge.pki.certificateToPem(cert);
}

function rsaKeyPair() {
  return generateKeyPairSync('rsa', { modulusLength: RSA_BITS });
}

/** A fresh CA: its key (RSA 2048) never leaves this process. */
export function createAuthority(opts: AuthorityOptions = {}): BottleAuthority {
  const commonName = opts.commonName ?? `claude-bottle CA ${randomBytes(4).toString('hex')}`;
  const cacheSize = Math.max(1, opts.cacheSize ?? 1000);
  const { privateKey: caKey, publicKey: caPublic } = rsaKeyPair();

  const now = Date.now();
  const ca = forge.pki.createCertificate();
  ca.publicKey = forgePublicKey(caPublic);
  ca.serialNumber = serial();
  ca.validity.notBefore = new Date(now - HOUR);
  ca.validity.notAfter = new Date(now + CA_DAYS * DAY);
  const caSubject: Attrs = [
    { shortName: 'CN', value: commonName },
    { shortName: 'O', value: 'claude-bottle' },
  ];
  // (subjectHash below restates this name: change both together.)
  ca.setSubject(caSubject);
  ca.setIssuer(caSubject);
  ca.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  const certPem = signNatively(ca, caKey);
  const caKeyId = ca.generateSubjectKeyIdentifier().getBytes();
  const fingerprint256 = new X509Certificate(certPem).fingerprint256;

  // The one leaf key, made lazily (or ahead of time by warm()).
  let leafKey: { pem: string; forgePublic: forge.pki.rsa.PublicKey } | undefined;
  let warming: Promise<void> | undefined;
  const setLeafKey = (privateKey: KeyObject, publicKey: KeyObject) => {
    leafKey ??= { pem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, forgePublic: forgePublicKey(publicKey) };
    return leafKey;
  };
  const getLeafKey = () => {
    if (leafKey) return leafKey;
    const { privateKey, publicKey } = rsaKeyPair();
    return setLeafKey(privateKey, publicKey);
  };

  const issue = (name: string, ip: boolean): string => {
    const t = Date.now();
    const cert = forge.pki.createCertificate();
    cert.publicKey = getLeafKey().forgePublic;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(t - HOUR);
    cert.validity.notAfter = new Date(t + LEAF_DAYS * DAY);
    cert.setSubject([{ shortName: 'CN', value: name }]);
    cert.setIssuer(caSubject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [ip ? { type: 7, ip: name } : { type: 2, value: name }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: caKeyId },
    ]);
    return signNatively(cert, caKey);
  };

  // Map iteration order is insertion order: re-inserting on a hit makes it an LRU.
  const cache = new Map<string, Leaf>();

  const leaf = (host: string): Leaf => {
    const { name, ip } = leafName(host);
    const hit = cache.get(name);
    if (hit && Date.now() - hit.issued < LEAF_MAX_AGE) {
      cache.delete(name);
      cache.set(name, hit);
      return hit;
    }
    const issued = Date.now();
    const pem = issue(name, ip);
    // The chain: leaf then CA, so clients that only trust the CA can build it.
    const entry: Leaf = { pem, context: createSecureContext({ key: getLeafKey().pem, cert: `${pem}\n${certPem}` }), issued };
    cache.delete(name);
    cache.set(name, entry);
    while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    return entry;
  };

  return {
    certPem,
    fingerprint256,
    commonName,
    subjectHash: subjectHash([{ oid: '2.5.4.3', value: commonName }, { oid: '2.5.4.10', value: 'claude-bottle' }]),
    secureContext(host: string): SecureContext {
      return leaf(host).context;
    },
    leafCertPem(host: string): string {
      return leaf(host).pem;
    },
    warm(): Promise<void> {
      if (leafKey) return Promise.resolve();
      warming ??= new Promise<void>((resolve, reject) => {
        generateKeyPair('rsa', { modulusLength: RSA_BITS }, (err, publicKey, privateKey) => {
          if (err) return reject(err);
          setLeafKey(privateKey, publicKey);
          resolve();
        });
      });
      return warming;
    },
  };
}

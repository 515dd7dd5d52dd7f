// The bottle's CA: a real CA certificate, leaves per host signed by it (DNS
// names and IP literals in the SAN), one leaf key for every host, contexts
// cached, and a real TLS handshake that a client trusting the CA completes
// and a client that does not trust it refuses.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthority, leafName, type BottleAuthority } from '../../../../plugins/ca/authority.ts';

let ca: BottleAuthority;
beforeAll(() => {
  ca = createAuthority({ commonName: 'claude-bottle CA test' });
});

describe('createAuthority', () => {
  it('makes a self-signed CA certificate: CA:true, keyCertSign, SKI, 30 days', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('CN=claude-bottle CA test');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.fingerprint256).toBe(ca.fingerprint256);
    expect(ca.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(cert.publicKey.asymmetricKeyDetails).toMatchObject({ modulusLength: 2048 });
    const notBefore = Date.parse(cert.validFrom);
    const notAfter = Date.parse(cert.validTo);
    expect(notBefore).toBeLessThan(Date.now() - 50 * 60_000);
    expect(notAfter - Date.now()).toBeGreaterThan(29 * 24 * 3600_000);
    expect(notAfter - Date.now()).toBeLessThan(31 * 24 * 3600_000);
    // basicConstraints and keyUsage are critical, and an SKI is there: what
    // strict verifiers (OpenSSL's X509_STRICT, Python 3.13) insist on.
    const der = cert.raw.toString('hex');
    expect(der).toContain('0603551d130101ff040530030101ff'); // basicConstraints, critical, CA:TRUE
    expect(der).toContain('0603551d0f0101ff040403020106'); // keyUsage, critical, keyCertSign|cRLSign
    expect(der).toContain('0603551d0e0416'); // subjectKeyIdentifier
  });

  it('names each CA differently by default', () => {
    const other = createAuthority();
    expect(new X509Certificate(other.certPem).subject).toMatch(/CN=claude-bottle CA [0-9a-f]{8}/);
    expect(other.fingerprint256).not.toBe(ca.fingerprint256);
  });

  it('issues a leaf for a DNS name that verifies against the CA', () => {
    const root = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(ca.leafCertPem('api.example.com'));
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subject).toBe('CN=api.example.com');
    expect(leaf.subjectAltName).toBe('DNS:api.example.com');
    expect(leaf.checkHost('api.example.com')).toBe('api.example.com');
    expect(leaf.checkHost('other.example.com')).toBeUndefined();
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extKeyUsage serverAuth
    expect(Date.parse(leaf.validTo) - Date.now()).toBeGreaterThan(6.9 * 24 * 3600_000);
    expect(Date.parse(leaf.validTo) - Date.now()).toBeLessThan(7.1 * 24 * 3600_000);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(Date.now() - 50 * 60_000);
    // A different key signs it: not verifiable with another CA.
    expect(leaf.verify(new X509Certificate(createAuthority().certPem).publicKey)).toBe(false);
  });

  it('puts IP literals in the SAN as iPAddress, v4 and v6', () => {
    const v4 = new X509Certificate(ca.leafCertPem('10.213.5.1'));
    expect(v4.subjectAltName).toBe('IP Address:10.213.5.1');
    expect(v4.checkIP('10.213.5.1')).toBe('10.213.5.1');
    const v6 = new X509Certificate(ca.leafCertPem('[::1]'));
    expect(v6.subjectAltName).toBe('IP Address:0:0:0:0:0:0:0:1');
    expect(v6.checkIP('::1')).toBe('::1');
  });

  it('gives each leaf its own serial but one shared key', () => {
    const a = new X509Certificate(ca.leafCertPem('a.example'));
    const b = new X509Certificate(ca.leafCertPem('b.example'));
    const c = new X509Certificate(ca.leafCertPem('127.0.0.1'));
    const spki = (x: X509Certificate) => x.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
    expect(spki(a)).toBe(spki(b));
    expect(spki(a)).toBe(spki(c));
    expect(spki(a)).not.toBe(spki(new X509Certificate(ca.certPem)));
    expect(a.serialNumber).not.toBe(b.serialNumber);
  });

  it('caches the context per host (case and trailing dot do not matter)', () => {
    const first = ca.secureContext('cache.example');
    expect(ca.secureContext('cache.example')).toBe(first);
    expect(ca.secureContext('CACHE.example.')).toBe(first);
    expect(ca.secureContext('other.example')).not.toBe(first);
  });

  it('evicts the least recently used context beyond the cache size', () => {
    const small = createAuthority({ cacheSize: 2 });
    const a = small.secureContext('a.example');
    const b = small.secureContext('b.example');
    expect(small.secureContext('a.example')).toBe(a); // a is now the most recent
    small.secureContext('c.example'); // evicts b
    expect(small.secureContext('a.example')).toBe(a);
    expect(small.secureContext('b.example')).not.toBe(b);
  });

  it('refuses names that are neither DNS names nor IP addresses', () => {
    for (const bad of ['', '.', 'a..b', 'x y', 'host/evil', '*.example.com', 'a'.repeat(64) + '.com']) {
      expect(() => ca.secureContext(bad), bad).toThrow(/cannot issue a certificate/);
    }
    expect(leafName('Example.COM.')).toEqual({ name: 'example.com', ip: false });
    expect(leafName('[2001:db8::1]')).toEqual({ name: '2001:db8::1', ip: true });
  });

  it('warm() makes the one leaf key ahead of time; every host then gets a leaf with that key (a signature, no new key)', async () => {
    const fresh = createAuthority();
    await fresh.warm();
    await fresh.warm(); // idempotent
    fresh.secureContext('new.example');
    const keyOf = (host: string) => new X509Certificate(fresh.leafCertPem(host)).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
    expect(keyOf('new.example')).toBe(keyOf('other.example'));
    expect(new X509Certificate(fresh.leafCertPem('new.example')).subject).toContain('new.example');
  });
});

describe('a real TLS handshake', () => {
  let server: tls.Server;
  let port: number;
  beforeAll(async () => {
    server = tls.createServer(
      { SNICallback: (servername, cb) => { try { cb(null, ca.secureContext(servername)); } catch (e) { cb(e as Error); } } },
      (socket) => socket.end('hello from ' + (socket as tls.TLSSocket & { servername?: string }).servername),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  function connect(options: tls.ConnectionOptions): Promise<{ data: string; peer: X509Certificate | undefined; chain: number }> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...options }, () => {
        // In this order: after getPeerX509Certificate(), getPeerCertificate(true) comes back empty (Node 24).
        const chain = socket.getPeerCertificate(true);
        const peer = socket.getPeerX509Certificate();
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (d) => (data += d));
        socket.on('end', () => resolve({ data, peer, chain: chain.issuerCertificate && chain.issuerCertificate !== chain ? 2 : 1 }));
      });
      socket.on('error', reject);
    });
  }

  it('succeeds for a client that trusts the CA, with the host checked', async () => {
    const r = await connect({ ca: ca.certPem, servername: 'api.example.com' });
    expect(r.data).toBe('hello from api.example.com');
    expect(r.peer?.subject).toBe('CN=api.example.com');
    expect(r.chain).toBe(2); // the server sends leaf + CA
  });

  it('succeeds for another host with the same server, a new leaf on demand', async () => {
    const r = await connect({ ca: ca.certPem, servername: 'registry.npmjs.org' });
    expect(r.peer?.subjectAltName).toBe('DNS:registry.npmjs.org');
  });

  it('fails for a client that does not trust the CA', async () => {
    await expect(connect({ servername: 'api.example.com' })).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/) });
    await expect(connect({ ca: createAuthority().certPem, servername: 'api.example.com' })).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT/) });
  });

  it('fails when the name does not match the leaf', async () => {
    await expect(
      connect({ ca: ca.certPem, servername: 'api.example.com', checkServerIdentity: (_h, cert) => tls.checkServerIdentity('evil.example.com', cert) }),
    ).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});

describe('subject hash', () => {
  it('is what `openssl x509 -hash` prints for the CA, whatever its name', () => {
    for (const commonName of ['claude-bottle CA demo-abc12', 'claude-bottle CA A  Mixed   Case-Name_x', `claude-bottle CA ${'long-agent-name-'.repeat(10)}abcde`]) {
      const a = createAuthority({ commonName });
      const dir = mkdtempSync(path.join(tmpdir(), 'hash-'));
      try {
        writeFileSync(path.join(dir, 'ca.pem'), a.certPem);
        expect(a.subjectHash).toBe(execFileSync('openssl', ['x509', '-hash', '-noout', '-in', path.join(dir, 'ca.pem')], { encoding: 'utf8' }).trim());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

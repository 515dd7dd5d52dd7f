// An upstream that echoes the request (a debug endpoint, an error page) must
// not hand the guest the real credential the proxy injected, plain or in the
// encodings an echo uses: base64 (at every alignment), base64url, hex and
// percent-encoding.
import { describe, expect, it } from 'vitest';
import { encodedForms, MaskStream, secretsOf, type Secret } from '../../../../../plugins/egress/proxy/mask.ts';

const REAL = ['sk-ant-api03', 'Rz8uQ4vW1xY6zA2bC9dE', 'f0gH7iJ3kL5mN'].join('-');

async function through(secrets: Secret[], text: string, chunk = 7): Promise<string> {
  const m = new MaskStream(secrets);
  const out: Buffer[] = [];
  m.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => m.on('end', r));
  const b = Buffer.from(text, 'latin1');
  for (let i = 0; i < b.length; i += chunk) m.write(b.subarray(i, i + chunk));
  m.end();
  await done;
  return Buffer.concat(out).toString('latin1');
}

/** The longest run of the secret's characters (8 or more) found in `text`, or ''. */
function longestPiece(text: string, secret: string): string {
  let best = '';
  for (let i = 0; i < secret.length; i++) {
    for (let j = i + Math.max(8, best.length + 1); j <= secret.length; j++) {
      if (text.includes(secret.slice(i, j))) best = secret.slice(i, j);
      else break;
    }
  }
  return best;
}

describe('response masking of encoded echoes', () => {
  const secrets = secretsOf(`Bearer ${REAL}`);
  const decoders: Record<string, (s: string) => string> = {
    base64: (s) => Buffer.from(s.replace(/\*/g, 'A'), 'base64').toString('latin1'),
    base64url: (s) => Buffer.from(s.replace(/\*/g, 'A'), 'base64url').toString('latin1'),
    hex: (s) => Buffer.from(s.replace(/\*/g, '0'), 'hex').toString('latin1'),
    HEX: (s) => Buffer.from(s.replace(/\*/g, '0'), 'hex').toString('latin1'),
    url: (s) => decodeURIComponent(s.replace(/\*/g, '')),
  };
  const encoders: Record<string, (s: string) => string> = {
    base64: (s) => Buffer.from(s, 'latin1').toString('base64'),
    base64url: (s) => Buffer.from(s, 'latin1').toString('base64url'),
    hex: (s) => Buffer.from(s, 'latin1').toString('hex'),
    HEX: (s) => Buffer.from(s, 'latin1').toString('hex').toUpperCase(),
    url: (s) => [...Buffer.from(s, 'latin1')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  };

  for (const name of Object.keys(encoders)) {
    it(`an echo of the headers in ${name}, at every alignment, does not give the key back`, async () => {
      for (let pad = 0; pad < 6; pad++) {
        const echoed = `{"headers":{"host":"api.test","${'x'.repeat(pad)}authorization":"Bearer ${REAL}","accept":"*/*"}}`;
        const body = `{"echo":"${encoders[name]!(echoed)}"}`;
        const masked = await through(secrets, body);
        const back = decoders[name]!(masked.slice(9, -2));
        expect(back, `${name} pad ${pad}`).not.toContain(REAL);
        // At most a few characters at each end survive.
        expect(longestPiece(back, REAL).length, `${name} pad ${pad}`).toBeLessThan(8);
      }
    });
  }

  it('percent-encoding as encodeURIComponent writes it is masked too', async () => {
    const withSpecials = 'tok/en+with=specials&more-0123456789';
    const out = await through(secretsOf(withSpecials), `?q=${encodeURIComponent(withSpecials)}&x=1`);
    expect(out).toBe(`?q=${'*'.repeat(encodeURIComponent(withSpecials).length)}&x=1`);
  });

  it('wrapped base64 (MIME CRLF at 76, JSON \\n at 64), JSON-escaped slashes, mixed-case hex and partial percent-encoding are masked too', async () => {
    const tok = 'sk-ant-api03-AbC?dEf>gHi~jKl?mNo>pQr~sTu?vWx>yZ0~123?456>789';
    const sec = secretsOf(`Bearer ${tok}`);
    const b64 = (t: string) => Buffer.from(t, 'latin1').toString('base64');
    let n = 0;
    const echoes = [
      (b64(`Authorization: Bearer ${tok}`).match(/.{1,76}/g) ?? []).join('\r\n'),
      (b64(`Authorization: Bearer ${tok}`).match(/.{1,64}/g) ?? []).join('\\n'),
      ...['', 'x', 'xy'].map((pad) => JSON.stringify(b64(`${pad}Authorization: Bearer ${tok}`)).replace(/\//g, '\\/')),
      `Bearer ${tok}`.replace(/\//g, '\\/'),
      Buffer.from(`Bearer ${tok}`).toString('hex').replace(/[a-f]/g, (c) => (n++ % 2 ? c.toUpperCase() : c)),
      encodeURIComponent(`Bearer ${tok}`).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    ];
    for (const echo of echoes) {
      const out = await through(sec, echo, 5);
      const joined = out.replace(/\\r\\n|\\n|\r?\n/g, '').replace(/\\\//g, '/');
      const readBack = [out, joined, decodeURIComponent(joined.replace(/%(?![0-9a-fA-F]{2})/g, '%25'))];
      for (const run of joined.match(/[A-Za-z0-9+/_-]{16,}/g) ?? []) for (let o = 0; o < 4; o++) readBack.push(Buffer.from(run.slice(o), 'base64').toString('latin1'));
      for (const run of joined.match(/[0-9a-fA-F]{16,}/g) ?? []) for (let o = 0; o < 2; o++) readBack.push(Buffer.from(run.slice(o), 'hex').toString('latin1'));
      for (const t of readBack) expect(longestPiece(t, tok).length, echo.slice(0, 40)).toBeLessThan(8);
    }
  });

  it('ordinary text is left alone: the forms are long and specific', async () => {
    const text = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n{"id":"msg_01","content":[{"type":"text","text":"hello"}]}';
    expect(await through(secrets, text)).toBe(text);
    for (const f of encodedForms(REAL)) expect(f.form.length).toBeGreaterThanOrEqual(20);
  });
});

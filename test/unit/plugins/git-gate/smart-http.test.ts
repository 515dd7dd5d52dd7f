// Which requests the gate serves, and how it refuses the rest, decided from
// a request's head alone (no listener): the status a client gets, its text.
import { describe, expect, it } from 'vitest';
import { FLUSH, pkt } from '../../../../plugins/git-gate/pktline.ts';
import { type RequestHead, route, servicePrefix, wantsV2 } from '../../../../plugins/git-gate/smart-http.ts';

const REMOTES = ['app', 'lib'];
const UPLOAD = { 'content-type': 'application/x-git-upload-pack-request' };
const RECEIVE = { 'content-type': 'application/x-git-receive-pack-request' };
const ask = (method: string, url: string, headers: Record<string, string> = {}): RequestHead => ({ method, url, headers });

describe('route: what is refused', () => {
  it.each([
    ['an unknown remote', ask('GET', '/nope.git/info/refs?service=git-upload-pack'), 404, 'git-gate: no remote named "nope" (remotes: app, lib)'],
    ['a push to an unknown remote', ask('POST', '/nope.git/git-receive-pack', RECEIVE), 404, 'git-gate: no remote named "nope"'],
    ['the dumb protocol: HEAD', ask('GET', '/app.git/HEAD'), 404, 'git-gate: not a git URL of this gate (http://127.0.0.1:9418/<remote>.git)'],
    ['the dumb protocol: config', ask('GET', '/app.git/config'), 404, 'git-gate: not a git URL of this gate'],
    ['the dumb protocol: objects', ask('GET', '/app.git/objects/info/packs'), 404, 'git-gate: not a git URL of this gate'],
    ['a remote without .git', ask('GET', '/app/info/refs?service=git-upload-pack'), 404, 'git-gate: not a git URL of this gate'],
    ['the root', ask('GET', '/'), 404, 'git-gate: not a git URL of this gate'],
    ['info/refs without a service (dumb HTTP)', ask('GET', '/app.git/info/refs'), 403, 'git-gate: smart HTTP only (service=git-upload-pack or git-receive-pack)'],
    ['info/refs for another service', ask('GET', '/app.git/info/refs?service=git-upload-archive'), 403, 'git-gate: smart HTTP only'],
    ['info/refs by POST', ask('POST', '/app.git/info/refs?service=git-upload-pack'), 405, 'git-gate: GET only'],
    ['upload-pack by GET', ask('GET', '/app.git/git-upload-pack'), 405, 'git-gate: POST only'],
    ['receive-pack by PUT', ask('PUT', '/app.git/git-receive-pack', RECEIVE), 405, 'git-gate: POST only'],
    ['upload-pack with a text body', ask('POST', '/app.git/git-upload-pack', { 'content-type': 'text/plain' }), 415, 'git-gate: expected Content-Type application/x-git-upload-pack-request'],
    ['upload-pack without a Content-Type', ask('POST', '/app.git/git-upload-pack'), 415, 'git-gate: expected Content-Type application/x-git-upload-pack-request'],
    ["receive-pack with upload-pack's Content-Type", ask('POST', '/app.git/git-receive-pack', UPLOAD), 415, 'git-gate: expected Content-Type application/x-git-receive-pack-request'],
    ['a body in brotli', ask('POST', '/app.git/git-upload-pack', { ...UPLOAD, 'content-encoding': 'br' }), 415, 'git-gate: unsupported Content-Encoding br'],
    ['a push body deflated', ask('POST', '/app.git/git-receive-pack', { ...RECEIVE, 'content-encoding': 'Deflate' }), 415, 'git-gate: unsupported Content-Encoding deflate'],
  ])('%s: %i', (_what, req, status, text) => {
    const to = route(req, REMOTES);
    expect(to).toEqual({ to: 'refuse', status, text: expect.stringContaining(text) });
  });

  it('names no remotes when it serves none', () => {
    expect(route(ask('GET', '/app.git/info/refs?service=git-upload-pack'), [])).toEqual({
      to: 'refuse',
      status: 404,
      text: 'git-gate: no remote named "app" (remotes: none)',
    });
  });
});

describe('route: what is served', () => {
  it.each([
    ['a fetch advertisement', ask('GET', '/app.git/info/refs?service=git-upload-pack'), { to: 'info/refs', remote: 'app', service: 'git-upload-pack' }],
    ['a push advertisement, HEAD only', ask('HEAD', '/lib.git/info/refs?service=git-receive-pack'), { to: 'info/refs', remote: 'lib', service: 'git-receive-pack' }],
    ['a fetch', ask('POST', '/app.git/git-upload-pack', UPLOAD), { to: 'git-upload-pack', remote: 'app', gzip: false }],
    ['a gzipped fetch', ask('POST', '/app.git/git-upload-pack', { ...UPLOAD, 'content-encoding': 'gzip' }), { to: 'git-upload-pack', remote: 'app', gzip: true }],
    ['x-gzip, in capitals', ask('POST', '/app.git/git-upload-pack', { ...UPLOAD, 'content-encoding': 'X-GZIP' }), { to: 'git-upload-pack', remote: 'app', gzip: true }],
    ['identity', ask('POST', '/app.git/git-upload-pack', { ...UPLOAD, 'content-encoding': 'identity' }), { to: 'git-upload-pack', remote: 'app', gzip: false }],
    ['a push', ask('POST', '/lib.git/git-receive-pack', RECEIVE), { to: 'git-receive-pack', remote: 'lib', gzip: false }],
    ['a push with a query string', ask('POST', '/app.git/git-receive-pack?x=1', RECEIVE), { to: 'git-receive-pack', remote: 'app', gzip: false }],
  ])('%s', (_what, req, expected) => {
    expect(route(req, REMOTES)).toEqual(expected);
  });
});

describe('protocol details', () => {
  it.each([
    ['version=2', true],
    ['version=1', false],
    ['object-format=sha1:version=2', true],
    ['version=2:object-format=sha1', true],
    ['version=22', false],
    ['', false],
  ])('Git-Protocol %j asks for v2: %s', (value, v2) => {
    expect(wantsV2({ headers: value ? { 'git-protocol': value } : {} })).toBe(v2);
  });

  it('opens a v0 advertisement with the service packet and a flush, as git clients expect', () => {
    expect(servicePrefix('git-upload-pack').equals(Buffer.concat([pkt('# service=git-upload-pack\n'), FLUSH]))).toBe(true);
    expect(servicePrefix('git-receive-pack').toString()).toBe('001f# service=git-receive-pack\n0000');
  });
});

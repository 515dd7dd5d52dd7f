// What a model may write into request_egress and request_push, and what the
// human is then asked about: the canonical host or ref, or a refusal whose
// message tells the model why (nothing is queued for a refused input).
import { describe, expect, it } from 'vitest';
import { egressTarget, pushRef } from '../../../../plugins/supervise/inputs.ts';

describe('egressTarget', () => {
  it.each([
    ['pypi.org', 'pypi.org'],
    ['  pypi.org  ', 'pypi.org'],
    ['PyPI.org.', 'pypi.org'],
    ['https://files.pythonhosted.org/packages/x', 'files.pythonhosted.org'],
    ['HTTPS://user:pw@Example.com:8443/x?y#z', 'example.com'],
    ['registry.npmjs.org:443', 'registry.npmjs.org'],
    ['*.cdn.example.com', '*.cdn.example.com'],
    ['*.example.com:443', '*.example.com'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['8.8.8.8', '8.8.8.8'],
    ['8.8.8.8:53', '8.8.8.8'],
    ['[2001:4860:4860::8888]:443', '2001:4860:4860::8888'],
    ['https://[2001:4860:4860::8888]/', '2001:4860:4860::8888'],
  ])('%j is asked for as %s', (input, host) => {
    expect(egressTarget(input)).toBe(host);
  });

  it.each([
    ['169.254.169.254', /"169\.254\.169\.254" is this machine, a private network or a cloud metadata address/],
    ['10.0.0.1', /private network/],
    ['127.0.0.1:8080', /"127\.0\.0\.1" is this machine/],
    ['2130706433', /"127\.0\.0\.1" is this machine/],
    ['[::ffff:127.0.0.1]', /"127\.0\.0\.1" is this machine/],
    ['http://[::1]/', /"::1" is this machine/],
    ['localhost', /this machine/],
    ['metadata.google.internal', /this machine/],
    ['*.github.io', /public suffix/],
    ['*.githubusercontent.com', /public suffix/],
    ['http://', /is not a valid URL; give just the host name/],
    ['', /empty/],
    ['*.com', /whole top-level domain/],
    ['a/b', /must be a host, not a URL/],
    ['localhost:', /without a port/],
    ['pypi.org:443:1', /not a valid host name/],
    ['x.org:abc', /not a valid host name/],
  ])('%j is refused (%s)', (input, why) => {
    expect(() => egressTarget(input)).toThrow(why);
  });
});

describe('pushRef', () => {
  it.each([
    ['main', 'refs/heads/main'],
    [' main ', 'refs/heads/main'],
    ['refs/heads/feature/x', 'refs/heads/feature/x'],
    ['claude/fix-1.2', 'refs/heads/claude/fix-1.2'],
    ['user@feature', 'refs/heads/user@feature'],
    ['a+b_c', 'refs/heads/a+b_c'],
  ])('%j is asked for as %s', (input, ref) => {
    expect(pushRef(input)).toBe(ref);
  });

  it.each([
    ['refs/tags/v1', /only branches \(refs\/heads\/\.\.\.\) can be pushed/],
    ['refs/remotes/origin/x', /only branches/],
    ['', /it is empty/],
    ['refs/heads/', /it is empty/],
    ['x'.repeat(201), /longer than 200 characters/],
    ['a b', /letters, digits and \. _ \/ \+ @ - only/],
    ['a~1', /letters, digits/],
    ['a^', /letters, digits/],
    ['a:b', /letters, digits/],
    ['a*', /letters, digits/],
    ['a\\b', /letters, digits/],
    ['-f', /starts with "-"/],
    ['refs/heads/-f', /starts with "-"/],
    ['HEAD', /"HEAD" names no branch/],
    ['@', /"@" names no branch/],
    ['a..b', /contains "\.\.", "@\{" or "\/\/"/],
    ['a@{1}', /letters, digits/], // `{` is refused before the "@{" rule is reached
    ['a//b', /contains/],
    ['/a', /starts or ends with "\/"/],
    ['a/', /starts or ends with "\/"/],
    ['a.', /ends with "\."/],
    ['.a', /a component starts with "\." or ends with "\.lock"/],
    ['a/.b', /a component starts with "\."/],
    ['x.lock', /ends with "\.lock"/],
    ['a.lock/b', /ends with "\.lock"/],
  ])('%j is refused (%s)', (input, why) => {
    expect(() => pushRef(input)).toThrow(why);
  });

  it('shows a refused input to the model without its escape sequences', () => {
    expect(() => pushRef('a\u001b[31mb')).toThrow(/^"a␛\[31mb" is not a valid branch name/);
  });
});

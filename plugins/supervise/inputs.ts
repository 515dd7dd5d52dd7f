// What a model writes into request_egress and request_push, made canonical:
// a host or `*.` pattern for the proxy, a full branch ref for the git gate.
// Anything else is an Error whose message goes back to the model as written.
import { refuseRiskyPattern, validatePattern } from '../../lib/hosts.ts';
import { sanitize } from '../../lib/sanitize.ts';

/** A host or `*.` pattern from what a model may write (`https://x.org/path`, `x.org:443`), canonical; or an Error. */
export function egressTarget(input: string): string {
  let s = input.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) {
    try {
      s = new URL(s).hostname;
    } catch {
      throw new Error(`${JSON.stringify(sanitize(input, { singleLine: true, maxLength: 200 }))} is not a valid URL; give just the host name, e.g. "pypi.org"`);
    }
    if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  } else {
    const port = /^([^:[\]]+):\d{1,5}$/.exec(s) ?? /^\[([^\]]+)\]:\d{1,5}$/.exec(s);
    if (port) s = port[1]!;
  }
  const pattern = validatePattern(s);
  // What no config may allow (this machine, private networks, metadata, a
  // wildcard over a public suffix) no approval may either: refused before the human is asked.
  refuseRiskyPattern(pattern);
  return pattern;
}

/** Narrower than git's own rules (check-ref-format): the human reads the ref, so nothing in it should be hard to read. */
const REF_CHARS = /^[A-Za-z0-9._\/+@-]+$/;

/** `refs/heads/<branch>` for a branch name or a full branch ref; an Error for anything else. */
export function pushRef(input: string): string {
  const s = input.trim();
  const shown = JSON.stringify(sanitize(s, { singleLine: true, maxLength: 200 }));
  let branch: string;
  if (s.startsWith('refs/')) {
    if (!s.startsWith('refs/heads/')) throw new Error(`${shown}: only branches (refs/heads/...) can be pushed through the gate; tags and other refs never can`);
    branch = s.slice('refs/heads/'.length);
  } else branch = s;
  const bad = (why: string) => new Error(`${shown} is not a valid branch name: ${why}`);
  if (!branch) throw bad('it is empty');
  if (branch.length > 200) throw bad('it is longer than 200 characters');
  if (!REF_CHARS.test(branch)) throw bad('use letters, digits and . _ / + @ - only');
  if (branch.startsWith('-')) throw bad('it starts with "-"');
  if (branch === '@' || branch === 'HEAD') throw bad(`"${branch}" names no branch`);
  if (branch.includes('..') || branch.includes('@{') || branch.includes('//')) throw bad('it contains "..", "@{" or "//"');
  if (branch.startsWith('/') || branch.endsWith('/') || branch.endsWith('.')) throw bad('it starts or ends with "/", or ends with "."');
  for (const part of branch.split('/')) {
    if (part.startsWith('.') || part.endsWith('.lock')) throw bad('a component starts with "." or ends with ".lock"');
  }
  return `refs/heads/${branch}`;
}

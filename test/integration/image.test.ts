// The agent image, built for real from image/Dockerfile on a local base image
// (no registry needed): what a user of the image would notice.

import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BottleError } from '../../core/errors.ts';
import { agentImageExists, buildAgentImage } from '../../core/image/build.ts';
import { resolveClaudeVersion } from '../../core/image/claude-binary.ts';
import { dockerAvailable } from '../helpers/docker.ts';

const base = process.env['BOTTLE_TEST_BASE_IMAGE'] ?? 'claude-bottle-base:bookworm';
const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
const tag = `claude-bottle-agent-test:${suffix}`;
const version = resolveClaudeVersion();

/** Runs a command in a throwaway container of the test image, with no network. */
async function inImage(args: string[], user?: string): Promise<string> {
  const r = await execa('docker', ['run', '--rm', '--network', 'none', ...(user ? ['--user', user] : []), tag, ...args], {
    stdin: 'ignore',
  });
  return String(r.stdout).trim();
}

describe.skipIf(!dockerAvailable)('agent image', () => {
  const log: string[] = [];

  beforeAll(async () => {
    const started = Date.now();
    try {
      await buildAgentImage({ tag, base, claudeVersion: version, onProgress: (m) => log.push(m) });
    } catch (e) {
      // Show the build output: it is the only clue when this fails.
      console.error(log.slice(-40).join('\n'));
      throw e;
    }
    console.info(`agent image ${tag} built on ${base} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  /** Throwaway images derived from the base (removed in afterAll). */
  const derived: string[] = [];
  async function deriveBase(name: string, script: string): Promise<string> {
    const container = `claude-bottle-test-${name}-${suffix}`;
    const image = `claude-bottle-test-base:${name}-${suffix}`;
    await execa('docker', ['run', '--name', container, '--network', 'none', base, 'sh', '-c', script], { stdin: 'ignore' });
    try {
      await execa('docker', ['commit', container, image], { stdin: 'ignore' });
    } finally {
      await execa('docker', ['rm', '--force', container], { reject: false, stdin: 'ignore' });
    }
    derived.push(image);
    return image;
  }

  /** The BottleError a build on `from` fails with. */
  async function buildError(from: string): Promise<BottleError> {
    const err = await buildAgentImage({ tag: `${tag}-bad`, base: from, claudeVersion: version }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BottleError);
    return err as BottleError;
  }

  afterAll(async () => {
    for (const image of [tag, `${tag}-bad`, ...derived]) {
      await execa('docker', ['image', 'rm', '--force', image], { reject: false, stdin: 'ignore' });
    }
  }, 120_000);

  it('exists under its tag, labelled as the agent image with its Claude Code version', async () => {
    expect(await agentImageExists(tag)).toBe(true);
    const { stdout } = await execa('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', tag]);
    const labels = JSON.parse(stdout) as Record<string, string>;
    expect(labels['claude-bottle.image']).toBe('agent');
    expect(labels['claude-bottle.claude-version']).toBe(version);
  });

  it('has user node with uid 1000 and gid 1000', async () => {
    const id = await inImage(['id', 'node']);
    expect(id).toMatch(/^uid=1000\(node\) gid=1000\(node\)/);
    expect(await inImage(['sh', '-c', 'echo "$HOME"'], 'node')).toBe('/home/node');
  }, 60_000);

  it('runs claude --version as node and prints the pinned version', async () => {
    const out = await inImage(['claude', '--version'], 'node');
    expect(out).toContain(version);
    expect(out).toMatch(/Claude Code/);
  }, 60_000);

  it('provides git, curl, openssl, runuser, perl and the system CA bundle', async () => {
    const out = await inImage(['sh', '-c', 'for t in git curl openssl runuser perl; do command -v "$t" || echo "MISSING $t"; done; test -f /etc/ssl/certs/ca-certificates.crt || echo "MISSING bundle"']);
    expect(out).not.toMatch(/MISSING/);
    expect(out.split('\n')).toHaveLength(5);
    // runuser is what the runtime uses to drop to node.
    expect(await inImage(['runuser', '-u', 'node', '--', 'id', '-un'])).toBe('node');
  }, 60_000);

  it('has /home/node/workspace and /home/node/.claude owned by node, workspace as workdir', async () => {
    const out = await inImage(['stat', '-c', '%U:%G %n', '/home/node', '/home/node/workspace', '/home/node/.claude']);
    expect(out.split('\n')).toEqual([
      'node:node /home/node',
      'node:node /home/node/workspace',
      'node:node /home/node/.claude',
    ]);
    expect(await inImage(['pwd'], 'node')).toBe('/home/node/workspace');
    // node can write there.
    expect(await inImage(['sh', '-c', 'touch /home/node/workspace/x /home/node/.claude/x && echo ok'], 'node')).toBe('ok');
  }, 60_000);

  it('fails with a clear error naming the base when the base is neither local nor pullable', async () => {
    const missing = `claude-bottle-no-such-base-${suffix}:never`;
    const be = await buildError(missing);
    expect(be.code).toBe('IMAGE');
    expect(be.message).toContain(missing);
    expect(be.message).toMatch(/not present locally/);
    expect(be.hint).toContain('--base');
    expect(be.hint).toContain('BOTTLE_BASE_IMAGE');
    expect(be.hint).toContain('scripts/make-base-image.sh');
    expect(await agentImageExists(`${tag}-bad`)).toBe(false);
  }, 120_000);

  it('fails naming each tool the base lacks', async () => {
    const noGit = await deriveBase('nogit', 'rm -f "$(command -v git)" "$(command -v runuser)" "$(command -v perl)"');
    const be = await buildError(noGit);
    expect(be.code).toBe('IMAGE');
    expect(be.message).toContain(noGit);
    expect(be.message).toContain("the base image has no 'git'; the base must provide it");
    expect(be.message).toContain("the base image has no 'runuser'; the base must provide it");
    expect(be.message).toContain("the base image has no 'perl'; the base must provide it");
    expect(be.message).not.toMatch(/'curl'/);
    expect(be.hint).toContain('--base');
    expect(await agentImageExists(`${tag}-bad`)).toBe(false);
  }, 180_000);

  it('fails clearly when uid 1000 belongs to another user in the base', async () => {
    const taken = await deriveBase(
      'uid1000',
      // node images already have node as 1000: take it away first.
      'if id node >/dev/null 2>&1; then userdel --remove node; fi; if getent group node >/dev/null; then groupdel node; fi; ' +
        'useradd --uid 1000 --create-home alice',
    );
    const be = await buildError(taken);
    expect(be.code).toBe('IMAGE');
    expect(be.message).toContain("uid 1000 belongs to user 'alice'");
    expect(be.message).toContain("user 'node'");
  }, 180_000);
});

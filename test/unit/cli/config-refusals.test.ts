// Configs that look fine and give away more than they say: refused by
// `bottle plan` with exit 2, naming the file, the field and what to do.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN } from '../../helpers/cli.ts';

function plan(file: string, text: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'bottle-refuse-'));
  writeFileSync(path.join(dir, file), text);
  return execa(process.execPath, [BIN, 'plan'], { cwd: dir, reject: false, env: { BOTTLE_STATE_HOME: path.join(dir, '.state-outside'), ANTHROPIC_API_KEY: 'sk-ant-test-0123456789abcdef' } });
}

const withAllow = (allow: string[]) => JSON.stringify({ agents: { a: { bottle: 'dev', command: ['true'] } }, bottles: { dev: { workspace: 'none', egress: { allow } } } });

describe('egress allow entries that would open more than they name', () => {
  it.each([
    ['*.co.uk', /public suffix/],
    ['*.github.io', /public suffix/],
    ['localhost', /this machine, a private network or a cloud metadata/],
    ['10.0.0.1', /private network/],
    ['169.254.169.254', /metadata/],
    ['[::1]', /this machine/],
    ['0x7f.1', /this machine/],
  ])('%s: exit 2 naming the entry', async (entry, why) => {
    const r = await plan('bottle.config.json', withAllow(['example.com', entry]));
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bottle.config.json');
    expect(r.stderr).toContain('bottles.dev.egress.allow[1]');
    expect(r.stderr).toMatch(why);
  });

  it('ordinary hosts and wildcards under a registrable domain still plan', async () => {
    const r = await plan('bottle.config.json', withAllow(['registry.npmjs.org', '*.example.co.uk', '*.githubusercontent.example.com', '93.184.215.14']));
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });
});

describe('duplicate keys in a JSON config', () => {
  it('exit 2 naming the key, where it is and the line', async () => {
    const text = '{\n  "agents": { "a": { "bottle": "dev" } },\n  "bottles": {\n    "dev": {\n      "egress": { "allow": ["a.example.com"], "allow": ["b.example.com"] }\n    }\n  }\n}\n';
    const r = await plan('bottle.config.json', text);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('bottle.config.json');
    expect(r.stderr).toContain('bottles.dev.egress');
    expect(r.stderr).toContain('"allow" appears twice');
    expect(r.stderr).toContain('line 5');
  });

  it('in .bottlerc and in package.json\'s "bottle" (but not elsewhere in package.json)', async () => {
    const rc = await plan('.bottlerc', '{"agents": {"a": {"bottle": "x"}}, "agents": {"b": {"bottle": "x"}}, "bottles": {"x": {}}}');
    expect(rc.exitCode).toBe(2);
    expect(rc.stderr).toContain('"agents" appears twice at the top level');
    const pkg = await plan('package.json', '{"name": "x", "bottle": {"agents": {"a": {"bottle": "x"}}, "bottles": {"x": {}, "x": {}}}}');
    expect(pkg.exitCode).toBe(2);
    expect(pkg.stderr).toContain('"x" appears twice');
    const elsewhere = await plan('package.json', '{"name": "x", "scripts": {"t": "a", "t": "b"}, "bottle": {"agents": {"a": {"bottle": "x", "command": ["true"]}}, "bottles": {"x": {"workspace": "none"}}}}');
    expect(elsewhere.exitCode).toBe(0);
  });
});

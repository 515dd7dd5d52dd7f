// Config errors name the file and the field, and say what is wrong; the CLI
// turns each into exit 2.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../core/config/load.ts';
import { BottleError } from '../../../../core/errors.ts';
import { BIN } from '../../../helpers/cli.ts';
import { builtinSchemaExtensions as extensions } from '../../../../plugins/index.ts';

function dirWith(file: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bottle-cfg-'));
  writeFileSync(path.join(dir, file), text);
  return dir;
}

async function configError(file: string, text: string): Promise<BottleError> {
  const dir = dirWith(file, text);
  try {
    await loadConfig({ cwd: dir, extensions });
  } catch (e) {
    expect(e).toBeInstanceOf(BottleError);
    expect((e as BottleError).exitCode).toBe(2);
    return e as BottleError;
  }
  throw new Error('expected a config error');
}

const good = `agents: { demo: { bottle: 'dev' } }, bottles: { dev: {} }`;

describe('config loading', () => {
  it('loads bottle.config.ts with types stripped, applying defaults', async () => {
    const dir = dirWith('bottle.config.ts', `const workspace: 'copy' | 'mount' = 'mount';\nexport default { agents: { demo: { bottle: 'dev' } }, bottles: { dev: { workspace } } };\n`);
    const { config, file } = await loadConfig({ cwd: dir, extensions });
    expect(file).toBe(path.join(dir, 'bottle.config.ts'));
    expect(config.backend).toBe('docker');
    expect(config.image).toBe('claude-bottle-agent:latest');
    expect(config.agents.demo).toEqual({ bottle: 'dev', prompt: '', skills: [], command: ['claude'] });
    expect(config.bottles.dev).toMatchObject({ workspace: 'mount', env: {} });
  });

  it('finds the config from a subdirectory, upward', async () => {
    const dir = dirWith('bottle.config.json', JSON.stringify({ agents: { a: { bottle: 'b' } }, bottles: { b: {} } }));
    const sub = path.join(dir, 'src', 'deep');
    (await import('node:fs')).mkdirSync(sub, { recursive: true });
    expect((await loadConfig({ cwd: sub, extensions })).file).toBe(path.join(dir, 'bottle.config.json'));
  });

  it('reads the "bottle" key of package.json', async () => {
    const dir = dirWith('package.json', JSON.stringify({ name: 'x', bottle: { agents: { a: { bottle: 'b' } }, bottles: { b: {} } } }));
    expect(Object.keys((await loadConfig({ cwd: dir, extensions })).config.agents)).toEqual(['a']);
  });

  it('drops falsy plugin entries', async () => {
    const dir = dirWith('bottle.config.mjs', `export default { ${good}, plugins: [false, null, undefined, { name: 'p', apply() {} }] };`);
    expect((await loadConfig({ cwd: dir, extensions })).config.plugins.map((p) => p.name)).toEqual(['p']);
  });

  it('a syntax error names the file, the line and the column, with the parser\'s words', async () => {
    const e = await configError('bottle.config.ts', `export default { agents: { ;`);
    expect(e.message).toMatch(/^bottle\.config\.ts: cannot be loaded: line 1, column 2\d: \S/);
    const ts = await configError('bottle.config.ts', `const n: number = ;\nexport default {};\n`);
    expect(ts.message).toBe('bottle.config.ts: cannot be loaded: line 1, column 19: Expression expected');
    const json = await configError('bottle.config.json', `{\n  "agents": {\n    "a": { "bottle": "dev", }\n  }\n}\n`);
    expect(json.message).toBe('bottle.config.json: cannot be loaded: line 3, column 29: Expected double-quoted property name');
    const yaml = await configError('bottle.config.yaml', `agents:\n  a:\n    bottle: dev\nbottles:\n  dev: {\n`);
    expect(yaml.message).toBe('bottle.config.yaml: cannot be loaded: line 6, column 1: deficient indentation');
  });

  it('reads YAML configs: bottle.config.yaml, .yml and .bottlerc', async () => {
    for (const name of ['bottle.config.yaml', 'bottle.config.yml', '.bottlerc', '.bottlerc.yaml']) {
      const dir = dirWith(name, `agents:\n  demo:\n    bottle: dev\nbottles:\n  dev:\n    workspace: none\n`);
      const { config, file } = await loadConfig({ cwd: dir, extensions });
      expect(file).toBe(path.join(dir, name));
      expect(config.bottles.dev!.workspace).toBe('none');
    }
  });

  it('a config file of a format bottle does not read is an error naming it, never the default config', async () => {
    const e = await configError('bottle.config.toml', `[agents.demo]\nbottle = "dev"\n`);
    expect(e.message).toBe('bottle.config.toml: is not a config format bottle reads');
    expect(e.hint).toContain('bottle.config.yaml');
  });

  it('an unknown key names its path', async () => {
    const e = await configError('bottle.config.ts', `export default { ${good.replace('dev: {}', 'dev: { workspce: "copy" }')} };`);
    expect(e.message).toBe('bottle.config.ts: bottles.dev: unknown key "workspce"');
  });

  it('a wrong type names the field and both types', async () => {
    const e = await configError('bottle.config.json', JSON.stringify({ agents: { demo: { bottle: 'dev', command: 'claude' } }, bottles: { dev: {} } }));
    expect(e.message).toBe('bottle.config.json: agents.demo.command: expected array, got string "claude"');
  });

  it('a bad enum value lists the allowed ones', async () => {
    const e = await configError('bottle.config.json', JSON.stringify({ agents: { demo: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copyy' } } }));
    expect(e.message).toBe('bottle.config.json: bottles.dev.workspace: must be one of "copy", "mount", "none", got "copyy"');
  });

  it('an agent naming a missing bottle', async () => {
    const e = await configError('bottle.config.ts', `export default { agents: { demo: { bottle: 'prod' } }, bottles: { dev: {} } };`);
    expect(e.message).toBe('bottle.config.ts: agents.demo.bottle: no bottle named "prod" (bottles: dev)');
  });

  it('an empty file', async () => {
    const e = await configError('bottle.config.ts', '');
    expect(e.message).toMatch(/^bottle\.config\.ts: the file is empty or exports nothing/);
    expect(e.hint).toContain('export default defineConfig');
  });

  it('a missing required field', async () => {
    const e = await configError('bottle.config.json', JSON.stringify({ agents: { demo: { bottle: 'dev' } } }));
    expect(e.message).toBe('bottle.config.json: bottles: is required (record)');
  });

  it('--config naming a file that does not exist', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-cfg-'));
    await expect(loadConfig({ cwd: dir, file: 'nope.ts' })).rejects.toThrow('nope.ts: no such file');
  });

  it('no config file: the built-in default (Claude Code on this directory)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-cfg-'));
    const { config, file } = await loadConfig({ cwd: dir, extensions });
    expect(file).toBeUndefined();
    expect(Object.keys(config.agents)).toEqual(['claude']);
  });
});

describe('config errors through the CLI', () => {
  it('exit 2 with the file and field on stderr, nothing on stdout', async () => {
    const dir = dirWith('bottle.config.ts', `export default { agents: { demo: { bottle: 'prod' } }, bottles: { dev: {} } };`);
    const r = await execa(process.execPath, [BIN, 'plan'], { cwd: dir, reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('bottle.config.ts: agents.demo.bottle: no bottle named "prod"');
  });

  it('plan says which file it loaded', async () => {
    const dir = dirWith('.bottlerc', `agents:\n  demo:\n    bottle: dev\nbottles:\n  dev:\n    workspace: none\n`);
    const env = { ANTHROPIC_API_KEY: 'sk-ant-test-not-a-real-key-0123456789' };
    const r = await execa(process.execPath, [BIN, 'plan'], { cwd: dir, env, reject: false });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')[1]).toBe('  config     .bottlerc');
    const j = await execa(process.execPath, [BIN, 'plan', '--json'], { cwd: mkdtempSync(path.join(tmpdir(), 'bottle-cfg-')), env, reject: false });
    expect(JSON.parse(j.stdout).config).toBe('(built-in default config)');
  });

  it('unknown command and unknown option are usage errors (exit 2)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-cfg-'));
    expect((await execa(process.execPath, [BIN, 'frobnicate'], { cwd: dir, reject: false })).exitCode).toBe(2);
    expect((await execa(process.execPath, [BIN, 'plan', '--nope'], { cwd: dir, reject: false })).exitCode).toBe(2);
  });

  it('--help exits 0 and lists the commands', async () => {
    const r = await execa(process.execPath, [BIN, '--help'], { reject: false });
    expect(r.exitCode).toBe(0);
    for (const c of ['run', 'plan', 'ps', 'down', 'gc', 'doctor', 'image']) expect(r.stdout).toContain(c);
  });
});

// The config loader never runs or trusts a file a bottle's agent could have
// written: one changed inside a directory a bottle had mounted read-write,
// while it had it (the config itself, or any module it imports).
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../../core/config/load.ts';
import { BottleError } from '../../../../core/errors.ts';
import { endWritableMounts, readWritableSpans, recordWritableMounts, writableMountsPath } from '../../../../core/writable-mounts.ts';
import { builtinSchemaExtensions as extensions } from '../../../../plugins/index.ts';

/** Past the kernel's coarse clock (ctime may lag Date.now() by a few ms). */
const tick = () => new Promise((r) => setTimeout(r, 30));

function setup() {
  const base = mkdtempSync(path.join(tmpdir(), 'bottle-wm-'));
  const work = path.join(base, 'work');
  const state = path.join(base, 'state');
  return { base, work, state };
}

async function refusal(cwd: string, state: string): Promise<BottleError> {
  try {
    await loadConfig({ cwd, extensions, stateRoot: state });
  } catch (e) {
    expect(e).toBeInstanceOf(BottleError);
    expect((e as BottleError).exitCode).toBe(2);
    return e as BottleError;
  }
  throw new Error('expected the config to be refused');
}

describe('files a bottle could write are not loaded', () => {
  it('a config written while a bottle had the dir mounted is refused, naming the file and the bottle; after touch it loads', async () => {
    const { work, state } = setup();
    mkdirSync(work);
    recordWritableMounts(state, 'claude-aaaaa', [work]);
    await tick();
    writeFileSync(path.join(work, 'bottle.config.json'), JSON.stringify({ agents: { a: { bottle: 'b' } }, bottles: { b: {} } }));
    // Its mtime set back to last year changes nothing: ctime is what counts.
    utimesSync(path.join(work, 'bottle.config.json'), new Date('2025-01-01'), new Date('2025-01-01'));
    let e = await refusal(work, state);
    expect(e.message).toContain('bottle.config.json');
    expect(e.message).toContain('claude-aaaaa');
    expect(e.hint).toContain('bottle down claude-aaaaa');
    endWritableMounts(state, 'claude-aaaaa');
    e = await refusal(work, state);
    expect(e.hint).toContain('touch bottle.config.json');
    await tick();
    utimesSync(path.join(work, 'bottle.config.json'), new Date(), new Date());
    const ok = await loadConfig({ cwd: work, extensions, stateRoot: state });
    expect(Object.keys(ok.config.agents)).toEqual(['a']);
  });

  it('a module the config imports, changed in the span, is refused before it runs', async () => {
    const { work, state, base } = setup();
    mkdirSync(work);
    const marker = path.join(base, 'ran');
    writeFileSync(path.join(work, 'bottle.config.mjs'), `import './helper.mjs';\nexport default { agents: { a: { bottle: 'b' } }, bottles: { b: {} } };\n`);
    writeFileSync(path.join(work, 'helper.mjs'), '// the user\'s\n');
    await tick();
    recordWritableMounts(state, 'claude-bbbbb', [work]);
    await tick();
    writeFileSync(path.join(work, 'helper.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'x');\n`);
    endWritableMounts(state, 'claude-bbbbb');
    const e = await refusal(work, state);
    expect(e.message).toContain('helper.mjs');
    expect(() => readFileSync(marker)).toThrow();
  });

  it('a config or an import replaced by a symlink to an old file elsewhere is refused (the link is the agent\'s)', async () => {
    const { work, state, base } = setup();
    mkdirSync(work);
    const elsewhere = path.join(base, 'old.mjs');
    writeFileSync(elsewhere, `export default { agents: { a: { bottle: 'b' } }, bottles: { b: {} } };\n`);
    writeFileSync(path.join(work, 'bottle.config.mjs'), `import './helper.mjs';\nexport default { agents: { a: { bottle: 'b' } }, bottles: { b: {} } };\n`);
    writeFileSync(path.join(work, 'helper.mjs'), '// the user\'s\n');
    await tick();
    recordWritableMounts(state, 'claude-eeeee', [work]);
    await tick();
    unlinkSync(path.join(work, 'helper.mjs'));
    symlinkSync(elsewhere, path.join(work, 'helper.mjs'));
    endWritableMounts(state, 'claude-eeeee');
    expect((await refusal(work, state)).message).toContain('helper.mjs');
    unlinkSync(path.join(work, 'helper.mjs'));
    unlinkSync(path.join(work, 'bottle.config.mjs'));
    recordWritableMounts(state, 'claude-fffff', [work]);
    await tick();
    symlinkSync(elsewhere, path.join(work, 'bottle.config.mjs'));
    endWritableMounts(state, 'claude-fffff');
    expect((await refusal(work, state)).message).toContain('bottle.config.mjs');
  });

  it('files outside the mounted dir, or changed before the span, load as usual', async () => {
    const { work, state, base } = setup();
    mkdirSync(work);
    writeFileSync(path.join(work, 'bottle.config.json'), JSON.stringify({ agents: { a: { bottle: 'b' } }, bottles: { b: {} } }));
    await tick();
    recordWritableMounts(state, 'claude-ccccc', [work]);
    recordWritableMounts(state, 'claude-ddddd', [path.join(base, 'elsewhere')]);
    await expect(loadConfig({ cwd: work, extensions, stateRoot: state })).resolves.toBeDefined();
  });

  it('the record keeps each span and its end, and survives a torn line', () => {
    const { work, state } = setup();
    recordWritableMounts(state, 's1', [work], 1000);
    recordWritableMounts(state, 's2', [work, '/x'], 2000);
    endWritableMounts(state, 's1', 3000);
    writeFileSync(writableMountsPath(state), readFileSync(writableMountsPath(state), 'utf8') + '{"slug": "s3", "di');
    expect(readWritableSpans(state)).toEqual([
      { slug: 's1', dir: work, from: 1000, to: 3000 },
      { slug: 's2', dir: work, from: 2000 },
      { slug: 's2', dir: '/x', from: 2000 },
    ]);
  });
});

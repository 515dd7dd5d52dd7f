// The seeds' prompt contract: the file is always put in the guest (node, 600);
// --append-system-prompt-file only with a non-empty prompt, whenever the
// command is claude.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROMPT_GUEST_PATH } from '../../../plugins/prompt/index.ts';
import { kernelFor, oneAgent } from '../../helpers/plan.ts';

/** The prompt plugin alone: claude's own flags are tested in claude.test.ts. */
const ALONE = { disable: ['claude'] };

const promptFile = (files: readonly { guestPath: string }[]) => files.find((f) => f.guestPath === PROMPT_GUEST_PATH);

describe('prompt plugin', () => {
  it('puts the prompt in the guest, owned by node, mode 600, and adds the flag to claude', async () => {
    const { kernel } = kernelFor(oneAgent({ prompt: 'You are a helpful assistant.' }, {}, ALONE));
    const plan = await kernel.plan();
    expect(promptFile(plan.files)).toMatchObject({ content: 'You are a helpful assistant.', owner: 'node', mode: 0o600, plugin: 'prompt' });
    expect(plan.exec.argv).toEqual(['claude', '--append-system-prompt-file', PROMPT_GUEST_PATH]);
  });

  it('with no prompt the (empty) file is still copied, and no flag is added', async () => {
    const { kernel } = kernelFor(oneAgent({}, {}, ALONE));
    const plan = await kernel.plan();
    expect(promptFile(plan.files)).toMatchObject({ content: '', owner: 'node', mode: 0o600 });
    expect(plan.exec.argv).toEqual(['claude']);
  });

  it('adds the flag to `bottle run -- claude -p task` too, right after claude', async () => {
    const { kernel } = kernelFor(oneAgent({ prompt: 'P' }, {}, ALONE));
    const plan = await kernel.plan(['claude', '-p', 'task']);
    expect(plan.exec.argv).toEqual(['claude', '--append-system-prompt-file', PROMPT_GUEST_PATH, '-p', 'task']);
  });

  it('leaves other commands alone', async () => {
    const { kernel } = kernelFor(oneAgent({ prompt: 'P' }, {}, ALONE));
    expect((await kernel.plan(['sh', '-c', 'claude'])).exec.argv).toEqual(['sh', '-c', 'claude']);
  });

  it('reads promptFile relative to the config file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bottle-prompt-'));
    writeFileSync(path.join(dir, 'demo.md'), 'from a file\n');
    const { kernel } = kernelFor(oneAgent({ promptFile: './demo.md' }), { configDir: dir });
    expect(promptFile((await kernel.plan()).files)).toMatchObject({ content: 'from a file\n' });
  });

  it('a missing promptFile is a config error naming the field', async () => {
    const { kernel } = kernelFor(oneAgent({ promptFile: './nope.md' }), { configDir: '/nonexistent' });
    await expect(kernel.plan()).rejects.toThrow('bottle.config.ts: agents.demo.promptFile: cannot read /nonexistent/nope.md: ENOENT');
  });

  it('prompt and promptFile together are refused', async () => {
    const { kernel } = kernelFor(oneAgent({ prompt: 'a', promptFile: 'b' }));
    await expect(kernel.plan()).rejects.toMatchObject({ code: 'CONFIG', message: 'bottle.config.ts: agents.demo: set `prompt` or `promptFile`, not both' });
  });

  it('writes the prompt host-side in the state dir with mode 0600', async () => {
    const { kernel, stateRoot } = kernelFor(oneAgent({ prompt: 'secretish' }));
    let seen: { text: string; mode: number } | undefined;
    kernel.hooks.postStart.tapPromise('probe', async (ctx) => {
      const f = path.join(ctx.stateDir, 'prompt.txt');
      seen = { text: readFileSync(f, 'utf8'), mode: statSync(f).mode & 0o777 };
    });
    await kernel.run(['true']);
    expect(seen).toEqual({ text: 'secretish', mode: 0o600 });
    expect(stateRoot).toBeTruthy();
  });
});

// Progress for a person: one line per step that did work or failed, with its
// duration; nothing for the taps that did nothing; no start lines off a
// terminal; log lines and warnings as they come.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Bus } from '../../../core/bus.ts';
import { attachProgress } from '../../../cli/progress.ts';

function capture() {
  const stream = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  stream.on('data', (d: Buffer) => (text += d.toString()));
  return { stream, text: () => text };
}

describe('progress off a terminal (CI, a pipe)', () => {
  it('writes one line per step that did work or failed, and nothing for the rest', () => {
    const bus = new Bus();
    const { stream, text } = capture();
    const detach = attachProgress(bus, { stream });
    for (const [id, title, durationMs] of [['a', 'prompt: plan', 0], ['b', 'skills: plan', 3], ['c', 'start guest', 712], ['d', 'egress: preStart', 48]] as const) {
      bus.emit('step', { id, title, state: 'start' });
      bus.emit('step', { id, title, state: 'done', durationMs });
    }
    bus.emit('step', { id: 'e', title: 'git-gate: preStart', state: 'start' });
    bus.emit('step', { id: 'e', title: 'git-gate: preStart', state: 'fail', durationMs: 2, error: 'no key' });
    bus.emit('log', { message: 'config: bottle.config.yaml' });
    bus.emit('warn', { message: 'something odd', plugin: 'ca' });
    detach();
    expect(text().split('\n')).toEqual(['✓ start guest (712 ms)', '✓ egress: preStart (48 ms)', '✗ git-gate: preStart (2 ms): no key', '  config: bottle.config.yaml', 'warning: [ca] something odd', '']);
  });

  it('quiet: steps and logs are silent, warnings still shown', () => {
    const bus = new Bus();
    const { stream, text } = capture();
    attachProgress(bus, { stream, quiet: true });
    bus.emit('step', { id: 'c', title: 'start guest', state: 'done', durationMs: 700 });
    bus.emit('log', { message: 'hello' });
    bus.emit('warn', { message: 'careful' });
    expect(text()).toBe('warning: careful\n');
  });
});

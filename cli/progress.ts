// Renders the bus for a person: step progress on stderr, and warnings. A
// step is one line once done, and only when it did work (took 20 ms or more)
// or failed: on a terminal a live spinner line shows the running step and
// collapses into those lines; elsewhere (CI, a pipe) only the lines are
// written. No colour is ever used (NO_COLOR holds trivially).
import type { Bus, StepEvent } from '../core/bus.ts';
import { sanitize } from '../lib/sanitize.ts';

/** Messages can carry text from the guest (a failing command's output): nothing in them may act on the terminal. */
const show = (text: string) => sanitize(text, { maxLength: 4000 });

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

/** A step quicker than this did no work worth a line (most plugin taps take 0-2 ms). */
export const WORK_MS = 20;

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function attachProgress(bus: Bus, opts: ProgressOptions = {}): () => void {
  const out = opts.stream ?? process.stderr;
  const tty = Boolean(out.isTTY) && !process.env.CI;
  let active: StepEvent | undefined;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  let note = '';

  const clear = () => tty && out.write('\r\x1b[2K');
  const draw = () => {
    if (!active) return;
    clear();
    out.write(`${FRAMES[frame++ % FRAMES.length]} ${active.title}${note ? `  ${note.slice(0, Math.max(0, (out.columns ?? 80) - active.title.length - 6))}` : ''}`);
  };
  const stopTimer = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
  };

  const onStep = (e: StepEvent) => {
    if (opts.quiet) return;
    if (e.state === 'start') {
      active = e;
      note = '';
      if (tty) {
        draw();
        stopTimer();
        timer = setInterval(draw, 80);
        timer.unref();
      }
      return;
    }
    if (active?.id === e.id) {
      stopTimer();
      active = undefined;
    }
    clear();
    if (e.state === 'done' && (e.durationMs ?? 0) < WORK_MS) return;
    const took = e.durationMs === undefined ? '' : ` (${formatDuration(e.durationMs)})`;
    out.write(e.state === 'done' ? `✓ ${e.title}${took}\n` : `✗ ${show(e.title)}${took}${e.error ? `: ${show(e.error)}` : ''}\n`);
  };
  const onLog = (e: { message: string }) => {
    if (opts.quiet) return;
    // Long steps (an image build) report lines: shown beside the spinner, or as lines in CI.
    if (tty && active) {
      note = show(e.message).trim();
      draw();
    } else {
      out.write(`  ${show(e.message)}\n`);
    }
  };
  const onWarn = (e: { message: string; plugin?: string }) => {
    clear();
    out.write(`warning: ${e.plugin ? `[${show(e.plugin)}] ` : ''}${show(e.message)}\n`);
    if (active && tty) draw();
  };
  bus.on('step', onStep);
  bus.on('log', onLog);
  bus.on('warn', onWarn);
  return () => {
    stopTimer();
    if (active) clear();
    bus.off('step', onStep);
    bus.off('log', onLog);
    bus.off('warn', onWarn);
  };
}

// Renders the bus for a person: step progress on stderr (a spinner on a
// terminal, plain lines otherwise, e.g. in CI), and warnings.
import type { Bus, StepEvent } from '../core/bus.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

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
      } else {
        out.write(`… ${e.title}\n`);
      }
      return;
    }
    if (active?.id === e.id) {
      stopTimer();
      active = undefined;
    }
    clear();
    const took = e.durationMs === undefined ? '' : ` (${formatDuration(e.durationMs)})`;
    out.write(e.state === 'done' ? `✓ ${e.title}${took}\n` : `✗ ${e.title}${took}${e.error ? `: ${e.error}` : ''}\n`);
  };
  const onLog = (e: { message: string }) => {
    if (opts.quiet) return;
    // Long steps (an image build) report lines: shown beside the spinner, or as lines in CI.
    if (tty && active) {
      note = e.message.trim();
      draw();
    } else {
      out.write(`  ${e.message}\n`);
    }
  };
  const onWarn = (e: { message: string; plugin?: string }) => {
    clear();
    out.write(`warning: ${e.plugin ? `[${e.plugin}] ` : ''}${e.message}\n`);
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

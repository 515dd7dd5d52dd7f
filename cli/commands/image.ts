// `bottle image build`: the agent image, with progress.
import { Bus } from '../../core/bus.ts';
import { buildAgentImage, DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { attachProgress } from '../progress.ts';
import { onSignals, signalExitCode } from '../signals.ts';
import { reportError } from '../report.ts';

export interface ImageBuildOptions {
  tag: string;
  base?: string;
  claudeVersion?: string;
  signal?: AbortSignal;
}

export async function buildImageWithProgress(bus: Bus, opts: ImageBuildOptions): Promise<void> {
  await bus.step('image', `build agent image ${opts.tag}`, () =>
    buildAgentImage({
      tag: opts.tag,
      ...(opts.base ? { base: opts.base } : {}),
      ...(opts.claudeVersion ? { claudeVersion: opts.claudeVersion } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (message: string) => bus.emit('log', { message }),
    }),
  );
}

export async function imageBuildCommand(opts: { tag?: string; base?: string; claudeVersion?: string }): Promise<number> {
  const bus = new Bus();
  const signals = onSignals();
  const detach = attachProgress(bus);
  try {
    await buildImageWithProgress(bus, { tag: opts.tag ?? DEFAULT_AGENT_IMAGE, ...opts, signal: signals.signal });
    detach();
    process.stdout.write(`built ${opts.tag ?? DEFAULT_AGENT_IMAGE}\n`);
    return 0;
  } catch (e) {
    detach();
    const sig = signals.received();
    const code = reportError(e);
    return sig ? signalExitCode(sig) : code;
  } finally {
    signals.dispose();
  }
}

// `bottle image build`: the agent image, with progress.
import { Bus } from '../../core/bus.ts';
import { SmolvmCli } from '../../core/backends/smolvm-cli.ts';
import { buildAgentImage, DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { prepareSmolvmArchive } from '../../core/image/smolvm-image.ts';
import { load } from '../setup.ts';
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

/** Whether smolvm will boot this image: the config says `backend: 'smolvm'`, or a smolvm CLI is installed. */
async function forSmolvm(): Promise<boolean> {
  const configured = await load({}).then((l) => l.config.backend === 'smolvm', () => false);
  if (configured) return true;
  return new SmolvmCli().run(['--version'], { allowFailure: true }).then((r) => r.exitCode === 0, () => false);
}

/** The image as smolvm boots it without a registry: its `docker save` tarball, cached by image id. */
export async function prepareForSmolvmWithProgress(bus: Bus, tag: string, signal?: AbortSignal): Promise<string> {
  return bus.step('smolvm-image', `save ${tag} for smolvm`, () =>
    prepareSmolvmArchive(tag, { ...(signal ? { signal } : {}), onProgress: (message: string) => bus.emit('log', { message }) }),
  );
}

export async function imageBuildCommand(opts: { tag?: string; base?: string; claudeVersion?: string }): Promise<number> {
  const bus = new Bus();
  const signals = onSignals();
  const detach = attachProgress(bus);
  try {
    const tag = opts.tag ?? DEFAULT_AGENT_IMAGE;
    await buildImageWithProgress(bus, { tag, ...opts, signal: signals.signal });
    const archive = (await forSmolvm()) ? await prepareForSmolvmWithProgress(bus, tag, signals.signal) : undefined;
    detach();
    process.stdout.write(`built ${tag}\n`);
    if (archive) process.stdout.write(`saved for smolvm: ${archive}\n`);
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

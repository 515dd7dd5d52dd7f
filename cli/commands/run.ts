// `bottle run`: plan, start, provision, run the agent attached to this
// terminal, tear down however it ends; exit with the agent's code.
import { Bus } from '../../core/bus.ts';
import { describeError } from '../../core/errors.ts';
import { agentImageExists, DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { attachProgress } from '../progress.ts';
import { reportError } from '../report.ts';
import { load, makeKernel, type CommonOptions } from '../setup.ts';
import { onSignals, signalExitCode } from '../signals.ts';
import { buildImageWithProgress } from './image.ts';

export async function runCommand(command: string[], opts: CommonOptions & { quiet?: boolean }): Promise<number> {
  const loaded = await load(opts);
  const signals = onSignals();
  const bus = new Bus();
  const detach = attachProgress(bus, { quiet: Boolean(opts.quiet || process.env.BOTTLE_QUIET) });
  try {
    const kernel = makeKernel(loaded, { ...opts, bus, signal: signals.signal });
    const image = loaded.config.image;
    // The first run builds the default agent image; another image must already exist.
    if (image === DEFAULT_AGENT_IMAGE && !(await agentImageExists(image))) {
      await buildImageWithProgress(bus, { tag: image, signal: signals.signal });
    }
    const result = await kernel.run(command);
    detach();
    for (const f of result.teardownFailures) {
      process.stderr.write(`bottle: teardown: ${f.label}${f.plugin ? ` [plugin ${f.plugin}]` : ''}: ${describeError(f.error)}\n`);
    }
    if (result.teardownFailures.length) {
      process.stderr.write(`  hint: \`bottle down ${result.slug}\` or \`bottle gc\` removes what is left\n`);
    }
    const sig = signals.received();
    if (sig) return signalExitCode(sig);
    if (result.error !== undefined) return reportError(result.error);
    if (result.teardownFailures.length && result.exitCode === 0) return 1;
    return result.exitCode;
  } catch (e) {
    detach();
    const sig = signals.received();
    if (sig) {
      reportError(e);
      return signalExitCode(sig);
    }
    throw e;
  } finally {
    signals.dispose();
  }
}

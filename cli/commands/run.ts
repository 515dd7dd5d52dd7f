// `bottle run`: plan, start, provision, run the agent attached to this
// terminal, tear down however it ends; exit with the agent's code.
import { Bus } from '../../core/bus.ts';
import { describeError, isBottleError } from '../../core/errors.ts';
import { DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { sanitize } from '../../lib/sanitize.ts';
import { attachProgress } from '../progress.ts';
import { reportError } from '../report.ts';
import { configName, load, makeKernel, type CommonOptions } from '../setup.ts';
import { onSignals, signalExitCode } from '../signals.ts';
import { buildImageWithProgress } from './image.ts';

/** Counts what the egress proxy refused during the run, by host, for one line after it. */
export function countRefusals(bus: Bus) {
  const byHost = new Map<string, number>();
  let dlp = 0;
  bus.on('audit', (e) => {
    if (e.type === 'egress.deny' && typeof e.host === 'string') byHost.set(e.host, (byHost.get(e.host) ?? 0) + 1);
    else if (e.type === 'egress.dlp') dlp++;
  });
  return {
    /** `3 requests refused: a.example (2), b.example (1); ...`, or undefined when nothing was. */
    summary(bottle: string | undefined, slug: string): string | undefined {
      const total = [...byHost.values()].reduce((a, b) => a + b, 0);
      if (!total && !dlp) return undefined;
      const hosts = [...byHost].sort((a, b) => b[1] - a[1]);
      const shown = hosts.slice(0, 5).map(([h, n]) => `${sanitize(h, { singleLine: true, maxLength: 80 })} (${n})`).join(', ');
      const parts = [];
      if (total) parts.push(`${total} request${total === 1 ? '' : 's'} refused: ${shown}${hosts.length > 5 ? `, and ${hosts.length - 5} more host(s)` : ''}; allow them with bottles.${bottle ?? '<name>'}.egress.allow`);
      if (dlp) parts.push(`${dlp} request${dlp === 1 ? '' : 's'} refused by DLP`);
      return `bottle: ${parts.join('; ')}; details: bottle logs ${slug}`;
    },
  };
}

export async function runCommand(command: string[], opts: CommonOptions & { quiet?: boolean }): Promise<number> {
  const loaded = await load(opts);
  const signals = onSignals();
  const bus = new Bus();
  const detach = attachProgress(bus, { quiet: Boolean(opts.quiet || process.env.BOTTLE_QUIET) });
  const refused = countRefusals(bus);
  try {
    bus.emit('log', { message: `config: ${configName(loaded, process.cwd())}` });
    const image = loaded.config.image;
    const kernel = makeKernel(loaded, { ...opts, bus, signal: signals.signal });
    const bottleName = loaded.config.agents[kernel.agentName]?.bottle;
    let result = await kernel.run(command);
    // The first run builds the default agent image, then starts again; another
    // image must already exist. (No check up front: it would cost every run a
    // docker call; `docker run --pull never` says so at once.)
    if (image === DEFAULT_AGENT_IMAGE && isBottleError(result.error) && result.error.code === 'NO_IMAGE' && !signals.received()) {
      bus.emit('log', { message: `the agent image ${image} is not on this machine yet: building it (once)` });
      await buildImageWithProgress(bus, { tag: image, signal: signals.signal });
      result = await makeKernel(loaded, { ...opts, bus, signal: signals.signal }).run(command);
    }
    detach();
    const summary = refused.summary(bottleName, result.slug);
    if (summary) process.stderr.write(`${summary}\n`);
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

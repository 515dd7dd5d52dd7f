// `bottle selftest`: start a bottle with the user's own config and, from
// inside it, try to get out the ways an attacker would; one line per
// attempt, exit 0 only when every one was refused.
import { Bus } from '../../core/bus.ts';
import { attachProgress } from '../progress.ts';
import { reportError } from '../report.ts';
import { configName, load, type CommonOptions } from '../setup.ts';
import { onSignals, signalExitCode } from '../signals.ts';
import { formatJson, formatText, summaryLine } from '../selftest/report.ts';
import { runSelftest } from '../selftest/run.ts';

export async function selftestCommand(opts: CommonOptions & { json?: boolean; quiet?: boolean }): Promise<number> {
  const loaded = await load(opts);
  const signals = onSignals();
  const bus = new Bus();
  const detach = attachProgress(bus, { quiet: Boolean(opts.quiet || process.env.BOTTLE_QUIET) });
  try {
    bus.emit('log', { message: `config: ${configName(loaded, process.cwd())}` });
    const r = await runSelftest(loaded, { ...opts, bus, signal: signals.signal });
    detach();
    for (const f of r.teardownFailures) process.stderr.write(`bottle: teardown: ${f}\n`);
    const sig = signals.received();
    if (sig) return signalExitCode(sig);
    if (!r.report) {
      process.stderr.write('bottle selftest: the bottle could not be started, so nothing was tried\n');
      return reportError(r.error);
    }
    process.stdout.write(opts.json ? formatJson(r.report) : formatText(r.report));
    if (opts.json) process.stderr.write(`${summaryLine(r.report)}\n`);
    if (!r.report.ok) return 1;
    return r.teardownFailures.length ? 1 : 0;
  } finally {
    detach();
    signals.dispose();
  }
}

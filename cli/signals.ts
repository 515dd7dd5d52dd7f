// SIGINT/SIGTERM abort the current step; teardown then runs to the end.
// A second signal says we are still cleaning up instead of leaving a mess.

export interface SignalScope {
  signal: AbortSignal;
  /** The signal that stopped us, if any. */
  received(): NodeJS.Signals | undefined;
  dispose(): void;
}

export function onSignals(): SignalScope {
  const ctl = new AbortController();
  let got: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (got) {
      process.stderr.write(`\nbottle: still tearing down the bottle; it will exit when done\n`);
      return;
    }
    got = sig;
    process.stderr.write(`\nbottle: ${sig}: stopping and tearing down ...\n`);
    ctl.abort(new Error(sig));
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  process.on('SIGHUP', handler);
  return {
    signal: ctl.signal,
    received: () => got,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.off('SIGHUP', handler);
    },
  };
}

export const signalExitCode = (sig: NodeJS.Signals): number => 128 + ({ SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as Record<string, number>)[sig]!;

// The `bottle` command line. Exit codes: 0 ok; 2 bad config or usage; 1 any
// other failure; otherwise the agent's own code. Each command's module is
// loaded only when that command runs: start-up time is part of every bottle.
import { Command, CommanderError } from 'commander';
import { BottleError } from '../core/errors.ts';
import { reportError } from './report.ts';
import { VERSION } from './version.ts';

function program(setCode: (n: number) => void): Command {
  const p = new Command('bottle')
    .description('Run a coding agent (Claude Code) in a sandbox that holds no credentials and reaches only what it is allowed to.')
    .showHelpAfterError('(run `bottle --help` for usage)')
    .version(VERSION, '-V, --version')
    .exitOverride();
  const withConfig = (c: Command) => c.option('-c, --config <file>', 'config file (default: bottle.config.* found from here upward)');
  const withAgent = (c: Command) => c.option('-a, --agent <name>', 'which agent of the config (may be left out when there is one)');

  withAgent(withConfig(p.command('run')))
    .description('start a bottle, run the agent (or CMD) in it attached to this terminal, then remove the bottle')
    .argument('[cmd...]', 'a command to run instead of the agent\'s, after --')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nExamples:\n  bottle run                       Claude Code, interactive, in this directory\n  bottle run -- sh -c \'id; pwd\'    any command instead\n  bottle run -a reviewer -- claude -p "review the diff"')
    .action(async (cmd: string[], o) => setCode(await (await import('./commands/run.ts')).runCommand(cmd, o)));

  withAgent(withConfig(p.command('plan')))
    .description('show what `bottle run` would do (slug, image, doors, files, env, argv, plugins), with no side effects')
    .option('--json', 'machine-readable output')
    .action(async (o) => setCode(await (await import('./commands/plan.ts')).planCommand(o)));

  p.command('ps')
    .description('list bottles on this machine, found from their labels')
    .option('--json', 'machine-readable output')
    .action(async (o) => setCode(await (await import('./commands/lifecycle.ts')).psCommand(o)));

  p.command('down')
    .description('remove a bottle and everything it made (container, host processes, state dir)')
    .argument('[slug]', 'the bottle, as `bottle ps` shows it')
    .option('--all', 'remove every bottle')
    .action(async (slug: string | undefined, o) => setCode(await (await import('./commands/lifecycle.ts')).downCommand(slug, o)));

  p.command('gc')
    .description('remove what bottles left behind when their `bottle` process died (kill -9, crash, reboot)')
    .action(async () => setCode(await (await import('./commands/lifecycle.ts')).gcCommand()));

  p.command('logs')
    .description('show the audit trail of a bottle, live or ended: every decision with its time and plugin')
    .argument('[slug]', 'the bottle (default: the most recent one)')
    .option('--json', 'one JSON record a line, as written')
    .option('-f, --follow', 'keep showing new records until the bottle ends')
    .action(async (slug: string | undefined, o) => {
      const { onSignals } = await import('./signals.ts');
      const signals = onSignals();
      try {
        setCode(await (await import('./commands/logs.ts')).logsCommand(slug, o, signals.signal));
      } finally {
        signals.dispose();
      }
    });

  p.command('approvals')
    .description('list the pending requests of all bottles (supervise): hosts, pushes, questions')
    .option('--json', 'machine-readable output')
    .option('--watch', 'keep following them until interrupted')
    .action(async (o) => setCode(await (await import('./commands/approvals.ts')).approvalsCommand(o)));

  p.command('approve')
    .description('approve a pending request: an egress host is allowed for the bottle\'s life, a push goes through once')
    .argument('<id>', 'the request, as `bottle approvals` shows it')
    .option('--reason <text>', 'a note (for `ask`: your answer)')
    .action(async (id: string, o) => setCode(await (await import('./commands/approvals.ts')).answerCommand(id, true, o)));

  p.command('deny')
    .description('deny a pending request; the agent sees your reason')
    .argument('<id>', 'the request, as `bottle approvals` shows it')
    .option('--reason <text>', 'why (shown to the agent)')
    .action(async (id: string, o) => setCode(await (await import('./commands/approvals.ts')).answerCommand(id, false, o)));

  withAgent(withConfig(p.command('selftest')))
    .description('start a bottle with your config and try, from inside it, to get out the ways an attacker would; exit 0 only when every attempt is refused')
    .option('--json', 'machine-readable result on stdout')
    .option('-q, --quiet', 'no progress output')
    .addHelpText('after', '\nEach attempt gets one line: refused, GOT THROUGH, UNJUDGED (could not tell) or skipped (with the reason,\ne.g. no git gate configured). Attempts: TCP/UDP/ICMP/DNS to every address of this host and to never-routed\naddresses; the guest\'s interfaces and Unix sockets; through the egress proxy an unlisted host, IP-literal\nspellings of loopback and host addresses, domain fronting; the real credentials in the guest\'s env, /proc and\nfiles; forbidden pushes through the git gate; self-approval through supervise. Every attempt is audited\n(bottle logs SLUG). Exit: 0 all refused, 1 something got through or could not be judged, 2 bad config or usage.\nSee docs/selftest.md.\n\nExamples:\n  bottle selftest\n  bottle selftest -a reviewer --json')
    .action(async (o) => setCode(await (await import('./commands/selftest.ts')).selftestCommand(o)));

  withConfig(p.command('doctor'))
    .description('check Node, the Docker engine, the agent image and the state dir; say what to do about each')
    .action(async (o) => setCode(await (await import('./commands/doctor.ts')).doctorCommand(o)));

  p.command('image')
    .description('manage the agent image')
    .command('build')
    .description('build the agent image: a base image plus the Claude Code binary fetched from the npm registry on the host')
    .option('--base <image>', 'base image (default: $BOTTLE_BASE_IMAGE or node:24-bookworm)')
    .option('--tag <tag>', 'image tag', 'claude-bottle-agent:latest')
    .option('--claude-version <version>', 'Claude Code version (default: $BOTTLE_CLAUDE_VERSION or the pinned one)')
    .action(async (o) => setCode(await (await import('./commands/image.ts')).imageBuildCommand(o)));
  return p;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  try {
    await program((n) => (code = n)).parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not failures; anything else commander rejects is usage.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (!(e instanceof BottleError) && e instanceof Error && e.name === 'CommanderError') return 2;
    return reportError(e);
  }
}

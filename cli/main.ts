// The `bottle` command line. Exit codes: 0 ok; 2 bad config or usage; 1 any
// other failure; otherwise the agent's own code.
import { Command, CommanderError } from 'commander';
import { BottleError } from '../core/errors.ts';
import { DEFAULT_AGENT_IMAGE } from '../core/image/build.ts';
import { doctorCommand } from './commands/doctor.ts';
import { imageBuildCommand } from './commands/image.ts';
import { downCommand, gcCommand, psCommand } from './commands/lifecycle.ts';
import { planCommand } from './commands/plan.ts';
import { runCommand } from './commands/run.ts';
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
    .action(async (cmd: string[], o) => setCode(await runCommand(cmd, o)));

  withAgent(withConfig(p.command('plan')))
    .description('show what `bottle run` would do (slug, image, network, files, env, argv, plugins), with no side effects')
    .option('--json', 'machine-readable output')
    .action(async (o) => setCode(await planCommand(o)));

  p.command('ps')
    .description('list bottles on this machine, found from their labels')
    .option('--json', 'machine-readable output')
    .action(async (o) => setCode(await psCommand(o)));

  p.command('down')
    .description('remove a bottle and everything it made (container, network, state dir)')
    .argument('[slug]', 'the bottle, as `bottle ps` shows it')
    .option('--all', 'remove every bottle')
    .action(async (slug: string | undefined, o) => setCode(await downCommand(slug, o)));

  p.command('gc')
    .description('remove what bottles left behind when their `bottle` process died (kill -9, crash, reboot)')
    .action(async () => setCode(await gcCommand()));

  withConfig(p.command('doctor'))
    .description('check Node, the Docker engine, the agent image and the state dir; say what to do about each')
    .action(async (o) => setCode(await doctorCommand(o)));

  p.command('image')
    .description('manage the agent image')
    .command('build')
    .description('build the agent image: a base image plus the Claude Code binary fetched from the npm registry on the host')
    .option('--base <image>', 'base image (default: $BOTTLE_BASE_IMAGE or node:24-bookworm)')
    .option('--tag <tag>', 'image tag', DEFAULT_AGENT_IMAGE)
    .option('--claude-version <version>', 'Claude Code version (default: $BOTTLE_CLAUDE_VERSION or the pinned one)')
    .action(async (o) => setCode(await imageBuildCommand(o)));
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

// The one place that runs the `docker` CLI: turns its failures into
// BottleErrors that say what to do, and counts calls (a constant number per
// bottle is a promise we keep and measure).
import { BottleError } from '../errors.ts';
import { runTool, type ToolMessages, type ToolResult, type ToolRunOptions } from './tool-cli.ts';

export type DockerResult = ToolResult;
export type DockerRunOptions = Omit<ToolRunOptions, 'inherit'>;

const MESSAGES: ToolMessages = {
  name: 'docker',
  notFound: (bin) =>
    new BottleError(`the \`${bin}\` command was not found`, { code: 'BACKEND', hint: 'install Docker (the engine and its CLI), or set BOTTLE_DOCKER to its path' }),
  startHint: 'install Docker and check `bottle doctor`',
  failed: (args, r) => dockerError(args, r),
};

export class DockerCli {
  readonly bin: string;
  /** How many docker commands this instance ran. */
  calls = 0;
  /** Each command's argv, when recording is on (tests, benchmarks). */
  readonly log: string[][] | undefined;

  constructor(opts: { bin?: string; record?: boolean } = {}) {
    this.bin = opts.bin ?? process.env.BOTTLE_DOCKER ?? 'docker';
    this.log = opts.record ? [] : undefined;
  }

  async run(args: string[], opts: DockerRunOptions = {}): Promise<DockerResult> {
    this.calls++;
    this.log?.push(args);
    return runTool(this.bin, args, opts, MESSAGES);
  }
}

export function dockerError(args: string[], r: DockerResult): BottleError {
  const said = r.stderr.trim().split('\n').slice(-3).join(' / ') || `exit ${r.exitCode}`;
  const down = /Cannot connect to the Docker daemon|Is the docker daemon running|error during connect/i.test(r.stderr);
  const stopped = /is not running/i.test(r.stderr);
  return new BottleError(`docker ${args.slice(0, 2).join(' ')} failed: ${said}`, {
    code: 'BACKEND',
    hint: down
      ? 'start the Docker engine (dockerd or Docker Desktop), then `bottle doctor`'
      : stopped
        ? 'the guest stopped; if its forwarder could not start, the image lacks perl: rebuild it with `bottle image build`'
        : 'see the message above; `bottle doctor` checks the engine',
  });
}

export function isNotFound(r: DockerResult): boolean {
  return /No such (container|network|object)|not found/i.test(r.stderr);
}

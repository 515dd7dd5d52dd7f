// The one place that runs the `docker` CLI: turns its failures into
// BottleErrors that say what to do, and counts calls (a constant number per
// bottle is a promise we keep and measure).
import { execa, type Options } from 'execa';
import { BottleError } from '../errors.ts';

export interface DockerResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface DockerRunOptions {
  input?: Options['input'];
  signal?: AbortSignal | undefined;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
}

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
    let r;
    try {
      r = await execa(this.bin, args, {
        reject: false,
        stripFinalNewline: true,
        ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' }),
        ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      });
    } catch (e) {
      throw new BottleError(`could not run \`${this.bin}\``, { code: 'BACKEND', cause: e, hint: 'install Docker and check `bottle doctor`' });
    }
    if (r.isCanceled) throw new BottleError(`interrupted: docker ${args[0]}`, { code: 'ABORTED' });
    if (r.failed && r.exitCode === undefined) {
      const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
      throw new BottleError(missing ? `the \`${this.bin}\` command was not found` : `could not run \`${this.bin}\`: ${r.shortMessage}`, {
        code: 'BACKEND',
        hint: missing ? 'install Docker (the engine and its CLI), or set BOTTLE_DOCKER to its path' : 'check `bottle doctor`',
      });
    }
    const out = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
    if (out.exitCode !== 0 && !opts.allowFailure) throw dockerError(args, out);
    return out;
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

// The one place that runs the `smolvm` CLI (the one on PATH, or
// $BOTTLE_SMOLVM): its failures become BottleErrors that say what to do, its
// version is checked once, and calls are counted (and recorded for tests).
import { BottleError } from '../errors.ts';
import { runTool, type ToolMessages, type ToolResult, type ToolRunOptions } from './tool-cli.ts';

/** The oldest smolvm whose CLI we drive (`machine create --label`, `--mount-socket`, `ls --json` labels). */
export const SMOLVM_MIN_VERSION = '1.9.0';

export type SmolvmResult = ToolResult;
export type SmolvmRunOptions = ToolRunOptions;

const MESSAGES: ToolMessages = {
  name: 'smolvm',
  notFound: (bin) => notFound(bin),
  startHint: 'install smolvm and check `bottle doctor`',
  failed: (args, r) => smolvmError(args, r),
};

/** What the backend needs of the CLI; tests hand it a recording stand-in. */
export interface SmolvmRunner {
  readonly bin: string;
  run(args: string[], opts?: SmolvmRunOptions): Promise<SmolvmResult>;
}

export class SmolvmCli implements SmolvmRunner {
  readonly bin: string;
  calls = 0;
  readonly log: string[][] | undefined;

  constructor(opts: { bin?: string; record?: boolean } = {}) {
    this.bin = opts.bin ?? process.env.BOTTLE_SMOLVM ?? 'smolvm';
    this.log = opts.record ? [] : undefined;
  }

  async run(args: string[], opts: SmolvmRunOptions = {}): Promise<SmolvmResult> {
    this.calls++;
    this.log?.push(args);
    return runTool(this.bin, args, opts, MESSAGES);
  }
}

export function notFound(bin: string): BottleError {
  return new BottleError(`the \`${bin}\` command was not found`, {
    code: 'BACKEND',
    hint: 'install smolvm 1.9 or later (https://github.com/smol-machines/smolvm), or set BOTTLE_SMOLVM to its path; `bottle doctor` checks it',
  });
}

/** `1.9.2` out of `smolvm 1.9.2` (clap's `--version`), or undefined. */
export function parseVersion(out: string): string | undefined {
  return /\b(\d+)\.(\d+)\.(\d+)(?:[-+][\w.]+)?\b/.exec(out)?.[0];
}

/** Whether `version` is at least `min` (major.minor.patch, numerically). */
export function versionAtLeast(version: string, min = SMOLVM_MIN_VERSION): boolean {
  const a = version.split(/[.+-]/).slice(0, 3).map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** Asks the CLI its version; a BottleError naming what was found when it is missing, unreadable or too old. */
export async function checkVersion(cli: SmolvmRunner, signal?: AbortSignal): Promise<string> {
  const r = await cli.run(['--version'], { signal, allowFailure: true });
  const said = (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
  const version = r.exitCode === 0 ? parseVersion(said) : undefined;
  if (!version) {
    throw new BottleError(`\`${cli.bin} --version\` did not say a version (exit ${r.exitCode}${said ? `: ${said}` : ''})`, {
      code: 'BACKEND',
      hint: 'BOTTLE_SMOLVM (or `smolvm` on PATH) must be the smolvm CLI, 1.9 or later',
    });
  }
  if (!versionAtLeast(version)) {
    throw new BottleError(`smolvm ${version} (${cli.bin}) is too old: bottles need smolvm ${SMOLVM_MIN_VERSION} or later`, {
      code: 'BACKEND',
      hint: 'upgrade smolvm (its --mount-socket, --label and `machine ls --json` labels are needed), or set BOTTLE_SMOLVM to a newer one',
    });
  }
  return version;
}

export function smolvmError(args: string[], r: SmolvmResult): BottleError {
  const said = r.stderr.trim().split('\n').filter((l) => l.trim()).slice(-3).join(' / ') || `exit ${r.exitCode}`;
  const hv = /kvm|hypervisor/i.test(r.stderr);
  return new BottleError(`smolvm ${args.slice(0, 2).join(' ')} failed: ${said}`, {
    code: 'BACKEND',
    hint: hv ? 'smolvm needs a hypervisor (/dev/kvm on Linux, Hypervisor.framework on macOS): see `bottle doctor`' : 'see the message above; `bottle doctor` checks smolvm',
  });
}

/** smolvm's "no such machine" answers (`vm not found: X`, `machine 'X' not found`). */
export function isMachineNotFound(r: SmolvmResult): boolean {
  return /vm not found|machine '[^']*' not found/i.test(r.stderr);
}

/** smolvm's answer to an exec or cp on a stopped machine. */
export function isNotRunning(r: SmolvmResult): boolean {
  return /machine '[^']*' is not running/i.test(r.stderr);
}

// Running a backend's command-line tool (`docker`, `smolvm`) the one way both
// backends need: captured output, a cancel signal, and failures turned into
// BottleErrors that say what to do. Each backend's CLI class names its tool
// and its messages; this does the rest.
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import { BottleError } from '../errors.ts';

export interface ToolResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ToolRunOptions {
  input?: string | Uint8Array | Readable;
  signal?: AbortSignal | undefined;
  /** Return a non-zero exit instead of throwing. */
  allowFailure?: boolean;
  /** Attached to this process's terminal: nothing captured. */
  inherit?: boolean;
}

/** What a tool's failures say. */
export interface ToolMessages {
  /** How the tool is named in "interrupted: NAME ..." */
  name: string;
  /** The tool is not installed (ENOENT). */
  notFound(bin: string): BottleError;
  /** Hint when the tool could not be started for another reason. */
  startHint: string;
  /** A non-zero exit the caller did not allow. */
  failed(args: string[], r: ToolResult): BottleError;
}

export async function runTool(bin: string, args: string[], opts: ToolRunOptions, msg: ToolMessages): Promise<ToolResult> {
  let r;
  try {
    r = await execa(bin, args, {
      reject: false,
      stripFinalNewline: true,
      ...(opts.inherit ? { stdio: 'inherit' as const } : opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    });
  } catch (e) {
    throw new BottleError(`could not run \`${bin}\``, { code: 'BACKEND', cause: e, hint: msg.startHint });
  }
  if (r.isCanceled) throw new BottleError(`interrupted: ${msg.name} ${args.slice(0, 2).join(' ')}`, { code: 'ABORTED' });
  if (r.failed && r.exitCode === undefined) {
    const missing = (r.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
    throw missing ? msg.notFound(bin) : new BottleError(`could not run \`${bin}\`: ${r.shortMessage}`, { code: 'BACKEND', hint: 'check `bottle doctor`' });
  }
  const out = { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 1 };
  if (out.exitCode !== 0 && !opts.allowFailure) throw msg.failed(args, out);
  return out;
}

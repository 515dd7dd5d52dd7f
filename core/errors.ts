// Errors that say who and where: every failure the CLI shows is a BottleError
// with a code, the exit status it maps to, and (for plugin taps) the plugin
// and hook it came from.

/** Stable machine-readable codes; the CLI maps them to exit statuses. */
export type BottleErrorCode =
  | 'CONFIG' // bad config file or field: exit 2
  | 'USAGE' // bad command line: exit 2
  | 'PLUGIN' // a plugin's tap threw
  | 'BACKEND' // the container engine failed
  | 'IMAGE' // building or finding the agent image failed
  | 'NO_IMAGE' // the image is not on this machine (the CLI builds the default one)
  | 'TEARDOWN' // one or more undo steps failed
  | 'ABORTED' // interrupted by a signal
  | 'INTERNAL';

export interface BottleErrorOptions {
  code: BottleErrorCode;
  /** What the user can do about it, printed under the message. */
  hint?: string;
  plugin?: string;
  hook?: string;
  cause?: unknown;
}

/** Marks a BottleError across copies of this module (the bundled CLI and a config's `import from 'claude-bottle'`). */
const BRAND = Symbol.for('claude-bottle.BottleError');

export class BottleError extends Error {
  readonly [BRAND] = true;
  readonly code: BottleErrorCode;
  readonly hint: string | undefined;
  readonly plugin: string | undefined;
  readonly hook: string | undefined;

  constructor(message: string, opts: BottleErrorOptions) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BottleError';
    this.code = opts.code;
    this.hint = opts.hint;
    this.plugin = opts.plugin;
    this.hook = opts.hook;
  }

  /** 2 for config and usage mistakes, 130 for an interrupt, 1 for everything else. */
  get exitCode(): number {
    if (this.code === 'CONFIG' || this.code === 'USAGE') return 2;
    if (this.code === 'ABORTED') return 130;
    return 1;
  }
}

/** A config mistake: the message names the file and the field path. */
export function configError(file: string, path: string, message: string, hint?: string): BottleError {
  const where = path ? `${file}: ${path}` : file;
  return new BottleError(`${where}: ${message}`, { code: 'CONFIG', ...(hint ? { hint } : {}) });
}

export function isBottleError(e: unknown): e is BottleError {
  return e instanceof Error && (e as Partial<Record<typeof BRAND, boolean>>)[BRAND] === true;
}

/** A short text for an unknown thrown value. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

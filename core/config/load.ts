// Finds and validates the config: cosmiconfig from the current directory
// upward (or --config FILE), then the zod schema. Every failure is a CONFIG
// BottleError naming the file and the field path.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import type { z } from 'zod';
import { configError } from '../errors.ts';
import { createConfigSchema, type ResolvedConfig, type SchemaExtensions } from './schema.ts';

export const CONFIG_FILES = [
  'bottle.config.ts',
  'bottle.config.mjs',
  'bottle.config.js',
  'bottle.config.cjs',
  'bottle.config.json',
  'package.json',
];

/** The config a bottle gets when no file is found: Claude Code on the current directory. */
export const DEFAULT_CONFIG = {
  agents: { claude: { bottle: 'default' } },
  bottles: { default: {} },
};

export interface LoadedConfig {
  config: ResolvedConfig;
  /** Absolute path of the file, or undefined for the built-in default. */
  file: string | undefined;
  /** Relative paths in the config are relative to this. */
  dir: string;
}

export interface LoadOptions {
  cwd: string;
  /** --config FILE */
  file?: string;
  extensions?: SchemaExtensions;
}

export async function loadConfig(opts: LoadOptions): Promise<LoadedConfig> {
  // We find the file ourselves (cosmiconfig's search would skip an empty file
  // and could not name a file that fails to parse); cosmiconfig loads it.
  const explorer = cosmiconfig('bottle', { packageProp: 'bottle', cache: false });
  let file: string | undefined;
  if (opts.file) {
    file = path.resolve(opts.cwd, opts.file);
    if (!existsSync(file)) throw configError(opts.file, '', 'no such file', 'check the path given to --config');
  } else {
    file = findConfigFile(opts.cwd);
  }
  if (!file) return validate(DEFAULT_CONFIG, '(built-in default)', undefined, opts);
  const shown = display(opts.cwd, file);
  let found: { config: unknown; isEmpty?: boolean } | null;
  try {
    found = await explorer.load(file);
  } catch (e) {
    const why = e instanceof Error ? firstLine(e.message) : String(e);
    throw configError(shown, '', `cannot be loaded: ${why}`, 'fix the error in the file; `bottle plan` checks it without starting anything');
  }
  if (!found || found.isEmpty || found.config === undefined || found.config === null) {
    throw configError(shown, '', 'the file is empty or exports nothing', 'export a config: `export default defineConfig({ agents: {...}, bottles: {...} })`');
  }
  return validate(found.config, shown, file, opts);
}

/** The nearest config file from `cwd` upward; a package.json counts only with a "bottle" key. */
export function findConfigFile(cwd: string): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const name of CONFIG_FILES) {
      const candidate = path.join(dir, name);
      if (!existsSync(candidate)) continue;
      if (name !== 'package.json' || hasBottleKey(candidate)) return candidate;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

function hasBottleKey(pkg: string): boolean {
  try {
    return Object.hasOwn(JSON.parse(readFileSync(pkg, 'utf8')) as object, 'bottle');
  } catch {
    return false;
  }
}

function validate(raw: unknown, shown: string, file: string | undefined, opts: LoadOptions): LoadedConfig {
  const schema = createConfigSchema(opts.extensions);
  const parsed = schema.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    // The first problem is the message; any others follow, one a line.
    const [first, ...rest] = parsed.error.issues.map((i) => ({ path: formatPath(i.path), text: describeIssue(i) }));
    const err = configError(shown, first!.path, first!.text);
    if (rest.length) err.message += rest.map((r) => `\n${shown}: ${r.path ? `${r.path}: ` : ''}${r.text}`).join('');
    throw err;
  }
  return { config: parsed.data as ResolvedConfig, file, dir: file ? path.dirname(file) : opts.cwd };
}

/** `agents.demo.bottle`, `plugins[0]` */
export function formatPath(p: readonly PropertyKey[]): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out ? `.${String(k)}` : String(k);
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'unrecognized_keys':
      return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    case 'invalid_type':
      return issue.input === undefined ? `is required (${issue.expected})` : `expected ${issue.expected}, got ${typeName(issue.input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(issue.input)}`;
    default:
      return issue.message;
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'string' ? `string ${JSON.stringify(v)}` : typeof v;
}

function display(cwd: string, file: string): string {
  const rel = path.relative(cwd, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim()) ?? s;
}

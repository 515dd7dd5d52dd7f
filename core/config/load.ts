// Finds and validates the config: cosmiconfig from the current directory
// upward (or --config FILE), then the zod schema. Every failure is a CONFIG
// BottleError naming the file and the field path.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import module from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cosmiconfig } from 'cosmiconfig';
import type { z } from 'zod';
import { BottleError, configError, isBottleError } from '../errors.ts';
import { stateRoot } from '../state.ts';
import { agentWritableChange, readWritableSpans, type WritableSpan } from '../writable-mounts.ts';
import { findDuplicateKey } from './duplicate-keys.ts';
import { BUILT_IN, createConfigSchema, mergeExtensions, type OwnedExtensions, type ResolvedConfig, type SchemaExtensions } from './schema.ts';

/** The names looked for in each directory, in this order; the first found wins. */
export const CONFIG_FILES = [
  'bottle.config.ts',
  'bottle.config.mts',
  'bottle.config.cts',
  'bottle.config.mjs',
  'bottle.config.js',
  'bottle.config.cjs',
  'bottle.config.json',
  'bottle.config.yaml',
  'bottle.config.yml',
  '.bottlerc',
  '.bottlerc.json',
  '.bottlerc.yaml',
  '.bottlerc.yml',
  'package.json',
];

/** A file that looks like our config but is not one of the formats above: refused by name, never ignored. */
export const LOOKS_LIKE_CONFIG = /^(bottle\.config|\.bottlerc)\.[^.]+$/;

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
  /** The config file and every module of the host it loaded (so a mounted workspace can keep them read-only). */
  modules: string[];
}

export interface LoadOptions {
  cwd: string;
  /** --config FILE */
  file?: string;
  extensions?: SchemaExtensions;
  /** Where bottles note the host dirs they could write (default: the state root). */
  stateRoot?: string;
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
  if (!file) return { ...validate(DEFAULT_CONFIG, '(built-in default)', undefined, opts), modules: [] };
  const shown = display(opts.cwd, file);
  // Nothing a bottle's agent could have written is run or trusted here:
  // neither the file nor any module it imports (checked as each one loads).
  const spans = readWritableSpans(opts.stateRoot ?? stateRoot());
  refuseAgentWritten(file, opts.cwd, spans);
  refuseDuplicateKeys(file, shown);
  let found: { config: unknown; isEmpty?: boolean } | null;
  const modules = watchImports(spans, opts.cwd);
  try {
    found = await explorer.load(file);
  } catch (e) {
    if (isBottleError(e)) throw e;
    throw configError(shown, '', `cannot be loaded: ${describeLoadError(e, file)}`, 'fix the error in the file; `bottle plan` checks it without starting anything');
  }
  if (!found || found.isEmpty || found.config === undefined || found.config === null) {
    throw configError(shown, '', 'the file is empty or exports nothing', 'export a config: `export default defineConfig({ agents: {...}, bottles: {...} })`');
  }
  return { ...validate(found.config, shown, file, opts), modules: [...new Set([file, ...modules])] };
}

/** A JSON config (or package.json's "bottle") with a key twice: JSON.parse would keep the last without a word. */
function refuseDuplicateKeys(file: string, shown: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
    JSON.parse(text);
  } catch {
    return; // not JSON: YAML's parser refuses duplicate keys itself, and code is code
  }
  const dup = findDuplicateKey(text);
  if (!dup) return;
  const inPackage = path.basename(file) === 'package.json';
  if (inPackage && dup.path[0] !== 'bottle') return;
  const at = formatPath(inPackage ? dup.path.slice(1) : dup.path);
  throw configError(shown, at, `line ${dup.line}, column ${dup.column}: the key "${dup.key}" appears twice${at ? '' : ' at the top level'}; only the last would count`, 'keep one of them (merge their values)');
}

/** What the import guard checks against: the spans and cwd of the latest load. */
let guard: { spans: readonly WritableSpan[]; cwd: string; modules: string[] } | undefined;
let hooked = false;

/**
 * Checks every module this process loads from then on, not only while the
 * config file loads: a plugin may import a module of the workspace lazily
 * (in a plan tap), and that one must be checked as well. Registered once;
 * a relative import is checked as written too (before Node resolves
 * symlinks: the link itself may be the agent's).
 */
function watchImports(spans: readonly WritableSpan[], cwd: string): string[] {
  const modules: string[] = [];
  guard = { spans, cwd, modules };
  if (hooked || typeof module.registerHooks !== 'function') return modules;
  hooked = true;
  module.registerHooks({
    resolve(specifier, context, next) {
      const from = context.parentURL?.startsWith('file:') ? path.dirname(fileURLToPath(context.parentURL)) : undefined;
      if (guard && from && (specifier.startsWith('./') || specifier.startsWith('../') || specifier.startsWith('/'))) refuseAgentWritten(path.resolve(from, specifier), guard.cwd, guard.spans);
      return next(specifier, context);
    },
    load(url, context, next) {
      if (guard && url.startsWith('file:')) {
        const file = fileURLToPath(url);
        refuseAgentWritten(file, guard.cwd, guard.spans);
        guard.modules.push(file);
      }
      return next(url, context);
    },
  });
  return modules;
}

/** A CONFIG error when `file` was changed while a bottle could write it (see core/writable-mounts.ts). */
function refuseAgentWritten(file: string, cwd: string, spans: readonly WritableSpan[]): void {
  const span = agentWritableChange(file, spans);
  if (!span) return;
  const shown = display(cwd, file);
  const when = span.to === undefined ? 'is running, or was not cleaned up' : `ran from ${new Date(span.from).toISOString()} to ${new Date(span.to).toISOString()}`;
  throw new BottleError(`${shown}: changed while bottle ${span.slug} had ${span.dir} mounted read-write (that bottle ${when}); its agent could have written it, and bottle will not run or trust it`, {
    code: 'CONFIG',
    hint: span.to === undefined
      ? `wait for that bottle to end, or end it (\`bottle down ${span.slug}\`, or \`bottle gc\` if it crashed); then read the file`
      : `read it; if it is yours, \`touch ${shown}\` and run bottle again`,
  });
}

/**
 * The nearest config file from `cwd` upward; a package.json counts only with
 * a "bottle" key. A `bottle.config.*` or `.bottlerc.*` of a format we do not
 * read is an error naming it, not a reason to run the default config.
 */
export function findConfigFile(cwd: string): string | undefined {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const name of CONFIG_FILES) {
      const candidate = path.join(dir, name);
      if (!existsSync(candidate)) continue;
      if (name !== 'package.json' || hasBottleKey(candidate)) return candidate;
    }
    let names: string[] = [];
    try {
      names = readdirSync(dir);
    } catch {
      // unreadable: nothing found here
    }
    const odd = names.find((n) => LOOKS_LIKE_CONFIG.test(n) && !CONFIG_FILES.includes(n));
    if (odd) {
      throw configError(display(cwd, path.join(dir, odd)), '', 'is not a config format bottle reads', `name it one of ${CONFIG_FILES.filter((n) => n !== 'package.json').join(', ')} (or use a "bottle" key in package.json)`);
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

function validate(raw: unknown, shown: string, file: string | undefined, opts: LoadOptions): Omit<LoadedConfig, 'modules'> {
  const schema = createConfigSchema(withInHouseKeys(raw, shown, opts.extensions));
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

/**
 * The schema extensions with the config keys of the config's own plugins
 * (`plugins: [...]`, each with an optional `config` of zod shapes): they are
 * known only once the file is loaded, so their keys join the schema here.
 */
function withInHouseKeys(raw: unknown, shown: string, builtins: SchemaExtensions | undefined): SchemaExtensions | undefined {
  const list = (raw as { plugins?: unknown } | null)?.plugins;
  if (!Array.isArray(list)) return builtins;
  const owned: OwnedExtensions[] = [{ by: BUILT_IN, shapes: builtins ?? {} }];
  list.forEach((p: unknown, i) => {
    const config = (p as { config?: unknown } | null)?.config;
    if (!p || config === undefined) return;
    const name = String((p as { name?: unknown }).name ?? `plugins[${i}]`);
    for (const [level, shape] of Object.entries(config as object)) {
      const known = level === 'top' || level === 'agent' || level === 'bottle';
      const bad = !known ? `has an unknown level "${level}" (top, agent, bottle)` : Object.entries((shape ?? {}) as object).find(([, v]) => !v || typeof v !== 'object' || !('_zod' in v))?.[0];
      if (bad) throw configError(shown, `plugins[${i}].config`, known ? `plugin "${name}": config.${level}.${bad} is not a zod schema` : `plugin "${name}": config ${bad}`, 'give each key a zod schema: config: { bottle: { myKey: z.string().optional() } }');
    }
    owned.push({ by: name, shapes: config as SchemaExtensions });
  });
  try {
    return mergeExtensions(...owned);
  } catch (e) {
    throw configError(shown, 'plugins', (e as Error).message);
  }
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

/**
 * The parser's own message with the line and column it points at: JSON gives
 * a position, YAML a (line:col), a TypeScript or JavaScript syntax error a
 * `file:LINE` and a caret line in its stack.
 */
export function describeLoadError(e: unknown, file: string): string {
  if (!(e instanceof Error)) return String(e);
  const lines = e.message.split('\n').map((l) => l.trimEnd());
  // cosmiconfig's "JSON Error in FILE:" / "YAML Error in FILE:" header carries nothing.
  const body = lines.filter((l) => l.trim() && !/^(JSON|YAML) Error in /.test(l));
  const message = body[0]?.trim() ?? lines[0] ?? 'unknown error';
  const json = /at position (\d+)/.exec(message);
  if (json) {
    const { line, column } = positionOf(file, Number(json[1]));
    return `line ${line}, column ${column}: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
  }
  const yaml = /\((\d+):(\d+)\)\s*$/.exec(message);
  if (yaml) return `line ${yaml[1]}, column ${yaml[2]}: ${message.replace(/\s*\(\d+:\d+\)\s*$/, '')}`;
  const stack = String(e.stack ?? '').split('\n');
  const at = stack.findIndex((l) => l.startsWith(pathToFileURL(file).href + ':') || l.startsWith(file + ':'));
  if (at !== -1) {
    const line = stack[at]!.slice(stack[at]!.lastIndexOf(':') + 1);
    const caret = stack[at + 2]?.indexOf('^') ?? -1;
    if (/^\d+$/.test(line)) return `line ${line}${caret >= 0 ? `, column ${caret + 1}` : ''}: ${message}`;
  }
  return message;
}

/** Line and column (1-based) of a character offset in a file. */
function positionOf(file: string, offset: number): { line: number; column: number } {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // gone: position 0
  }
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

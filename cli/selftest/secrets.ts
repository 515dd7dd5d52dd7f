// The credential attempt, host side: which real values the guest must never
// hold (known only here), and a scanner over the guest's dump (its env,
// every /proc/*/environ and cmdline it can read, the files of home and
// workspace) that looks for each value raw and in the encodings an agent
// would use to carry it. The values never go into the guest.
import { readFileSync } from 'node:fs';
import { resolveUserPath } from '../../core/paths.ts';
import type { SecretFinding } from './verdicts.ts';

export interface Secret {
  /** What it is, for the report: an env var or a key file; never the value. */
  name: string;
  value: string;
}

/** Shorter values would match by chance. */
const MIN_LENGTH = 8;

/** Placeholders the egress plugin put in the guest's env stand for real tokens in the host's env of the same name. */
const PLACEHOLDER = /^bottle-placeholder-/;

export interface SecretSources {
  /** The planned guest env and the agent's exec env. */
  guestEnv: Record<string, string>;
  hostEnv: Readonly<Record<string, string | undefined>>;
  /** `bottles.<b>.egress.routes[].inject.env` */
  routeEnvs: string[];
  /** `bottles.<b>.git.remotes.*.identityFile`, resolved against `configDir`. */
  identityFiles: string[];
  configDir: string;
}

/** Credentials Claude Code's route takes from the host (plugins/claude). */
const CLAUDE_ENVS = ['ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'];

export function collectSecrets(s: SecretSources): { secrets: Secret[]; ignored: string[] } {
  const secrets: Secret[] = [];
  const ignored: string[] = [];
  const add = (name: string, value: string | undefined) => {
    if (!value) return;
    if (value.length < MIN_LENGTH) {
      ignored.push(`${name} (shorter than ${MIN_LENGTH} characters)`);
      return;
    }
    if (!secrets.some((x) => x.value === value)) secrets.push({ name, value });
  };
  const envNames = new Set<string>([...CLAUDE_ENVS, ...s.routeEnvs]);
  for (const [k, v] of Object.entries(s.guestEnv)) if (PLACEHOLDER.test(v)) envNames.add(k);
  for (const k of envNames) add(`$${k}`, s.hostEnv[k]);
  for (const f of s.identityFiles) {
    const file = resolveUserPath(f, s.configDir, s.hostEnv.HOME);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      ignored.push(`${f} (unreadable here)`);
      continue;
    }
    add(`key ${f}`, text.trim());
    // A line of the key's body is enough to find a copy, re-wrapped or not.
    const body = text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 40 && !l.startsWith('-----'));
    body.forEach((l, i) => add(`key ${f} (line ${i + 2})`, l));
  }
  return { secrets, ignored };
}

/** The forms searched: raw, base64 (every alignment), hex, URL-encoded. */
export function encodings(value: string): Array<{ encoding: string; needle: Buffer }> {
  const raw = Buffer.from(value, 'utf8');
  const out: Array<{ encoding: string; needle: Buffer }> = [{ encoding: 'raw', needle: raw }];
  // In a base64 stream the value starts at one of three offsets; the characters
  // wholly determined by it are the same whatever came before or after.
  for (let pad = 0; pad < 3; pad++) {
    const b64 = Buffer.concat([Buffer.alloc(pad), raw]).toString('base64');
    const start = pad === 0 ? 0 : pad === 1 ? 2 : 3;
    const end = Math.floor(((pad + raw.length) / 3)) * 4;
    const core = b64.slice(start, end);
    if (core.length >= 12) {
      out.push({ encoding: 'base64', needle: Buffer.from(core) });
      const url = core.replace(/\+/g, '-').replace(/\//g, '_');
      if (url !== core) out.push({ encoding: 'base64url', needle: Buffer.from(url) });
    }
  }
  out.push({ encoding: 'hex', needle: Buffer.from(raw.toString('hex')) });
  out.push({ encoding: 'hex', needle: Buffer.from(raw.toString('hex').toUpperCase()) });
  const url = encodeURIComponent(value);
  if (url !== value) out.push({ encoding: 'url', needle: Buffer.from(url) });
  return out;
}

/** Looks for every secret in one piece of the dump. */
export function scanBuffer(data: Buffer, where: string, secrets: readonly Secret[], into: SecretFinding[]): void {
  for (const s of secrets) {
    for (const { encoding, needle } of encodings(s.value)) {
      if (data.indexOf(needle) !== -1) {
        into.push({ secret: s.name, where, encoding });
        break;
      }
    }
  }
}

/**
 * Parses the probe's framed dump as it streams (`F\t<where>\t<bytes>\n` then
 * the bytes; `S\t<skipped>\n` at the end) and scans each piece.
 */
export class DumpScanner {
  findings: SecretFinding[] = [];
  pieces = 0;
  bytes = 0;
  skipped = 0;
  #buf: Buffer = Buffer.alloc(0);
  #secrets: readonly Secret[];

  constructor(secrets: readonly Secret[]) {
    this.#secrets = secrets;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl === -1) return;
      const head = this.#buf.subarray(0, nl).toString('utf8');
      const s = /^S\t(\d+)$/.exec(head);
      if (s) {
        this.skipped = Number(s[1]);
        this.#buf = this.#buf.subarray(nl + 1);
        continue;
      }
      const m = /^F\t(.*)\t(\d+)$/.exec(head);
      if (!m) throw new Error(`the guest's dump is malformed near ${JSON.stringify(head.slice(0, 80))}`);
      const size = Number(m[2]);
      if (this.#buf.length < nl + 1 + size) return;
      const data = this.#buf.subarray(nl + 1, nl + 1 + size);
      this.pieces++;
      this.bytes += size;
      scanBuffer(data, m[1]!, this.#secrets, this.findings);
      this.#buf = this.#buf.subarray(nl + 1 + size);
    }
  }

  /** Throws when the dump ended in the middle of a piece. */
  end(): void {
    if (this.#buf.length) throw new Error(`the guest's dump ended in the middle of a piece (${this.#buf.length} bytes left)`);
  }
}

// What the benchmarks share: summary statistics, and counting the docker
// calls one `bottle` command makes.
import { accessSync, constants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Median, 90th percentile, min and max of a sample. */
export function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2, p90: at(0.9), min: s[0]!, max: s[s.length - 1]! };
}

/** The docker binary the CLI would run, as an absolute path. */
export function realDocker(): string {
  const bin = process.env.BOTTLE_DOCKER ?? 'docker';
  if (bin.includes('/')) return path.resolve(bin);
  for (const d of (process.env.PATH ?? '').split(path.delimiter)) {
    try {
      accessSync(path.join(d, bin), constants.X_OK);
      return path.join(d, bin);
    } catch {}
  }
  throw new Error(`bench: no \`${bin}\` on PATH`);
}

/**
 * The docker calls `run(env)` makes: a wrapper named `docker` logs each
 * call's subcommand and execs the real one. It is both BOTTLE_DOCKER and
 * first on PATH, so calls that ignore BOTTLE_DOCKER are counted too.
 */
export function countDockerCalls(workDir: string, name: string, run: (env: Record<string, string>) => unknown): string[] {
  const wrapDir = path.join(workDir, 'wrap');
  const log = path.join(workDir, `calls-${name}.log`);
  mkdirSync(wrapDir, { recursive: true });
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  writeFileSync(path.join(wrapDir, 'docker'), `#!/bin/sh\ncase $1 in network|image|container) echo "$1 $2" ;; *) echo "$1" ;; esac >> ${q(log)}\nexec ${q(realDocker())} "$@"\n`, { mode: 0o755 });
  run({ BOTTLE_DOCKER: path.join(wrapDir, 'docker'), PATH: `${wrapDir}${path.delimiter}${process.env.PATH ?? ''}` });
  return readFileSync(log, 'utf8').split('\n').filter(Boolean);
}

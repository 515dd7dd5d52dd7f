// `npm run bench:up`: what a bottle costs over a bare container. Times
// `bottle run -- true` (warm image, all built-in plugins, a small copied
// workspace) against `docker run --rm IMAGE true`, and counts the docker CLI
// calls one `bottle run` makes with 1 vs 50 workspace files (they must be
// equal: provisioning is one tar stream, whatever the number of files).
// The two are timed ALTERNATELY, one warm-up of each first, so drift on the
// machine (engine caches, CPU frequency, other load) hits both alike and the
// ratio stays fair. The ratio target (<= 2.0) is reported, never enforced.
//   node bench/up.ts [--runs N] [--image IMAGE]   (env BENCH_RUNS, BENCH_IMAGE)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { countDockerCalls, stats } from './lib.ts';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({ options: { runs: { type: 'string' }, image: { type: 'string' } } });
const RUNS = Number(args.runs ?? process.env.BENCH_RUNS ?? 10);
const IMAGE = args.image ?? process.env.BENCH_IMAGE ?? 'claude-bottle-agent:latest';
// What users run: the built JavaScript (`npm ci` builds it); the source otherwise.
const DIST_BIN = path.resolve(import.meta.dirname, '../bin/bottle.js');
const BIN = existsSync(path.resolve(import.meta.dirname, '../dist/cli/bin.js')) ? DIST_BIN : path.resolve(import.meta.dirname, '../cli/bin.ts');
const TARGET = 2.0;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`bench: --runs must be a positive integer (got ${args.runs ?? process.env.BENCH_RUNS})`);
  process.exit(2);
}

const base = mkdtempSync(path.join(tmpdir(), 'bottle-bench-'));

class RunFailed extends Error {}

/** Runs a command to the end and returns its wall time in ms; a failure ends the bench. */
function timed(what: string, cmd: string, argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) {
    process.stderr.write(`bench: ${what} failed (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})\n${r.stdout}${r.stderr}`);
    throw new RunFailed();
  }
  return ms;
}

/** A project dir whose workspace holds `files` files, bottle.config.json included. */
function project(name: string, files: number): { dir: string; env: Record<string, string> } {
  const dir = path.join(base, name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  const config = { image: IMAGE, agents: { bench: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copy' } } };
  writeFileSync(path.join(dir, 'bottle.config.json'), JSON.stringify(config, null, 2));
  for (let i = 1; i < files; i++) writeFileSync(path.join(dir, 'src', `f${i}.ts`), `export const n${i} = ${i};\n`);
  return { dir, env: { BOTTLE_QUIET: '1', BOTTLE_STATE_HOME: path.join(base, `${name}-state`) } };
}

const bottleRun = (p: { dir: string; env: Record<string, string> }, env: Record<string, string> = {}) =>
  timed('bottle run -- true', process.execPath, [BIN, 'run', '--', 'true'], { cwd: p.dir, env: { ...p.env, ...env } });
const dockerRun = () => timed('docker run --rm', 'docker', ['run', '--rm', IMAGE, 'true']);

const dockerCalls = (p: { dir: string; env: Record<string, string> }) => countDockerCalls(base, path.basename(p.dir), (env) => bottleRun(p, env));

try {
  const timedProject = project('proj', 5);
  bottleRun(timedProject); // warm-ups
  dockerRun();
  const bottle: number[] = [];
  const docker: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bottle.push(bottleRun(timedProject));
    docker.push(dockerRun());
  }
  const one = dockerCalls(project('one', 1));
  const fifty = dockerCalls(project('fifty', 50));

  const b = stats(bottle);
  const d = stats(docker);
  const ratio = b.median / d.median;
  const ms = (n: number) => `${Math.round(n)} ms`.padStart(9);
  const row = (name: string, s: ReturnType<typeof stats>) => `${name.padEnd(28)}${ms(s.median)}${ms(s.p90)}${ms(s.min)}${ms(s.max)}`;
  console.log(`bench up: ${RUNS} runs each, alternated after one warm-up each; image ${IMAGE}`);
  console.log(`${''.padEnd(28)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`);
  console.log(row('bottle run -- true', b));
  console.log(row(`docker run --rm IMAGE true`, d));
  console.log(`${'ratio of medians'.padEnd(28)}${ratio.toFixed(2)}x  (target <= ${TARGET.toFixed(1)}: ${ratio <= TARGET ? 'met' : 'NOT met'})`);
  console.log(`${'docker calls per bottle run'.padEnd(28)}1 file: ${one.length}, 50 files: ${fifty.length}  (${one.length === fifty.length ? 'equal' : 'NOT EQUAL'})`);
  console.log(`  ${one.join(', ')}`);
  if (one.length !== fifty.length) console.log(`  with 50 files: ${fifty.join(', ')}`);
} catch (e) {
  if (!(e instanceof RunFailed)) console.error(e);
  process.exitCode = 1;
} finally {
  rmSync(base, { recursive: true, force: true });
}

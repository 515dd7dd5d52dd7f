// `npm run bench:up`: what a bottle costs over a bare container. Times, in
// one run, ALTERNATING (one warm-up of each first, so drift on the machine
// hits all alike):
//   docker run --rm IMAGE true          the baseline;
//   bottle run -- true, plain           workspace copy (a small project), all
//                                       built-ins loaded, none with work to do;
//   bottle run -- true, fully equipped  the same plus egress (an allowlist, a
//                                       route injecting a credential, DLP on),
//                                       the bottle's CA, a git remote through the
//                                       gate (a local sshd as its upstream) and
//                                       supervise: every door and daemon up;
//   bottle run -- claude --version,     the fully equipped bottle running Claude
//     against docker run --rm IMAGE     Code (so the claude plugin works too: its
//     claude --version                  route, credential, seeded state), against
//                                       the same command in a bare container.
// It also counts the docker CLI calls one `bottle run` makes with 1 vs 50
// workspace files (they must be equal: provisioning is one tar stream).
// The targets (plain <= 1.5x, fully equipped <= 2.0x of the baseline) are
// reported, never enforced: the exit code is 1 only when a run fails.
//   node bench/up.ts [--runs N] [--image IMAGE]   (env BENCH_RUNS, BENCH_IMAGE)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startSshd, type Sshd } from '../test/helpers/sshd.ts';
import { countDockerCalls, stats } from './lib.ts';

const { values: args } = parseArgs({ options: { runs: { type: 'string' }, image: { type: 'string' } } });
const RUNS = Number(args.runs ?? process.env.BENCH_RUNS ?? 10);
const IMAGE = args.image ?? process.env.BENCH_IMAGE ?? 'claude-bottle-agent:latest';
// What users run: the built JavaScript (`npm ci` builds it); the source otherwise.
const DIST_BIN = path.resolve(import.meta.dirname, '../bin/bottle.js');
const BIN = existsSync(path.resolve(import.meta.dirname, '../dist/cli/bin.js')) ? DIST_BIN : path.resolve(import.meta.dirname, '../cli/bin.ts');
const TARGET = { plain: 1.5, full: 2.0, claude: 2.0 };
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

interface Project {
  dir: string;
  env: Record<string, string>;
}

/** A project dir whose workspace holds `files` files, bottle.config.json included, for the given bottle. */
function project(name: string, files: number, bottle: object = {}, env: Record<string, string> = {}): Project {
  const dir = path.join(base, name);
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  const config = { image: IMAGE, agents: { bench: { bottle: 'dev' } }, bottles: { dev: { workspace: 'copy', ...bottle } } };
  writeFileSync(path.join(dir, 'bottle.config.json'), JSON.stringify(config, null, 2));
  for (let i = 1; i < files; i++) writeFileSync(path.join(dir, 'src', `f${i}.ts`), `export const n${i} = ${i};\n`);
  return { dir, env: { BOTTLE_QUIET: '1', BOTTLE_STATE_HOME: path.join(base, `${name}-state`), ...env } };
}

/** Every door and daemon a bottle can have. */
function fullBottle(sshd: Sshd, repo: string): object {
  return {
    egress: {
      allow: ['example.com', 'raw.githubusercontent.com'],
      routes: [{ host: 'api.anthropic.com', inject: { header: 'x-api-key', env: 'BENCH_API_KEY' }, upstream: 'http://127.0.0.1:9' }],
      dlp: true,
    },
    git: {
      user: { name: 'Bench', email: 'bench@example.com' },
      remotes: { app: { upstream: sshd.url(repo), identityFile: sshd.identityFile, knownHosts: sshd.knownHosts } },
    },
    supervise: true,
  };
}

const bottleRun = (p: Project, env: Record<string, string> = {}, cmd = ['true']) =>
  timed(`bottle run -- ${cmd.join(' ')}`, process.execPath, [BIN, 'run', '--', ...cmd], { cwd: p.dir, env: { ...p.env, ...env } });
const dockerRun = (cmd = ['true']) => timed(`docker run --rm IMAGE ${cmd.join(' ')}`, 'docker', ['run', '--rm', IMAGE, ...cmd]);
const CLAUDE = ['claude', '--version'];
const dockerCalls = (p: Project) => countDockerCalls(base, path.basename(p.dir), (env) => bottleRun(p, env));

let sshd: Sshd | undefined;
try {
  sshd = await startSshd();
  const repo = sshd.bareRepo('app', { commits: 3 });
  const plain = project('plain', 5);
  const full = project('full', 5, fullBottle(sshd, repo), { BENCH_API_KEY: 'bench-not-a-real-key', ANTHROPIC_API_KEY: 'sk-ant-bench-not-a-real-key' });
  // Warm-ups: the image's layers, node's compile cache, the gate's first mirror.
  bottleRun(plain);
  bottleRun(full);
  bottleRun(full, {}, CLAUDE);
  dockerRun();
  dockerRun(CLAUDE);
  const t = { docker: [] as number[], plain: [] as number[], full: [] as number[], dockerClaude: [] as number[], claude: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    // The order rotates too: no variant always follows another.
    const order = [
      () => t.docker.push(dockerRun()),
      () => t.plain.push(bottleRun(plain)),
      () => t.full.push(bottleRun(full)),
      () => t.dockerClaude.push(dockerRun(CLAUDE)),
      () => t.claude.push(bottleRun(full, {}, CLAUDE)),
    ];
    for (let k = 0; k < order.length; k++) order[(i + k) % order.length]!();
  }
  const one = dockerCalls(project('one', 1));
  const fifty = dockerCalls(project('fifty', 50));

  const d = stats(t.docker);
  const ms = (n: number) => `${Math.round(n)} ms`.padStart(9);
  const row = (name: string, s: ReturnType<typeof stats>) => `${name.padEnd(40)}${ms(s.median)}${ms(s.p90)}${ms(s.min)}${ms(s.max)}`;
  const ratio = (name: string, xs: number[], target: number, base = d) => {
    const r = stats(xs).median / base.median;
    return `${name.padEnd(40)}${r.toFixed(2)}x  (target <= ${target.toFixed(1)}: ${r <= target ? 'met' : 'NOT met'})`;
  };
  console.log(`bench up: ${RUNS} runs each, alternated (order rotating) after one warm-up each; image ${IMAGE}; ${path.basename(BIN) === 'bottle.js' ? 'built dist/' : 'TypeScript sources'}`);
  console.log(`${''.padEnd(40)}${'median'.padStart(9)}${'p90'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`);
  console.log(row('docker run --rm IMAGE true', d));
  console.log(row('bottle run -- true, plain', stats(t.plain)));
  console.log(row('bottle run -- true, fully equipped', stats(t.full)));
  console.log(ratio('plain / docker run', t.plain, TARGET.plain));
  console.log(ratio('fully equipped / docker run', t.full, TARGET.full));
  console.log(row('docker run --rm IMAGE claude --version', stats(t.dockerClaude)));
  console.log(row('bottle run -- claude --version, full', stats(t.claude)));
  console.log(ratio('with claude / docker run (same cmd)', t.claude, TARGET.claude, stats(t.dockerClaude)));
  console.log(`${'docker calls per bottle run'.padEnd(40)}1 file: ${one.length}, 50 files: ${fifty.length}  (${one.length === fifty.length ? 'equal' : 'NOT EQUAL'})`);
  console.log(`  ${one.join(', ')}`);
  if (one.length !== fifty.length) console.log(`  with 50 files: ${fifty.join(', ')}`);
  console.log('  fully equipped: egress (2 allowed patterns, 1 route injecting a key, DLP on), the CA, a git remote (local sshd), git user, supervise; with `claude ...` the claude plugin too');
} catch (e) {
  if (!(e instanceof RunFailed)) console.error(e);
  process.exitCode = 1;
} finally {
  await sshd?.stop();
  rmSync(base, { recursive: true, force: true });
}

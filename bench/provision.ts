// `npm run bench:provision`: what Claude skills cost at provisioning. Times the
// kernel's files step (its `✓ provision N files (T)` progress line) and the
// whole `bottle run -- true` with 1 skill vs 20 skills (each a directory of a
// SKILL.md plus a few nested files, a few KB each), and counts the docker CLI
// calls of each (they must be equal: provisioning is one tar stream + one exec,
// whatever the number of skills). The two are run ALTERNATELY, one warm-up of
// each first, so drift on the machine hits both alike. The ratio target
// (<= 1.3, 20 skills over 1) is reported, never enforced.
//   node bench/provision.ts [--runs N] [--image IMAGE]   (env BENCH_RUNS, BENCH_IMAGE)
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
const TARGET = 1.3;
const MANY = 20;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`bench: --runs must be a positive integer (got ${args.runs ?? process.env.BENCH_RUNS})`);
  process.exit(2);
}

const base = mkdtempSync(path.join(tmpdir(), 'bottle-bench-provision-'));
const skillsDir = path.join(base, 'skills');

class RunFailed extends Error {}

/** A skill of ~5 KB: SKILL.md, a reference, and nested scripts and assets. */
function makeSkill(name: string): void {
  const dir = path.join(skillsDir, name);
  const filler = (n: number) => `${'lorem ipsum dolor sit amet '.repeat(Math.ceil(n / 27)).slice(0, n)}\n`;
  mkdirSync(path.join(dir, 'scripts', 'lib'), { recursive: true });
  mkdirSync(path.join(dir, 'assets'), { recursive: true });
  writeFileSync(path.join(dir, 'SKILL.md'), `---\nname: ${name}\ndescription: A benchmark skill.\n---\n\n# ${name}\n\n${filler(1500)}`);
  writeFileSync(path.join(dir, 'reference.md'), `# Reference\n\n${filler(1200)}`);
  writeFileSync(path.join(dir, 'scripts', 'run.sh'), `#!/bin/sh\n# ${filler(800)}echo ${name}\n`, { mode: 0o755 });
  writeFileSync(path.join(dir, 'scripts', 'lib', 'helpers.py'), `# ${filler(900)}def main():\n    return "${name}"\n`);
  writeFileSync(path.join(dir, 'assets', 'template.txt'), filler(600));
}

interface Project { name: string; dir: string; env: Record<string, string> }

/** A project dir (no workspace) whose agent installs `n` skills. */
function project(n: number): Project {
  const name = `skills-${n}`;
  const dir = path.join(base, name);
  mkdirSync(dir, { recursive: true });
  const names = Array.from({ length: n }, (_, i) => `skill-${String(i + 1).padStart(2, '0')}`);
  const config = { image: IMAGE, skillsDir, agents: { bench: { bottle: 'dev', skills: names } }, bottles: { dev: { workspace: 'none' } } };
  writeFileSync(path.join(dir, 'bottle.config.json'), JSON.stringify(config, null, 2));
  // CI=1: progress as plain lines on stderr (no BOTTLE_QUIET, we parse them).
  return { name, dir, env: { CI: '1', BOTTLE_STATE_HOME: path.join(base, `${name}-state`) } };
}

/** One `bottle run -- true`: its wall time and the files step's reported time, in ms. */
function run(p: Project, env: Record<string, string> = {}): { wall: number; provision: number } {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...p.env, ...env };
  delete childEnv.BOTTLE_QUIET;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', '--', 'true'], { cwd: p.dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const wall = performance.now() - t0;
  const fail = (why: string): never => {
    process.stderr.write(`bench: bottle run -- true with ${p.name} ${why}\n${r.stdout}${r.stderr}`);
    throw new RunFailed();
  };
  if (r.status !== 0) fail(`failed (${r.error?.message ?? (r.signal ? `signal ${r.signal}` : `exit ${r.status}`)})`);
  // cli/progress.ts formatDuration: `123 ms` under a second, `1.2 s` above.
  const m = /^✓ provision \d+ files? \((\d+) ms|^✓ provision \d+ files? \((\d+(?:\.\d+)?) s\)/m.exec(r.stderr);
  if (!m) return fail('printed no `✓ provision N files (T)` line');
  return { wall, provision: m[1] !== undefined ? Number(m[1]) : Number(m[2]) * 1000 };
}

/** Counted in a run of their own, so the wrapper's cost does not skew the timed runs. */
const dockerCalls = (p: Project) => countDockerCalls(base, p.name, (env) => run(p, env));

try {
  for (let i = 1; i <= MANY; i++) makeSkill(`skill-${String(i).padStart(2, '0')}`);
  const variants = [project(1), project(MANY)];
  for (const p of variants) run(p); // warm-ups
  const samples = variants.map(() => ({ wall: [] as number[], provision: [] as number[] }));
  for (let i = 0; i < RUNS; i++) {
    variants.forEach((p, v) => {
      const r = run(p);
      samples[v]!.wall.push(r.wall);
      samples[v]!.provision.push(r.provision);
    });
  }
  const [one, many] = variants.map(dockerCalls) as [string[], string[]];

  const [p1, pN] = samples.map((s) => stats(s.provision)) as [ReturnType<typeof stats>, ReturnType<typeof stats>];
  const ratio = pN.median / p1.median;
  const ms = (n: number) => `${Math.round(n)} ms`.padStart(9);
  const row = (name: string, s: ReturnType<typeof stats>) => `${name.padEnd(28)}${ms(s.median)}${ms(s.min)}${ms(s.max)}`;
  console.log(`bench provision: ${RUNS} runs each, alternated after one warm-up each; image ${IMAGE}`);
  console.log(`${''.padEnd(28)}${'median'.padStart(9)}${'min'.padStart(9)}${'max'.padStart(9)}`);
  console.log(row('provision, 1 skill', p1));
  console.log(row(`provision, ${MANY} skills`, pN));
  console.log(row('bottle run wall, 1 skill', stats(samples[0]!.wall)));
  console.log(row(`bottle run wall, ${MANY} skills`, stats(samples[1]!.wall)));
  console.log(`${'ratio of provision medians'.padEnd(28)}${ratio.toFixed(2)}x  (target <= ${TARGET.toFixed(1)}: ${ratio <= TARGET ? 'met' : 'NOT met'})`);
  console.log(`${'docker calls per bottle run'.padEnd(28)}1 skill: ${one.length}, ${MANY} skills: ${many.length}  (${one.length === many.length ? 'equal' : 'NOT EQUAL'})`);
  console.log(`  ${one.join(', ')}`);
  if (one.length !== many.length) console.log(`  with ${MANY} skills: ${many.join(', ')}`);
} catch (e) {
  if (!(e instanceof RunFailed)) console.error(e);
  process.exitCode = 1;
} finally {
  rmSync(base, { recursive: true, force: true });
}

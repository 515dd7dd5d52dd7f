// The test command: every tier when a Docker engine answers; without one, the
// unit tier alone, saying plainly what was skipped and why. With CI=true a
// missing engine is a failure, never a skip.
import { spawnSync } from 'node:child_process';

const engine = spawnSync(process.env.BOTTLE_DOCKER ?? 'docker', ['info'], { stdio: 'ignore' }).status === 0;
const args = ['vitest', 'run', ...process.argv.slice(2)];
if (!engine) {
  if (process.env.CI === 'true' || process.env.CI === '1') {
    console.error('test: CI=true but no Docker engine answers `docker info`: the integration tier cannot be skipped in CI.');
    console.error('      start one (scripts/ensure-docker.sh installs and starts dockerd) and run again.');
    process.exit(1);
  }
  console.log('test: no Docker engine answers `docker info`, so only the unit tier runs.');
  console.log('test: SKIPPED the integration and e2e tiers (test/integration, test/e2e: real Docker). Start a Docker engine to run them.');
  args.push('--project', 'unit');
}
const types = spawnSync('npx', ['tsc', '-p', 'tsconfig.json', '--noEmit'], { stdio: 'inherit' });
if (types.status !== 0) {
  console.error('test: the type check failed (npx tsc -p tsconfig.json --noEmit)');
  process.exit(1);
}
// The linter: the bugs types do not catch (a promise nobody awaits) and the import boundaries (eslint.config.js).
const lint = spawnSync('npx', ['eslint', '--max-warnings', '0', '.'], { stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('test: the linter failed (npx eslint .)');
  process.exit(1);
}
const r = spawnSync('npx', args, { stdio: 'inherit' });
if (!engine) console.log('test: reminder: the integration and e2e tiers were SKIPPED (no Docker engine).');
process.exit(r.status ?? 1);

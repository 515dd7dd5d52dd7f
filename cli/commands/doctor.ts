// `bottle doctor`: checks what a bottle needs and says what to do about each.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { DockerCli } from '../../core/backends/docker-cli.ts';
import { agentImageExists, DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { stateRoot } from '../../core/state.ts';
import { load, type CommonOptions } from '../setup.ts';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export async function doctorCommand(opts: CommonOptions): Promise<number> {
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({ name: 'node', ok: major >= 22, detail: `v${process.versions.node}`, fix: 'install Node 24 LTS (engines: >=22)' });

  const cli = new DockerCli();
  let engine = false;
  try {
    const r = await cli.run(['version', '--format', '{{.Server.Version}}'], { allowFailure: true });
    engine = r.exitCode === 0;
    checks.push({
      name: 'docker engine',
      ok: engine,
      detail: engine ? `server ${r.stdout.trim()}` : r.stderr.trim().split('\n').pop() ?? 'no answer',
      fix: 'start the Docker engine (dockerd, or Docker Desktop); on Debian: apt-get install docker.io',
    });
  } catch (e) {
    checks.push({ name: 'docker CLI', ok: false, detail: (e as Error).message, fix: 'install Docker, or set BOTTLE_DOCKER to the docker binary' });
  }

  let image = DEFAULT_AGENT_IMAGE;
  try {
    image = (await load(opts)).config.image;
  } catch (e) {
    checks.push({ name: 'config', ok: false, detail: (e as Error).message, fix: 'fix the config (`bottle plan` shows the error)' });
  }
  if (engine) {
    const has = await agentImageExists(image);
    checks.push({ name: 'agent image', ok: has, detail: has ? image : `${image} not found`, fix: image === DEFAULT_AGENT_IMAGE ? 'run `bottle image build` (or just `bottle run`: it builds on first use)' : `build or pull ${image}` });
  }

  const root = stateRoot();
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    accessSync(root, constants.W_OK);
    checks.push({ name: 'state dir', ok: true, detail: root });
  } catch (e) {
    checks.push({ name: 'state dir', ok: false, detail: `${root}: ${(e as Error).message}`, fix: 'set BOTTLE_STATE_HOME to a writable directory' });
  }

  for (const c of checks) {
    process.stdout.write(`${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}\n`);
    if (!c.ok && c.fix) process.stdout.write(`    fix: ${c.fix}\n`);
  }
  return checks.every((c) => c.ok) ? 0 : 1;
}

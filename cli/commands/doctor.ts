// `bottle doctor`: checks what a bottle needs and says what to do about each.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { execa } from 'execa';
import { DockerCli } from '../../core/backends/docker-cli.ts';
import { checkVersion, SmolvmCli } from '../../core/backends/smolvm-cli.ts';
import { describeError } from '../../core/errors.ts';
import { agentImageExists, DEFAULT_AGENT_IMAGE } from '../../core/image/build.ts';
import { looksLocal, preparedSmolvmArchive } from '../../core/image/smolvm-image.ts';
import { stateRoot } from '../../core/state.ts';
import { load, type CommonOptions } from '../setup.ts';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Shown, but not a failure (smolvm when the config does not use it). */
  optional?: boolean;
}

/** What smolvm needs of the host: /dev/kvm on Linux, Hypervisor.framework on macOS. */
async function hypervisorCheck(): Promise<Check> {
  if (process.platform === 'linux') {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      return { name: 'hypervisor', ok: true, detail: '/dev/kvm' };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return {
        name: 'hypervisor',
        ok: false,
        detail: code === 'ENOENT' ? 'no /dev/kvm' : `/dev/kvm: ${code ?? (e as Error).message}`,
        fix: code === 'ENOENT'
          ? 'smolvm needs KVM: turn on virtualization (VT-x/AMD-V) in the firmware, or nested virtualization when this is a VM, and load kvm_intel or kvm_amd'
          : 'add yourself to the kvm group (sudo usermod -aG kvm $USER, then log in again)',
      };
    }
  }
  if (process.platform === 'darwin') {
    const r = await execa('sysctl', ['-n', 'kern.hv_support'], { reject: false });
    const ok = String(r.stdout).trim() === '1';
    return { name: 'hypervisor', ok, detail: ok ? 'Hypervisor.framework' : 'Hypervisor.framework is not available (kern.hv_support is not 1)', fix: 'smolvm needs Hypervisor.framework: a Mac with Apple silicon (or an Intel Mac with VT-x), not a VM without nested virtualization' };
  }
  return { name: 'hypervisor', ok: false, detail: `${process.platform}: smolvm runs on Linux (KVM) and macOS (Hypervisor.framework)`, fix: 'use backend: "docker" here' };
}

/** smolvm's presence and version, the hypervisor, the image prepared for it; failures count when the config uses smolvm. */
async function smolvmChecks(image: string, required: boolean): Promise<Check[]> {
  const cli = new SmolvmCli();
  const optional = !required;
  try {
    const version = await checkVersion(cli);
    const checks: Check[] = [{ name: 'smolvm', ok: true, detail: `${version} (${cli.bin})`, optional }];
    checks.push({ ...(await hypervisorCheck()), optional });
    if (!looksLocal(image)) {
      const archive = await preparedSmolvmArchive(image).catch(() => undefined);
      checks.push({ name: 'smolvm image', ok: Boolean(archive), detail: archive ?? `${image} not saved for smolvm yet`, fix: 'run `bottle image build` (or just `bottle run`: it saves the image on first use)', optional });
    }
    return checks;
  } catch (e) {
    if (!required && /command was not found/.test(describeError(e))) return [];
    return [{ name: 'smolvm', ok: false, detail: describeError(e), fix: 'install smolvm 1.9 or later (https://github.com/smol-machines/smolvm), or set BOTTLE_SMOLVM to its path', optional }];
  }
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
  let backend: 'docker' | 'smolvm' = 'docker';
  try {
    const loaded = await load(opts);
    image = loaded.config.image;
    backend = loaded.config.backend;
  } catch (e) {
    checks.push({ name: 'config', ok: false, detail: (e as Error).message, fix: 'fix the config (`bottle plan` shows the error)' });
  }
  if (engine) {
    const has = await agentImageExists(image);
    checks.push({ name: 'agent image', ok: has, detail: has ? image : `${image} not found`, fix: image === DEFAULT_AGENT_IMAGE ? 'run `bottle image build` (or just `bottle run`: it builds on first use)' : `build or pull ${image}` });
  }

  checks.push(...(await smolvmChecks(image, backend === 'smolvm')));

  const root = stateRoot();
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    accessSync(root, constants.W_OK);
    checks.push({ name: 'state dir', ok: true, detail: root });
  } catch (e) {
    checks.push({ name: 'state dir', ok: false, detail: `${root}: ${(e as Error).message}`, fix: 'set BOTTLE_STATE_HOME to a writable directory' });
  }

  for (const c of checks) {
    process.stdout.write(`${c.ok ? '✓' : c.optional ? '-' : '✗'} ${c.name}: ${c.detail}${!c.ok && c.optional ? ' (only needed for backend: "smolvm")' : ''}\n`);
    if (!c.ok && c.fix) process.stdout.write(`    fix: ${c.fix}\n`);
  }
  return checks.every((c) => c.ok || c.optional) ? 0 : 1;
}

// A stand-in for the `smolvm` CLI (1.9), for machines without a hypervisor:
// the subcommands a bottle drives, with the real CLI's flags (as declared by
// clap in smolvm's src/cli/machine.rs), exit codes and messages. Any flag the
// real CLI lacks is a usage error (exit 2), as it is there.
//
// A machine is a record in $FAKE_SMOLVM_STATE/machines/<name>.json; a started
// machine is a Docker container with `--network none` whose main process is
// the machine's workload (`machine create -- CMD`), as smolvm runs it: a
// container launched at `machine start`, which `machine exec` joins while it
// runs (`docker exec`: same pid and mount namespaces); once it has ended the
// VM still runs, so an exec gets a fresh container of the same rootfs (here:
// `docker commit` + `docker run --rm`). `--mount-socket HOST:GUEST` puts
// the host socket at GUEST in every container (the host dir is bind-mounted
// aside and GUEST links to the socket, so the socket may appear after start,
// as smolvm dials it per connection). `-v` takes directories only.
//
// What it does not do: a VM (no kernel of its own, Docker's capabilities and
// seccomp instead of smolvm's "VM-grade" set), registry pulls (a registry
// reference boots only if the local Docker engine has that image), `--from`
// packs, rootfs directories, fork, pack, serve. Those exit 3 saying so.
//
// Every call is appended to $FAKE_SMOLVM_STATE/calls.jsonl (argv), so tests
// can check what a bottle asked of smolvm.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, closeSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

const VERSION = process.env.FAKE_SMOLVM_VERSION ?? '1.9.2';
const DOCKER = process.env.FAKE_SMOLVM_DOCKER ?? 'docker';
const STATE = process.env.FAKE_SMOLVM_STATE;
const argv = process.argv.slice(2);

// --- clap-like parsing ------------------------------------------------------

/** A flag: long name, short letter, whether it takes a value, whether it repeats. */
const f = (long, short, value = false, multi = false) => ({ long, short, value, multi });
const V = true;
const M = true;

const SPECS = {
  create: {
    usage: 'smolvm machine create [OPTIONS] [-- <COMMAND>...]',
    flags: [f('name', 'n', V), f('label', undefined, V, M), f('image', 'I', V), f('max-image-size', undefined, V), f('cpus', undefined, V), f('mem', undefined, V),
      f('storage', undefined, V), f('overlay', undefined, V), f('volume', 'v', V, M), f('port', 'p', V, M), f('net'), f('net-backend', undefined, V), f('dns', undefined, V),
      f('network', undefined, V), f('allow-cidr', undefined, V, M), f('allow-host', undefined, V, M), f('outbound-localhost-only'), f('gpu'), f('gpu-vram', undefined, V),
      f('rosetta'), f('expose-socket', undefined, V, M), f('mount-socket', undefined, V, M), f('init', undefined, V, M), f('env', 'e', V, M), f('workdir', 'w', V),
      f('ssh-agent'), f('cuda'), f('auto-graph'), f('docker-socket'), f('secret-env', undefined, V, M), f('secret-file', undefined, V, M), f('smolfile', 's', V), f('from', undefined, V)],
    trailing: 'last',
  },
  start: { usage: 'smolvm machine start [OPTIONS]', flags: [f('name', 'n', V), f('forkable'), f('fork-pool-size', undefined, V), f('cuda-vram-limit-mib', undefined, V), f('proxy', undefined, V), f('no-proxy', undefined, V)] },
  stop: { usage: 'smolvm machine stop [OPTIONS]', flags: [f('name', 'n', V)] },
  delete: { usage: 'smolvm machine delete [OPTIONS] --name <NAME>', flags: [f('name', 'n', V), f('force', 'f'), f('cascade')], required: ['name'] },
  status: { usage: 'smolvm machine status [OPTIONS]', flags: [f('name', 'n', V), f('json')] },
  ls: { usage: 'smolvm machine ls [OPTIONS]', flags: [f('verbose', 'v'), f('json')] },
  exec: {
    usage: 'smolvm machine exec [OPTIONS] <COMMAND>...',
    flags: [f('name', undefined, V), f('workdir', 'w', V), f('env', 'e', V, M), f('secret-env', undefined, V, M), f('secret-file', undefined, V, M), f('timeout', undefined, V),
      f('interactive', 'i'), f('tty', 't'), f('stream'), f('detach', 'd')],
    trailing: 'var',
  },
  cp: { usage: 'smolvm machine cp [OPTIONS] <SRC> <DST>', flags: [f('mode', undefined, V), f('uid', undefined, V), f('gid', undefined, V)], positionals: ['SRC', 'DST'] },
};
const ALIASES = { rm: 'delete', list: 'ls', vm: 'machine' };
const REAL_ONLY = ['run', 'fork', 'fork-release', 'egress-events', 'resize', 'update', 'images', 'prune', 'shell', 'sh', 'monitor', 'network-test', 'data-dir'];

function usageError(message, usage) {
  process.stderr.write(`error: ${message}\n\nUsage: ${usage}\n\nFor more information, try '--help'.\n`);
  process.exit(2);
}

/** Parses `args` against a subcommand's spec: { opts, positionals, command }. Exits 2 as clap does. */
function parse(spec, args) {
  const opts = {};
  const positionals = [];
  let command = [];
  const byLong = new Map(spec.flags.map((x) => [x.long, x]));
  const byShort = new Map(spec.flags.filter((x) => x.short).map((x) => [x.short, x]));
  const set = (flag, value) => {
    if (flag.multi) (opts[flag.long] ??= []).push(value);
    else if (opts[flag.long] !== undefined && flag.value) usageError(`the argument '--${flag.long} <${flag.long.toUpperCase()}>' cannot be used multiple times`, spec.usage);
    else opts[flag.long] = value;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      command = args.slice(i + 1);
      if (spec.trailing !== 'last' && spec.trailing !== 'var' && command.length) usageError(`unexpected argument '${command[0]}' found`, spec.usage);
      break;
    }
    if (a === '-h' || a === '--help') {
      process.stdout.write(`Usage: ${spec.usage}\n\nOptions:\n${spec.flags.map((x) => `  ${x.short ? `-${x.short}, ` : '    '}--${x.long}${x.value ? ' <VALUE>' : ''}`).join('\n')}\n`);
      process.exit(0);
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2);
      const flag = byLong.get(name);
      if (!flag) usageError(`unexpected argument '--${name}' found`, spec.usage);
      if (!flag.value) {
        if (inline !== undefined) usageError(`unexpected value '${inline}' for '--${name}' found; no more were expected`, spec.usage);
        set(flag, true);
        continue;
      }
      const value = inline ?? args[++i];
      if (value === undefined) usageError(`a value is required for '--${name} <${name.toUpperCase()}>' but none was supplied`, spec.usage);
      set(flag, value);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const flag = byShort.get(a[j]);
        if (!flag) usageError(`unexpected argument '-${a[j]}' found`, spec.usage);
        if (!flag.value) {
          set(flag, true);
          continue;
        }
        const value = a.length > j + 1 ? a.slice(j + 1) : args[++i];
        if (value === undefined) usageError(`a value is required for '--${flag.long} <${flag.long.toUpperCase()}>' but none was supplied`, spec.usage);
        set(flag, value);
        break;
      }
      continue;
    }
    if (spec.trailing === 'var') {
      command = args.slice(i);
      break;
    }
    if (positionals.length < (spec.positionals?.length ?? 0)) {
      positionals.push(a);
      continue;
    }
    usageError(`unexpected argument '${a}' found`, spec.usage);
  }
  for (const r of spec.required ?? []) if (opts[r] === undefined) usageError(`the following required arguments were not provided:\n  --${r} <${r.toUpperCase()}>`, spec.usage);
  if (spec.positionals && positionals.length < spec.positionals.length) {
    usageError(`the following required arguments were not provided:\n  ${spec.positionals.slice(positionals.length).map((p) => `<${p}>`).join(' ')}`, spec.usage);
  }
  if (spec.trailing === 'var' && !command.length) usageError('the following required arguments were not provided:\n  <COMMAND>...', spec.usage);
  return { opts, positionals, command };
}

// --- state ------------------------------------------------------------------

function fail(message, code = 1) {
  process.stderr.write(`Error: ${message}\n`);
  process.exit(code);
}

function notInFake(what) {
  process.stderr.write(`fake-smolvm: ${what} is not implemented by the test fake\n`);
  process.exit(3);
}

const machinesDir = () => path.join(STATE, 'machines');
const recordPath = (name) => path.join(machinesDir(), `${name}.json`);
const load = (name) => (existsSync(recordPath(name)) ? JSON.parse(readFileSync(recordPath(name), 'utf8')) : undefined);
const save = (rec) => writeFileSync(recordPath(rec.name), JSON.stringify(rec, null, 2));
const containerName = (name) => `fake-smolvm-${name}`;

function docker(args, opts = {}) {
  const r = spawnSync(DOCKER, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) fail(`fake-smolvm: could not run ${DOCKER}: ${r.error.message}`);
  return { code: r.status ?? 1, stdout: (r.stdout ?? '').trim(), stderr: (r.stderr ?? '').trim() };
}

function containerRunning(name) {
  const r = docker(['inspect', '--format', '{{.State.Running}}', containerName(name)]);
  return r.code === 0 && r.stdout === 'true';
}

function mustExist(name) {
  const rec = load(name);
  if (!rec) fail(`vm not found: ${name}`);
  return rec;
}

function mustRun(name) {
  const rec = load(name);
  if (!rec) fail(`vm not found: ${name}`);
  if (rec.state !== 'running') fail(`agent operation failed: connect: machine '${name}' is not running. Use 'smolvm machine start --name ${name}' first.`);
  return rec;
}

// --- images -----------------------------------------------------------------

/** The Docker image id a `docker save` archive holds, loading it only when the engine lacks it. */
function imageFromArchive(file) {
  const m = spawnSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  let id;
  try {
    const config = JSON.parse(m.stdout)[0].Config;
    id = `sha256:${path.basename(config).replace(/\.json$/, '')}`;
  } catch {
    fail(`config operation failed: image archive: ${file} is not a docker save archive (no manifest.json)`);
  }
  if (docker(['image', 'inspect', '--format', '{{.Id}}', id]).code === 0) return id;
  const l = docker(['load', '--quiet', '--input', file]);
  if (l.code !== 0) fail(`config operation failed: image archive: ${l.stderr}`);
  return id;
}

function resolveImage(image) {
  if (image === '-') {
    const l = spawnSync(DOCKER, ['load', '--quiet'], { stdio: ['inherit', 'pipe', 'pipe'], encoding: 'utf8' });
    const said = (l.stdout ?? '').trim();
    if (l.status !== 0) fail(`config operation failed: image archive on stdin: ${(l.stderr ?? '').trim()}`);
    const id = /Loaded image ID: (\S+)/.exec(said)?.[1] ?? /Loaded image: (\S+)/.exec(said)?.[1];
    return { local: docker(['image', 'inspect', '--format', '{{.Id}}', id]).stdout };
  }
  const local = image.startsWith('/') || image.startsWith('./') || image.startsWith('../') || /\.(tar|tar\.gz|tgz)$/.test(image);
  if (!local) return { registry: image };
  if (!existsSync(image)) fail(`config operation failed: image archive: ${image}: No such file or directory (os error 2)`);
  if (statSync(image).isDirectory()) notInFake('a rootfs directory as --image');
  return { local: imageFromArchive(image) };
}

// --- subcommands --------------------------------------------------------------

function create(args) {
  const { opts, command } = parse(SPECS.create, args);
  if (opts.from) notInFake('--from (a .smolmachine pack)');
  if (opts.smolfile) notInFake('--smolfile');
  const name = opts.name ?? `vm-${Math.random().toString(36).slice(2, 8)}`;
  const labels = {};
  for (const l of opts.label ?? []) {
    const at = l.indexOf('=');
    if (at === -1) fail(`config operation failed: --label: expected KEY=VALUE, got '${l}'`);
    if (at === 0) fail(`config operation failed: --label: label key cannot be empty (in '${l}')`);
    labels[l.slice(0, at)] = l.slice(at + 1);
  }
  const sockets = [];
  for (const s of opts['mount-socket'] ?? []) {
    const at = s.indexOf(':');
    if (at === -1) fail(`config operation failed: mount-socket: expected HOST_PATH:GUEST_PATH, got '${s}'`);
    const [host, guest] = [s.slice(0, at), s.slice(at + 1)];
    if (!host || !guest) fail(`config operation failed: mount-socket: both HOST_PATH and GUEST_PATH are required in '${s}'`);
    if (/[;|]/.test(guest)) fail(`config operation failed: publish-socket: guest path '${guest}' contains an unsupported character (';' or '|')`);
    if (!guest.startsWith('/')) fail(`config operation failed: publish-socket: guest path '${guest}' must be absolute`);
    if (sockets.some((x) => x.guest === guest)) fail(`config operation failed: mount-socket: guest path '${guest}' is mounted more than once`);
    sockets.push({ host, guest });
  }
  if (sockets.length + (opts['expose-socket'] ?? []).length > 64) fail('config operation failed: publish-socket: too many published sockets; max is 64');
  if ((opts['expose-socket'] ?? []).length) notInFake('--expose-socket');
  const volumes = [];
  for (const v of opts.volume ?? []) {
    const parts = v.split(':');
    const ro = parts.length === 3 && parts[2] === 'ro';
    if (parts.length < 2 || parts.length > 3 || (parts.length === 3 && !ro)) fail(`invalid mount path: expected HOST:GUEST[:ro], got '${v}'`);
    if (!existsSync(parts[0])) fail(`mount source not found: ${parts[0]}`);
    if (!statSync(parts[0]).isDirectory()) fail(`invalid mount path: ${parts[0]} is not a directory (only directories can be mounted)`);
    volumes.push({ host: path.resolve(parts[0]), guest: parts[1], ro });
  }
  const env = (opts.env ?? []).map((e) => (e.includes('=') ? e : fail(`config operation failed: env: expected KEY=VALUE, got '${e}'`)));
  const image = opts.image ? resolveImage(opts.image) : undefined;
  mkdirSync(machinesDir(), { recursive: true });
  const rec = {
    name, labels, image, env, workdir: opts.workdir ?? null, volumes, sockets, init: opts.init ?? [], command,
    cpus: Number(opts.cpus ?? 4), mem: Number(opts.mem ?? 8192), network: Boolean(opts.net || opts['allow-cidr'] || opts['allow-host'] || opts['outbound-localhost-only'] || opts.dns || opts.network),
    ports: opts.port ?? [], state: 'created', created_at: Math.floor(Date.now() / 1000),
  };
  // The name is reserved atomically, as smolvm's DB reservation does.
  let fd;
  try {
    fd = openSync(recordPath(name), 'wx');
  } catch {
    fail(`config operation failed: create machine: machine '${name}' already exists or is being created`);
  }
  writeSync(fd, JSON.stringify(rec, null, 2));
  closeSync(fd);
  process.stdout.write(`Created machine: ${name}\n  CPUs: ${rec.cpus}, Memory: ${rec.mem} MiB\n\nUse 'smolvm machine start --name ${name}' to start the machine\nThen use 'smolvm machine exec --name ${name} -- <command>' to run commands\n`);
}

/** The `docker run` options every container of a machine gets: no network, its env, dirs and sockets. */
function containerArgs(rec, sockDirs) {
  return [
    '--network', 'none', '--hostname', rec.name.slice(0, 63),
    ...rec.env.flatMap((e) => ['-e', e]),
    ...(rec.workdir ? ['-w', rec.workdir] : []),
    ...rec.volumes.flatMap((v) => ['-v', `${v.host}:${v.guest}${v.ro ? ':ro' : ''}`]),
    ...sockDirs.flatMap((d, i) => ['-v', `${d}:/.fake-smolvm/sockets/${i}:ro`]),
  ];
}

/** A shell prologue that puts each mounted socket at its guest path, then execs the command. */
function socketSetup(rec, sockDirs) {
  const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = rec.sockets.map((s) => {
    const link = `/.fake-smolvm/sockets/${sockDirs.indexOf(path.dirname(s.host))}/${path.basename(s.host)}`;
    return `mkdir -p ${q(path.posix.dirname(s.guest))} && ln -sfn ${q(link)} ${q(s.guest)} || exit 125`;
  });
  return [...lines, 'exec "$@"'].join('\n');
}

function imageRef(rec) {
  if (!rec.image) fail('fake-smolvm: a machine without --image is not implemented by the test fake', 3);
  if (rec.image.local) return rec.image.local;
  if (docker(['image', 'inspect', '--format', '{{.Id}}', rec.image.registry]).code !== 0) {
    fail(`agent operation failed: start background CMD: failed to pull image '${rec.image.registry}': registry unreachable`);
  }
  return rec.image.registry;
}

function workloadArgv(rec, image) {
  if (rec.command.length) return rec.command;
  const r = docker(['image', 'inspect', '--format', '{{json .Config.Entrypoint}} {{json .Config.Cmd}}', image]);
  const [ep, cmd] = r.stdout.split(' ').map((x) => JSON.parse(x) ?? []);
  return [...ep, ...cmd];
}

function start(args) {
  const { opts } = parse(SPECS.start, args);
  const name = opts.name ?? 'default';
  const rec = mustExist(name);
  if (rec.state === 'running' && containerRunning(name)) {
    process.stdout.write(`Machine '${name}' is already running\n`);
    return;
  }
  const image = imageRef(rec);
  if (docker(['inspect', containerName(name)]).code === 0) {
    // Started before: the same rootfs, the workload launched again.
    const r = docker(['start', containerName(name)]);
    if (r.code !== 0) fail(`agent operation failed: start background CMD: ${r.stderr}`);
  } else {
    const sockDirs = [...new Set(rec.sockets.map((s) => path.dirname(s.host)))];
    const r = docker(['run', '-d', '--name', containerName(name), '--label', `fake-smolvm.machine=${name}`, '--label', `fake-smolvm.state=${STATE}`,
      ...containerArgs(rec, sockDirs), '--entrypoint', 'sh', image, '-c', socketSetup(rec, sockDirs), 'fake-smolvm-init', ...workloadArgv(rec, image)]);
    if (r.code !== 0) fail(`agent operation failed: start background CMD: ${r.stderr}`);
  }
  save({ ...rec, state: 'running', pid: process.pid });
  process.stdout.write(`Starting machine '${name}'...\nMachine '${name}' started\n`);
}

function stop(args) {
  const { opts } = parse(SPECS.stop, args);
  const name = opts.name ?? 'default';
  const rec = mustExist(name);
  if (rec.state !== 'running') {
    process.stdout.write(`Machine '${name}' is not running\n`);
    return;
  }
  docker(['stop', '--time', '1', containerName(name)]);
  save({ ...rec, state: 'stopped', pid: null });
  process.stdout.write(`Stopping machine '${name}'...\nMachine '${name}' stopped\n`);
}

function readLine() {
  const buf = Buffer.alloc(256);
  let n = 0;
  try {
    n = readFileSync(0).copy(buf);
  } catch {
    n = 0;
  }
  return buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
}

function del(args) {
  const { opts } = parse(SPECS.delete, args);
  const rec = mustExist(opts.name);
  if (!opts.force && !opts.cascade) {
    process.stderr.write(`Delete machine '${rec.name}'? [y/N] `);
    const answer = readLine().trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') {
      process.stdout.write('Cancelled\n');
      return;
    }
  }
  if (rec.state === 'running') process.stdout.write(`Stopping machine '${rec.name}'...\n`);
  const r = docker(['rm', '--force', '--volumes', containerName(rec.name)]);
  if (r.code !== 0 && !/No such container/i.test(r.stderr)) fail(`agent operation failed: delete machine: ${r.stderr}`);
  rmSync(recordPath(rec.name), { force: true });
  process.stdout.write(`Deleted machine: ${rec.name}\n`);
}

function statusJson(rec) {
  return {
    name: rec.name, state: rec.state, cpus: rec.cpus, memory_mib: rec.mem, pid: rec.pid ?? null, mounts: rec.volumes.length, ports: rec.ports.length,
    created_at: rec.created_at, storage_gb: null, overlay_gb: null, image: rec.image ? (rec.image.registry ?? `local:${rec.image.local}`) : null,
    entrypoint: [], cmd: rec.command, ephemeral: false, gpu: false, labels: rec.labels, restart_policy: 'never', network: rec.network,
  };
}

function all() {
  if (!existsSync(machinesDir())) return [];
  return readdirSync(machinesDir()).filter((x) => x.endsWith('.json')).map((x) => JSON.parse(readFileSync(path.join(machinesDir(), x), 'utf8')));
}

function ls(args) {
  const { opts } = parse(SPECS.ls, args);
  const list = all();
  if (opts.json) {
    process.stdout.write(list.length ? `${JSON.stringify(list.map(statusJson), null, 2)}\n` : '[]\n');
    return;
  }
  if (!list.length) {
    process.stdout.write('No machines found\n');
    return;
  }
  process.stdout.write(`${'NAME'.padEnd(20)} ${'STATE'.padEnd(12)}\n${'-'.repeat(88)}\n`);
  for (const m of list) process.stdout.write(`${m.name.slice(0, 18).padEnd(20)} ${m.state.padEnd(12)}\n`);
}

function status(args) {
  const { opts } = parse(SPECS.status, args);
  const name = opts.name ?? 'default';
  const rec = load(name);
  if (!rec) fail(opts.json ? `config operation failed: machine status: machine '${name}' not found` : `vm not found: ${name}`);
  if (opts.json) process.stdout.write(`${JSON.stringify(statusJson(rec), null, 2)}\n`);
  else process.stdout.write(`Machine '${name}': ${rec.state}\n`);
}

function parseDuration(s) {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(s);
  if (!m) usageError(`invalid value '${s}' for '--timeout <DURATION>': invalid duration`, SPECS.exec.usage);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'];
}

/** Runs docker attached to our stdio, passing our signals on; exits with its code. */
function attached(args, stdinToo, timeoutMs, after) {
  const child = spawn(DOCKER, args, { stdio: [stdinToo ? 'inherit' : 'ignore', 'inherit', 'inherit'] });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
  child.on('close', (code, signal) => {
    if (timer) clearTimeout(timer);
    after?.();
    process.exit(code ?? (signal ? 128 + 9 : 1));
  });
}

function exec(args) {
  const { opts, command } = parse(SPECS.exec, args);
  if (opts.detach && (opts.interactive || opts.tty || opts.stream)) usageError("the argument '--detach' cannot be used with '--interactive'", SPECS.exec.usage);
  const timeoutMs = opts.timeout ? parseDuration(opts.timeout) : undefined;
  const name = opts.name ?? 'default';
  const rec = mustRun(name);
  for (const e of opts.env ?? []) if (!e.includes('=')) fail(`config operation failed: env: expected KEY=VALUE, got '${e}'`);
  const tty = Boolean(opts.tty && process.stdin.isTTY);
  const flags = [...(opts.interactive ? ['-i'] : []), ...(tty ? ['-t'] : []), ...(opts.env ?? []).flatMap((e) => ['-e', e]), ...(opts.workdir ? ['-w', opts.workdir] : [])];
  if (containerRunning(name)) {
    if (opts.detach) {
      const r = docker(['exec', '-d', ...flags, containerName(name), ...command]);
      if (r.code !== 0) fail(`agent operation failed: run background: ${r.stderr}`);
      process.stdout.write('0\n');
      return;
    }
    attached(['exec', ...flags, containerName(name), ...command], Boolean(opts.interactive), timeoutMs);
    return;
  }
  // The workload has ended; the VM runs on: a fresh container of the same rootfs.
  const snap = docker(['commit', containerName(name)]);
  if (snap.code !== 0) fail(`agent operation failed: run: ${snap.stderr}`);
  const sockDirs = [...new Set(rec.sockets.map((s) => path.dirname(s.host)))];
  attached(['run', '--rm', ...flags, ...containerArgs(rec, sockDirs), '--entrypoint', 'sh', snap.stdout, '-c', socketSetup(rec, sockDirs), 'fake-smolvm-exec', ...command],
    Boolean(opts.interactive), timeoutMs, () => docker(['rmi', '--force', snap.stdout]));
}

function cp(args) {
  const { opts, positionals } = parse(SPECS.cp, args);
  const [src, dst] = positionals;
  const remote = (s) => {
    const at = s.indexOf(':');
    return at === -1 ? undefined : { name: s.slice(0, at), path: s.slice(at + 1) };
  };
  const from = remote(src);
  const to = from ? undefined : remote(dst);
  if (!from && !to) fail('config operation failed: cp: one of SRC or DST must use machine:path syntax (e.g., myvm:/workspace/file)');
  if (from && (opts.mode || opts.uid || opts.gid)) fail('config operation failed: cp: --mode/--uid/--gid apply to uploads only (host -> machine)');
  const m = from ?? to;
  mustRun(m.name);
  if (!containerRunning(m.name)) notInFake('cp into a machine whose workload has ended');
  if (from) {
    const r = docker(['cp', `${containerName(m.name)}:${m.path}`, dst]);
    if (r.code !== 0) fail(`agent operation failed: read file: ${r.stderr}`);
    return;
  }
  let st;
  try {
    st = statSync(src);
  } catch (e) {
    fail(`agent operation failed: read local file: ${src}: ${e.message}`);
  }
  if (!st.isFile()) fail(`agent operation failed: read local file: ${src}: Is a directory (os error 21)`);
  if (opts.mode && !/^(0o|0)?[0-7]{1,4}$/.test(opts.mode)) fail(`config operation failed: cp: invalid octal mode '${opts.mode}' (expected e.g. 644)`);
  const r = docker(['cp', src, `${containerName(m.name)}:${m.path}`]);
  if (r.code !== 0) fail(`agent operation failed: write file: ${r.stderr}`);
  const fix = [`chown ${opts.uid ?? 0}:${opts.gid ?? 0} "$1"`, ...(opts.mode ? [`chmod ${opts.mode.replace(/^0o/, '')} "$1"`] : [])].join(' && ');
  docker(['exec', '-u', '0', containerName(m.name), 'sh', '-c', fix, 'cp', m.path]);
}

// --- main -------------------------------------------------------------------

const TOP_USAGE = 'smolvm <COMMAND>';
if (argv[0] === '--version' || argv[0] === '-V') {
  process.stdout.write(`smolvm ${VERSION}\n`);
  process.exit(0);
}
if (!argv.length || argv[0] === '-h' || argv[0] === '--help') {
  process.stdout.write(`Build and run portable, self-contained virtual machines (test fake)\n\nUsage: ${TOP_USAGE}\n\nCommands:\n  machine  Manage machines (create, start, stop, exec)\n`);
  process.exit(argv.length ? 0 : 2);
}
const top = ALIASES[argv[0]] ?? argv[0];
if (top === 'serve' || top === 'pack' || top === 'config') notInFake(`\`smolvm ${top}\``);
if (top !== 'machine') usageError(`unrecognized subcommand '${argv[0]}'`, TOP_USAGE);
if (!STATE) fail('fake-smolvm: FAKE_SMOLVM_STATE must name the directory that holds the fake machines', 3);
mkdirSync(STATE, { recursive: true });
appendFileSync(path.join(STATE, 'calls.jsonl'), `${JSON.stringify(argv)}\n`);
const sub = ALIASES[argv[1]] ?? argv[1];
const rest = argv.slice(2);
const handlers = { create, start, stop, delete: del, status, ls, exec, cp };
if (sub === undefined) usageError("'smolvm machine' requires a subcommand but one was not provided", 'smolvm machine <COMMAND>');
if (REAL_ONLY.includes(sub)) notInFake(`\`smolvm machine ${sub}\``);
const h = handlers[sub];
if (!h) usageError(`unrecognized subcommand '${sub}'`, 'smolvm machine <COMMAND>');
h(rest);

// `bottle plan`: the resolved plan, with no side effects at all.
import { Bus } from '../../core/bus.ts';
import type { Plan } from '../../core/plan.ts';
import { configName, load, makeKernel, type CommonOptions } from '../setup.ts';

export async function planCommand(opts: CommonOptions & { json?: boolean }): Promise<number> {
  const loaded = await load(opts);
  const bus = new Bus();
  bus.on('warn', (w) => process.stderr.write(`warning: ${w.plugin ? `[${w.plugin}] ` : ''}${w.message}\n`));
  const kernel = makeKernel(loaded, { ...opts, bus });
  const plan = await kernel.plan();
  const view = { config: configName(loaded, process.cwd()), ...planView(plan, kernel.plugins.map((p) => p.name)) };
  process.stdout.write(opts.json ? JSON.stringify(view, null, 2) + '\n' : renderPlan(view));
  return 0;
}

/** The plan as shown: file contents are summarised, never printed. */
export function planView(plan: Plan, plugins: string[]) {
  return {
    slug: plan.slug,
    agent: plan.agent,
    bottle: plan.bottle,
    backend: plan.backend,
    image: plan.image,
    network: 'none: the guest has only lo; its ways out are the doors',
    doors: plan.doors.map((d) => ({ name: d.name, guest: d.guest, socket: d.socketPath, plugin: d.plugin, description: d.description })),
    workspace: plan.workspace,
    files: plan.files.map((f) => ({
      guestPath: f.guestPath,
      owner: f.owner,
      ...(f.mode !== undefined ? { mode: '0' + f.mode.toString(8) } : {}),
      source: f.hostPath ?? `(${typeof f.content === 'string' ? Buffer.byteLength(f.content) : (f.content?.length ?? 0)} bytes)`,
      ...(f.replace ? { replace: true } : {}),
      plugin: f.plugin,
    })),
    commands: plan.commands.map((c) => ({ ...(c.title ? { title: c.title } : {}), argv: c.argv, user: c.user, plugin: c.plugin, ...(c.optional ? { optional: true } : {}) })),
    env: plan.env,
    mounts: plan.mounts,
    daemons: plan.daemons,
    exec: plan.exec,
    plugins,
  };
}

function renderPlan(v: ReturnType<typeof planView> & { config: string }): string {
  const kv = (o: Record<string, string>) => Object.entries(o).map(([k, val]) => `    ${k}=${val}`).join('\n') || '    (none)';
  const lines = [
    `bottle ${v.slug}  (agent ${v.agent}, bottle ${v.bottle}, backend ${v.backend})`,
    `  config     ${v.config}`,
    `  image      ${v.image}`,
    `  network    ${v.network}`,
    `  doors (${v.doors.length}):`,
    ...v.doors.map((d) => `    ${d.guest} -> ${d.socket}  ${d.description}  [${d.plugin}]`),
    `  workspace  ${v.workspace.mode}${v.workspace.mode === 'none' ? '' : ` ${v.workspace.hostDir} -> ${v.workspace.guestDir}`}`,
    `  files (${v.files.length}):`,
    ...v.files.map((f) => `    ${f.guestPath}  ${f.owner}${'mode' in f ? ` ${f.mode}` : ''}  <- ${f.source}  [${f.plugin}]`),
    `  commands (${v.commands.length}):`,
    ...v.commands.map((c) => `    ${c.user}$ ${c.title ?? c.argv.join(' ')}  [${c.plugin}]`),
    `  env:`,
    kv(v.env),
    `  mounts (${v.mounts.length}):`,
    ...v.mounts.map((m) => (m.kind === 'volume' ? `    (the guest's own) -> ${m.guestPath}` : `    ${m.hostPath} -> ${m.guestPath}${m.readOnly ? ' (ro)' : ''}`)),
    `  daemons (${v.daemons.length}):`,
    ...v.daemons.map((d) => `    ${d.name}: ${d.description}  [${d.plugin}]`),
    `  exec       ${v.exec.user}@${v.exec.workdir}$ ${v.exec.argv.join(' ')}`,
    ...(Object.keys(v.exec.env).length ? [`  exec env:`, kv(v.exec.env)] : []),
    `  plugins    ${v.plugins.join(', ') || '(none)'}`,
  ];
  return lines.join('\n') + '\n';
}

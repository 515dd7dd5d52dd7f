// The composition root: config + built-in plugins + backend -> a kernel.
// It lives outside core/ because it is the one place that knows the built-ins.
import path from 'node:path';
import { type Bus } from '../core/bus.ts';
import { DockerBackend } from '../core/backends/docker.ts';
import { SmolvmBackend } from '../core/backends/smolvm.ts';
import type { Backend } from '../core/backends/types.ts';
import { loadAuditRedactor } from './audit-redactor.ts';
import { loadConfig, type LoadedConfig } from '../core/config/load.ts';
import { Kernel } from '../core/kernel.ts';
import { stateRoot } from '../core/state.ts';
import { builtinPlugins, builtinSchemaExtensions } from '../plugins/index.ts';

export interface CommonOptions {
  config?: string;
  agent?: string;
}

export function configName(loaded: LoadedConfig, cwd: string): string {
  if (!loaded.file) return '(built-in default config)';
  const rel = path.relative(cwd, loaded.file);
  return rel.startsWith('..') ? loaded.file : rel;
}

export async function load(opts: CommonOptions, cwd = process.cwd()): Promise<LoadedConfig> {
  return loadConfig({ cwd, ...(opts.config ? { file: opts.config } : {}), extensions: builtinSchemaExtensions });
}

/** The backend the config names: `docker` (the default) or `smolvm`. */
export function backendFor(loaded: LoadedConfig): Backend {
  return loaded.config.backend === 'smolvm' ? new SmolvmBackend() : new DockerBackend();
}

export function makeKernel(loaded: LoadedConfig, opts: CommonOptions & { signal?: AbortSignal; bus?: Bus; backend?: Backend }, cwd = process.cwd()): Kernel {
  return new Kernel({
    config: loaded.config,
    configName: configName(loaded, cwd),
    configDir: loaded.dir,
    configFiles: loaded.modules,
    agent: opts.agent,
    cwd,
    backend: opts.backend ?? backendFor(loaded),
    builtins: builtinPlugins(),
    stateRoot: stateRoot(),
    auditRedactor: loadAuditRedactor,
    ...(opts.bus ? { bus: opts.bus } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

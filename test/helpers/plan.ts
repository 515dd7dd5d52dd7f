// Plans a bottle with the real built-in plugins and a fake backend: what a
// plugin declares, without Docker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConfigSchema, type ResolvedConfig } from '../../core/config/schema.ts';
import { Kernel } from '../../core/kernel.ts';
import { builtinPlugins, builtinSchemaExtensions } from '../../plugins/index.ts';
import { FakeBackend } from './fake-backend.ts';

export function resolve(raw: object): ResolvedConfig {
  return createConfigSchema(builtinSchemaExtensions).parse(raw) as unknown as ResolvedConfig;
}

export function kernelFor(raw: object, opts: { hostEnv?: Record<string, string>; configDir?: string; backend?: FakeBackend } = {}) {
  const backend = opts.backend ?? new FakeBackend();
  const stateRoot = mkdtempSync(path.join(tmpdir(), 'bottle-unit-'));
  const kernel = new Kernel({
    config: resolve(raw),
    configName: 'bottle.config.ts',
    configDir: opts.configDir ?? '/cfg',
    cwd: opts.configDir ?? '/cfg',
    backend,
    builtins: builtinPlugins(),
    stateRoot,
    hostEnv: opts.hostEnv ?? { HOME: '/home/someone' },
    slug: 'demo-abc12',
  });
  return { kernel, backend, stateRoot };
}

/** One agent `demo` in one bottle `dev` (workspace none unless set). */
export function oneAgent(agent: object = {}, bottle: object = {}, top: object = {}) {
  return { agents: { demo: { bottle: 'dev', ...agent } }, bottles: { dev: { workspace: 'none', ...bottle } }, ...top };
}

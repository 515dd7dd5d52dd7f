// Plans a bottle with the real built-in plugins and a fake backend: what a
// plugin declares, without Docker.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createConfigSchema, type ResolvedConfig } from '../../core/config/schema.ts';
import { Kernel } from '../../core/kernel.ts';
import { builtinPlugins, builtinSchemaExtensions } from '../../plugins/index.ts';
import { FakeBackend } from './fake-backend.ts';

/** The host credential of tests: worth nothing anywhere. */
export const TEST_API_KEY = 'sk-ant-test-not-a-real-key-0123456789';

export function resolve(raw: object): ResolvedConfig {
  return createConfigSchema(builtinSchemaExtensions).parse(raw) as unknown as ResolvedConfig;
}

export function kernelFor(raw: object, opts: { hostEnv?: Record<string, string | undefined>; configDir?: string; backend?: FakeBackend } = {}) {
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
    // A credential, as a user of Claude Code has one (the claude plugin needs it for the default command).
    hostEnv: { HOME: '/home/someone', ANTHROPIC_API_KEY: TEST_API_KEY, ...opts.hostEnv },
    slug: 'demo-abc12',
  });
  return { kernel, backend, stateRoot };
}

/** One agent `demo` in one bottle `dev` (workspace none unless set). */
export function oneAgent(agent: object = {}, bottle: object = {}, top: object = {}) {
  return { agents: { demo: { bottle: 'dev', ...agent } }, bottles: { dev: { workspace: 'none', ...bottle } }, ...top };
}

// The kernel's lifecycle against a recording fake backend: hook order,
// teardown newest-first that completes whatever throws, errors that name the
// plugin, and a plan with no side effects.
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kernel } from '../../../core/kernel.ts';
import type { BottlePlugin, HookName } from '../../../core/hooks.ts';
import { createConfigSchema, type ResolvedConfig } from '../../../core/config/schema.ts';
import { BottleError } from '../../../core/errors.ts';
import type { GuestSpec } from '../../../core/backends/types.ts';
import type { Door } from '../../../core/doors.ts';
import { FakeBackend } from '../../helpers/fake-backend.ts';

function config(extra: Partial<Record<string, unknown>> = {}): ResolvedConfig {
  return createConfigSchema().parse({ agents: { demo: { bottle: 'dev' } }, bottles: { dev: { workspace: 'none' } }, ...extra }) as ResolvedConfig;
}

function kernel(plugins: BottlePlugin[], backend = new FakeBackend(), signal?: AbortSignal) {
  const stateRoot = mkdtempSync(path.join(tmpdir(), 'bottle-unit-'));
  const k = new Kernel({ config: config(), configName: 'bottle.config.ts', configDir: '/x', cwd: '/x', backend, builtins: plugins, stateRoot, slug: 'demo-test1', ...(signal ? { signal } : {}) });
  return { k, backend, stateRoot };
}

/** A plugin that logs every hook it sees and registers an undo in preStart. */
function recorder(name: string, log: string[], failAt?: HookName): BottlePlugin {
  const at = (hook: HookName) => {
    log.push(`${name}:${hook}`);
    if (hook === failAt) throw new Error(`${name} broke in ${hook}`);
  };
  return {
    name,
    apply(hooks) {
      hooks.plan.tapPromise(name, async () => at('plan'));
      hooks.preStart.tapPromise(name, async (ctx) => {
        ctx.onUndo(`${name} undo`, () => void log.push(`${name}:undo`));
        at('preStart');
      });
      hooks.postStart.tapPromise(name, async () => at('postStart'));
      hooks.provision.tapPromise(name, async () => at('provision'));
      hooks.exec.tapPromise(name, async (spec) => {
        at('exec');
        return spec;
      });
      hooks.teardown.tapPromise(name, async () => at('teardown'));
    },
  };
}

describe('kernel lifecycle', () => {
  it('fires the hooks in order and tears down in reverse', async () => {
    const log: string[] = [];
    const { k, backend } = kernel([recorder('a', log), recorder('b', log)]);
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(0);
    expect(r.outcome).toBe('success');
    // exec runs twice: once pure for the plan, once as the bottle starts.
    expect(log).toEqual([
      'a:plan', 'b:plan', 'a:exec', 'b:exec',
      'a:preStart', 'b:preStart', 'a:postStart', 'b:postStart', 'a:provision', 'b:provision', 'a:exec', 'b:exec',
      'b:undo', 'a:undo', 'b:teardown', 'a:teardown',
    ]);
    // No network to make: the guest has none.
    expect(backend.methods()).toEqual(['startGuest', 'attach', 'removeGuest']);
  });

  it('returns the agent exit code', async () => {
    const backend = new FakeBackend();
    backend.agentExitCode = 42;
    const { k } = kernel([], backend);
    expect((await k.run(['false'])).exitCode).toBe(42);
  });

  for (const stage of ['preStart', 'postStart', 'provision'] as const) {
    it(`a plugin throwing in ${stage}: error names it, teardown still completes, nothing left`, async () => {
      const log: string[] = [];
      const { k, backend, stateRoot } = kernel([recorder('a', log), recorder('b', log, stage)]);
      const r = await k.run(['true']);
      expect(r.outcome).toBe('error');
      expect(r.exitCode).toBe(1);
      expect(r.error).toBeInstanceOf(BottleError);
      expect((r.error as BottleError).plugin).toBe('b');
      expect((r.error as BottleError).hook).toBe(stage);
      expect((r.error as Error).message).toBe(`plugin "b" failed in ${stage}: b broke in ${stage}`);
      expect(log.slice(-4)).toEqual(['b:undo', 'a:undo', 'b:teardown', 'a:teardown']);
      // The guest's container starts while preStart runs: it is removed whichever tap failed.
      expect(backend.methods().at(-1)).toBe('removeGuest');
      expect(readdirSync(path.join(stateRoot, 'bottles'))).toEqual([]);
    });
  }

  it('a plugin throwing in exec fails at plan time, before anything exists', async () => {
    const log: string[] = [];
    const { k, backend } = kernel([recorder('a', log, 'exec')]);
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(1);
    expect((r.error as BottleError).hook).toBe('exec');
    expect(backend.calls).toEqual([]);
    expect(log).toEqual(['a:plan', 'a:exec']);
  });

  it('a throwing undo and a throwing teardown tap do not stop the other steps; all are reported', async () => {
    const log: string[] = [];
    const breaker: BottlePlugin = {
      name: 'breaker',
      apply(hooks) {
        hooks.preStart.tapPromise('breaker', async (ctx) => {
          ctx.onUndo('breaker undo', () => {
            throw new Error('undo failed');
          });
        });
        hooks.teardown.tapPromise('breaker', async () => {
          throw new Error('teardown failed');
        });
      },
    };
    const backend = new FakeBackend();
    backend.failing.set('removeGuest', new Error('engine gone'));
    const { k, stateRoot } = kernel([recorder('a', log), breaker], backend);
    const r = await k.run(['true']);
    expect(r.teardownFailures.map((f) => [f.label, f.plugin])).toEqual([['remove guest', undefined], ['breaker: breaker undo', 'breaker'], ['breaker: teardown', 'breaker']]);
    // Every later step still ran: a's undo and teardown, state dir gone.
    expect(log.slice(-2)).toEqual(['a:undo', 'a:teardown']);
    expect(readdirSync(path.join(stateRoot, 'bottles'))).toEqual([]);
  });

  it('a failure to start the guest still removes it (docker run may leave a container)', async () => {
    const backend = new FakeBackend();
    backend.failing.set('startGuest', new BottleError('no such image', { code: 'IMAGE' }));
    const { k } = kernel([], backend);
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(1);
    expect(backend.methods()).toEqual(['startGuest', 'removeGuest']);
  });

  it('an abort during a hook ends as a signal, without waiting for the tap, and tears down', async () => {
    const ctl = new AbortController();
    const slow: BottlePlugin = {
      name: 'slow',
      apply(hooks) {
        hooks.provision.tapPromise('slow', () => {
          setTimeout(() => ctl.abort(), 10);
          return new Promise(() => {}); // never settles
        });
      },
    };
    const { k, backend } = kernel([slow], new FakeBackend(), ctl.signal);
    const r = await k.run(['true']);
    expect(r.outcome).toBe('signal');
    expect(r.exitCode).toBe(130);
    expect(backend.methods().at(-1)).toBe('removeGuest');
  });

  it('the run-time exec pass starts from the planned spec, not from its own output', async () => {
    const flag: BottlePlugin = {
      name: 'flag',
      apply(hooks) {
        hooks.exec.tapPromise('flag', async (spec, ctx) => {
          spec.argv.push('--flag');
          spec.env.STARTING = String(ctx.starting);
          return spec;
        });
      },
    };
    const { k, backend } = kernel([flag]);
    await k.run(['claude']);
    const attach = backend.calls.find((c) => c.method === 'attach')!.args[0] as { argv: string[]; env: Record<string, string> };
    expect(attach.argv).toEqual(['claude', '--flag']);
    expect(attach.env.STARTING).toBe('true');
  });

  it('refuses an exec hook that makes the agent run as root', async () => {
    const root: BottlePlugin = {
      name: 'root',
      apply(hooks) {
        hooks.exec.tapPromise('root', async (spec) => ({ ...spec, user: 'root' }));
      },
    };
    const { k, backend } = kernel([root]);
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(1);
    expect((r.error as Error).message).toContain('the agent always runs as node');
    expect(backend.calls).toEqual([]);
  });

  it('a warning from a plan tap carries its plugin name', async () => {
    const warner: BottlePlugin = { name: 'warner', apply(hooks) { hooks.plan.tapPromise('warner', async (_d, ctx) => ctx.warn('careful')); } };
    const { k } = kernel([warner]);
    const seen: unknown[] = [];
    k.bus.on('warn', (w) => seen.push(w));
    await k.plan();
    expect(seen).toEqual([{ message: 'careful', plugin: 'warner' }]);
  });

  it('runs only once', async () => {
    const { k } = kernel([]);
    await k.run(['true']);
    await expect(k.run(['true'])).rejects.toThrow('once');
  });
});

describe('kernel plan', () => {
  it('is pure: no backend call, no state dir', async () => {
    const files: BottlePlugin = {
      name: 'files',
      apply(hooks) {
        hooks.plan.tapPromise('files', async (draft) => {
          draft.files.push({ guestPath: '/home/node/a.txt', content: 'a', owner: 'node', plugin: 'files' });
          draft.exec.argv.push('--flag');
        });
      },
    };
    const { k, backend, stateRoot } = kernel([files]);
    const plan = await k.plan();
    expect(backend.calls).toEqual([]);
    expect(readdirSync(stateRoot)).toEqual([]);
    expect(plan.files).toHaveLength(1);
    expect(plan.exec.argv).toEqual(['claude', '--flag']);
    expect(Object.isFrozen(plan.files[0])).toBe(true);
  });

  it('rejects a guest file with a relative path, naming the plugin', async () => {
    const bad: BottlePlugin = {
      name: 'bad',
      apply(hooks) {
        hooks.plan.tapPromise('bad', async (d) => void d.files.push({ guestPath: 'rel/a', content: '', owner: 'node', plugin: 'bad' }));
      },
    };
    const { k } = kernel([bad]);
    await expect(k.plan()).rejects.toThrow('plugin "bad" declared a guest file whose path rel/a is not absolute');
  });

  it('streams no file into a guest whose preStart failed', async () => {
    const files: BottlePlugin = {
      name: 'files',
      apply(hooks) {
        hooks.plan.tapPromise('files', async (d) => void d.files.push({ guestPath: '/home/node/f', content: 'x', owner: 'node', plugin: 'files' }));
        hooks.preStart.tapPromise('files', async () => {
          throw new Error('the host side failed');
        });
      },
    };
    const { k, backend } = kernel([files]);
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(1);
    const input = backend.inputs[0] as NodeJS.ReadableStream & { destroyed: boolean; readableLength: number };
    expect(input.destroyed).toBe(true);
    expect(input.readableLength).toBe(0);
    expect(backend.methods()).toEqual(['startGuest', 'guest.provision', 'removeGuest']);
  });

  it('hands all planned files to the guest\'s init as one provisioning, however many, with no exec', async () => {
    for (const n of [1, 10]) {
      const many: BottlePlugin = {
        name: 'many',
        apply(hooks) {
          hooks.plan.tapPromise('many', async (d) => {
            for (let i = 0; i < n; i++) d.files.push({ guestPath: `/home/node/f${i}`, content: `${i}`, owner: 'node', plugin: 'many' });
          });
        },
      };
      const { k, backend } = kernel([many]);
      await k.run(['true']);
      expect(backend.methods().filter((m) => m === 'guest.provision')).toHaveLength(1);
      expect(backend.methods().filter((m) => m === 'guest.exec')).toHaveLength(0);
    }
  });
});

describe('plugin selection', () => {
  const mk = (name: string, dependencies?: string[]): BottlePlugin => ({ name, ...(dependencies ? { dependencies } : {}), apply() {} });
  const make = (cfg: Partial<ResolvedConfig>, builtins: BottlePlugin[]) =>
    new Kernel({ config: { ...config(), ...cfg }, configName: 'bottle.config.ts', configDir: '/x', cwd: '/x', backend: new FakeBackend(), builtins, stateRoot: '/nonexistent' });

  it('disable switches a built-in off', () => {
    expect(make({ disable: ['b'] }, [mk('a'), mk('b')]).plugins.map((p) => p.name)).toEqual(['a']);
  });
  it('disabling an unknown built-in is a config error naming it', () => {
    expect(() => make({ disable: ['nope'] }, [mk('a')])).toThrow('bottle.config.ts: disable[0]: no built-in plugin named "nope"');
  });
  it('a missing dependency names both plugins', () => {
    expect(() => make({ disable: ['a'] }, [mk('a'), mk('b', ['a'])])).toThrow('plugin "b" needs plugin "a", which is disabled');
  });
  it('two plugins with one name are refused', () => {
    expect(() => make({ plugins: [mk('a')] }, [mk('a')])).toThrow('two plugins are named "a"');
  });
  it('a plugin whose apply throws is named', () => {
    const boom: BottlePlugin = { name: 'boom', apply() { throw new Error('bad options'); } };
    expect(() => make({}, [boom])).toThrow('plugin "boom" failed to load: bad options');
  });
  it('several agents need --agent; an unknown agent is named', () => {
    const cfg = createConfigSchema().parse({ agents: { a: { bottle: 'dev' }, b: { bottle: 'dev' } }, bottles: { dev: {} } }) as ResolvedConfig;
    const mkK = (agent?: string) => new Kernel({ config: cfg, configName: 'c.json', configDir: '/x', cwd: '/x', backend: new FakeBackend(), builtins: [], stateRoot: '/x', agent });
    expect(() => mkK()).toThrow('c.json defines 2 agents (a, b): choose one with --agent NAME');
    expect(() => mkK('zz')).toThrow('c.json: no agent named "zz" (agents: a, b)');
    expect(mkK('b').agentName).toBe('b');
  });
});

describe('doors', () => {
  const withDoor = (name: string, port: number, plugin = name): BottlePlugin => ({
    name: plugin,
    apply(hooks) {
      hooks.plan.tapPromise(plugin, async (_draft, ctx) => {
        ctx.door({ name, port, description: `${name} daemon` });
      });
    },
  });

  it('a plugin gets a socket in the bottle doors dir and a guest address, both in the plan', async () => {
    let got: Door | undefined;
    const p: BottlePlugin = {
      name: 'mine',
      apply(hooks) {
        hooks.plan.tapPromise('mine', async (_d, ctx) => {
          got = ctx.door({ name: 'cache', port: 7000, description: 'a cache' });
        });
      },
    };
    const { k, stateRoot } = kernel([p]);
    const plan = await k.plan();
    expect(got).toMatchObject({ name: 'cache', host: '127.0.0.1', port: 7000, url: 'http://127.0.0.1:7000', socketPath: path.join(stateRoot, 'bottles', 'demo-test1', 'doors', 'cache.sock') });
    expect(plan.doors).toEqual([{ name: 'cache', port: 7000, description: 'a cache', plugin: 'mine', socketPath: got!.socketPath, guest: '127.0.0.1:7000' }]);
    // Planning made nothing.
    expect(existsSync(path.join(stateRoot, 'bottles'))).toBe(false);
  });

  it('a port or a name already taken is an error naming both plugins', async () => {
    await expect(kernel([withDoor('a', 7000, 'one'), withDoor('b', 7000, 'two')]).k.plan()).rejects.toThrow(/port 7000 is already door "a" of plugin "one"/);
    await expect(kernel([withDoor('a', 7000, 'one'), withDoor('a', 7001, 'two')]).k.plan()).rejects.toThrow(/door "a" is already declared by plugin "one"/);
    await expect(kernel([withDoor('lifeline', 7000)]).k.plan()).rejects.toThrow(/kernel's own/);
    await expect(kernel([withDoor('Bad Name', 7000, 'bad')]).k.plan()).rejects.toThrow(/lower-case/);
  });

  it('the guest gets every door and the lifeline; the lifeline is open while the bottle runs and gone after', async () => {
    const backend = new FakeBackend();
    let lifelineUp = false;
    const { k, stateRoot } = kernel([withDoor('proxy', 3128), withDoor('git', 9418)], backend);
    const doorsDir = path.join(stateRoot, 'bottles', 'demo-test1', 'doors');
    const attach = backend.attach.bind(backend);
    backend.attach = async (g, spec) => {
      lifelineUp = await new Promise<boolean>((resolve) => {
        const s = net.connect(path.join(doorsDir, 'lifeline.sock'));
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      return attach(g, spec);
    };
    const r = await k.run(['true']);
    expect(r.exitCode).toBe(0);
    const spec = backend.calls.find((c) => c.method === 'startGuest')!.args[0] as GuestSpec;
    expect(spec.doors).toEqual({ hostDir: doorsDir, lifeline: 'lifeline.sock', forwards: [{ port: 3128, socket: 'proxy.sock' }, { port: 9418, socket: 'git.sock' }] });
    expect(lifelineUp).toBe(true);
    expect(existsSync(doorsDir)).toBe(false);
  });
});

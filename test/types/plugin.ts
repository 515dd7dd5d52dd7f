// What an editor tells a plugin author, without @types/node.
import { definePlugin, type BottlePlugin } from 'claude-bottle';
import { z } from 'zod';

export const conditional = definePlugin({
  name: 'conditional-host',
  config: { bottle: { extraHost: z.string().optional().describe('A host to allow when EXTRA_HOST_ON is set.') } },
  dependencies: ['egress'],
  apply(hooks, api) {
    hooks.plan.tap('conditional-host', (_draft, ctx) => {
      const host: string | undefined = api.config.bottle.extraHost;
      if (host && ctx.hostEnv.EXTRA_HOST_ON) api.use('egress').allowHost(host, 'conditional-host');
      ctx.warn('planned');
      const e = ctx.configError('bottles.dev.extraHost', 'bad');
      void e.message;
      // @ts-expect-error -- allowHost takes a string
      api.use('egress').allowHost(42);
      // @ts-expect-error -- no plugin offers an api named like this
      api.use('egres');
    });
    hooks.preStart.tapPromise('conditional-host', async (ctx) => {
      ctx.bus.emit('audit', { type: 'conditional.started', plugin: 'conditional-host' });
      ctx.bus.emit('warn', { message: 'x' });
      // @ts-expect-error -- an event the bus does not have
      ctx.bus.emit('nope', {});
      // @ts-expect-error -- an audit record needs its type
      ctx.bus.emit('audit', { plugin: 'conditional-host' });
    });
  },
});

// @ts-expect-error -- a plugin needs a name
export const nameless: BottlePlugin = { apply() {} };

// How failures reach the user: what failed, who (plugin, hook), what to do.
import { BottleError, describeError } from '../core/errors.ts';

export function reportError(e: unknown, out: NodeJS.WritableStream = process.stderr): number {
  if (e instanceof BottleError) {
    const where = e.plugin && !e.message.includes(`"${e.plugin}"`) ? ` [plugin ${e.plugin}${e.hook ? `, ${e.hook}` : ''}]` : '';
    out.write(`bottle: ${e.message}${where}\n`);
    if (e.hint) out.write(`  hint: ${e.hint}\n`);
    if (process.env.BOTTLE_DEBUG && e.cause) out.write(`  cause: ${describeError(e.cause)}\n`);
    return e.exitCode;
  }
  if (e instanceof AggregateError) {
    out.write(`bottle: ${e.message}\n`);
    for (const inner of e.errors) out.write(`  - ${describeError(inner)}\n`);
    return 1;
  }
  out.write(`bottle: unexpected error: ${describeError(e)}\n`);
  if (process.env.BOTTLE_DEBUG && e instanceof Error) out.write(`${e.stack}\n`);
  return 1;
}

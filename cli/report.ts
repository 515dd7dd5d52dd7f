// How failures reach the user: what failed, who (plugin, hook), what to do.
import { BottleError, describeError } from '../core/errors.ts';
import { sanitize } from '../lib/sanitize.ts';

/** An error can quote the guest (a command's output) or the agent (a request's text): shown neutralised. */
const show = (text: unknown) => sanitize(text, { maxLength: 8000 });

export function reportError(e: unknown, out: NodeJS.WritableStream = process.stderr): number {
  if (e instanceof BottleError) {
    const where = e.plugin && !e.message.includes(`"${e.plugin}"`) ? ` [plugin ${e.plugin}${e.hook ? `, ${e.hook}` : ''}]` : '';
    out.write(`bottle: ${show(e.message)}${where}\n`);
    if (e.hint) out.write(`  hint: ${show(e.hint)}\n`);
    if (process.env.BOTTLE_DEBUG && e.cause) out.write(`  cause: ${describeError(e.cause)}\n`);
    return e.exitCode;
  }
  if (e instanceof AggregateError) {
    out.write(`bottle: ${show(e.message)}\n`);
    for (const inner of e.errors) out.write(`  - ${show(describeError(inner))}\n`);
    return 1;
  }
  out.write(`bottle: unexpected error: ${show(describeError(e))}\n`);
  if (process.env.BOTTLE_DEBUG && e instanceof Error) out.write(`${e.stack}\n`);
  return 1;
}

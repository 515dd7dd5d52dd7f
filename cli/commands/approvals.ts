// `bottle approvals`, `bottle approve`, `bottle deny`: the human's side of
// supervise. Requests live in each bottle's state dir, so these work from any
// terminal and survive a restart; their text is shown neutralised.
import { BottleError } from '../../core/errors.ts';
import { stateRoot } from '../../core/state.ts';
import { answerRequest, listPending, SuperviseError, watchPending, type PendingView } from '../../plugins/supervise/index.ts';
import { safeJson, sanitize } from '../../lib/sanitize.ts';

function render(list: PendingView[]): string {
  if (!list.length) return 'no pending requests\n';
  return list.map((r) => `${r.text}\n    ${Math.ceil(r.remainingMs / 1000)} s left: bottle approve ${r.id}  |  bottle deny ${r.id} --reason "..."`).join('\n') + '\n';
}

export async function approvalsCommand(opts: { json?: boolean; watch?: boolean }): Promise<number> {
  const root = stateRoot();
  const show = (list: PendingView[]) => process.stdout.write(opts.json ? safeJson(list) + '\n' : render(list));
  show(listPending(root));
  if (!opts.watch) return 0;
  // Follow until interrupted: every change prints the list again.
  await new Promise<void>((resolve) => {
    const w = watchPending(root, (list) => {
      if (!opts.json) process.stdout.write(`--- ${new Date().toLocaleTimeString()}\n`);
      show(list);
    });
    const stop = () => {
      w.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

export async function answerCommand(id: string, approved: boolean, opts: { reason?: string }): Promise<number> {
  try {
    const r = answerRequest(stateRoot(), id, { approved, ...(opts.reason !== undefined ? { reason: opts.reason } : {}) });
    // Every field but the verb may be the agent's text.
    const one = (v: unknown) => sanitize(v, { singleLine: true, maxLength: 200 });
    process.stdout.write(`${approved ? 'approved' : 'denied'} ${one(r.id)} (${one(r.kind)} ${one(r.subject)}) for bottle ${one(r.slug)}\n`);
    return 0;
  } catch (e) {
    if (e instanceof SuperviseError) {
      const usage = e.code === 'BAD_ID' || e.code === 'NOT_FOUND';
      throw new BottleError(sanitize(e.message, { maxLength: 500 }), { code: usage ? 'USAGE' : 'INTERNAL', hint: '`bottle approvals` lists the pending requests' });
    }
    throw e;
  }
}

// The approval queue: requests from the agent (through the supervise MCP
// server) and the human's answers (through `bottle approve` / `bottle deny`),
// as files in the bottle's private state dir, `<stateDir>/supervise/`:
//
//   <id>.json          the request; written by the bottle's daemon (temp file +
//                      rename), rewritten with its final status once decided
//   <id>.answer.json   the decision, created exactly once (temp file + link,
//                      which fails if it exists): by the human (approved or
//                      denied), or by the daemon when the request times out or
//                      the agent withdraws it. Whoever creates it first wins,
//                      so an answer and a timeout can never both count.
//
// The state dir is 0700 on the host; the guest reaches only the MCP endpoint,
// which has no way to answer. The queue survives a restart of `bottle
// approvals` (it is only files) and is read afresh by each call.
//
// This file is the queue's one entry point for the server and the CLI; the
// parts are in queue/: records.ts (what the files hold), store.ts (the files),
// limits.ts (rate limits counted from the files), wait.ts (waiting for a
// decision), daemon.ts (the bottle's side), human.ts (the human's side).
export type { AnswerRecord, FinalStatus, NewRequest, Outcome, RequestKind, RequestStatus, SuperviseRequest } from './queue/records.ts';
export { newId, normaliseId } from './queue/records.ts';
export { SuperviseError, type SuperviseErrorCode } from './queue/errors.ts';
export { DEFAULT_LIMITS, type QueueLimits } from './queue/limits.ts';
export { queueDir } from './queue/store.ts';
export type { WaitOptions } from './queue/wait.ts';
export { createQueue, type Queue, type QueueOptions } from './queue/daemon.ts';
export { answerRequest, findRequest, type HumanAnswer, listPending, type PendingView, toView, watchPending } from './queue/human.ts';

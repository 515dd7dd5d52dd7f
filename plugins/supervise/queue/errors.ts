// The queue's one error type: a code the CLI and the server branch on, and a
// message written for whoever reads it (the human, or the agent for LIMITED).

export type SuperviseErrorCode = 'BAD_ID' | 'NOT_FOUND' | 'ANSWERED' | 'TIMED_OUT' | 'GONE' | 'LIMITED' | 'INVALID';

export class SuperviseError extends Error {
  readonly code: SuperviseErrorCode;
  /** For LIMITED: when trying again can succeed, in ms from now (undefined: once a pending request is decided). */
  readonly retryAfterMs: number | undefined;

  constructor(code: SuperviseErrorCode, message: string, retryAfterMs?: number) {
    super(message);
    this.name = 'SuperviseError';
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

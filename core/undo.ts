// The undo stack: every resource registers its undo the moment it is created;
// teardown runs them newest first, every one even after a failure, and
// collects the errors.

export interface UndoStep {
  label: string;
  plugin?: string;
  run: () => Promise<void> | void;
}

export interface UndoFailure {
  label: string;
  plugin?: string;
  error: unknown;
}

export class UndoStack {
  #steps: UndoStep[] = [];

  push(step: UndoStep): void {
    this.#steps.push(step);
  }

  get size(): number {
    return this.#steps.length;
  }

  /** Runs and empties the stack, newest first. Never throws; returns what failed. */
  async unwind(onStep?: (step: UndoStep) => void): Promise<UndoFailure[]> {
    const failures: UndoFailure[] = [];
    while (this.#steps.length > 0) {
      const step = this.#steps.pop()!;
      onStep?.(step);
      try {
        await step.run();
      } catch (error) {
        failures.push({ label: step.label, ...(step.plugin ? { plugin: step.plugin } : {}), error });
      }
    }
    return failures;
  }
}

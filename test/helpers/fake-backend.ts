// A recording stand-in for the container engine, for unit tests of the
// kernel: every call is logged, and any method can be made to fail.
import type { Backend, BottleRecord, GuestExecOptions, GuestExecResult, GuestHandle, GuestSpec, StartedGuest } from '../../core/backends/types.ts';
import type { ExecSpec } from '../../core/plan.ts';

export interface FakeCall {
  method: string;
  args: unknown[];
}

export class FakeBackend implements Backend {
  readonly name = 'docker' as const;
  calls: FakeCall[] = [];
  /** Method name -> error to throw. */
  failing = new Map<string, Error>();
  execResult: GuestExecResult = { exitCode: 0, stdout: '', stderr: '' };
  agentExitCode = 0;
  /** What each guest exec got on stdin, collected. */
  inputs: Array<GuestExecOptions['input']> = [];

  #record(method: string, ...args: unknown[]): void {
    this.calls.push({ method, args });
    const e = this.failing.get(method);
    if (e) throw e;
  }

  methods(): string[] {
    return this.calls.map((c) => c.method);
  }

  async check(): Promise<void> {
    this.#record('check');
  }
  /** The provisioning script the guest's init got, when there was one; its result is `execResult`. */
  async startGuest(spec: GuestSpec): Promise<StartedGuest> {
    this.#record('startGuest', spec);
    const guest: GuestHandle = {
      id: 'guest-1',
      name: `claude-bottle-${spec.slug}`,
      exec: async (argv: string[], opts?: GuestExecOptions) => {
        this.#record('guest.exec', argv, opts);
        this.inputs.push(opts?.input);
        return this.execResult;
      },
    };
    if (!spec.provision) return { guest };
    this.calls.push({ method: 'guest.provision', args: [spec.provision.script] });
    this.inputs.push(spec.provision.input);
    return { guest, provisioning: this.execResult };
  }
  async removeGuest(id: string): Promise<void> {
    this.#record('removeGuest', id);
  }
  async attach(_guest: GuestHandle, spec: ExecSpec): Promise<number> {
    this.#record('attach', spec);
    return this.agentExitCode;
  }
  async list(): Promise<BottleRecord[]> {
    this.#record('list');
    return [];
  }
  async removeBottle(slug: string): Promise<void> {
    this.#record('removeBottle', slug);
  }
}

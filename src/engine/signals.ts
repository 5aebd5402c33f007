/** Control flow the executor raises and catches; none of these is a failure. */
export class ControlSignal extends Error {
  override name = 'ControlSignal';
}

export class ExitSignal extends ControlSignal {
  constructor(
    readonly status: 'success' | 'failure',
    readonly output: unknown,
  ) {
    super('exit');
  }
}

export class BreakSignal extends ControlSignal {}

/** The run parks until `until`; the worker releases it and another picks it up when due. */
export class WaitSignal extends ControlSignal {
  constructor(readonly until: Date) {
    super('wait');
  }
}

/** The worker lost its lease (another took over) or the run was cancelled: stop without writing. */
export class StopSignal extends ControlSignal {
  constructor(readonly reason: 'lease-lost' | 'cancelled') {
    super(reason);
  }
}

/** A step failed; `code` is stable, the message is for people. */
export class StepFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly stepId?: string,
  ) {
    super(message);
    this.name = 'StepFailure';
  }
}

export function isSignal(value: unknown): boolean {
  return (
    value instanceof ExitSignal ||
    value instanceof BreakSignal ||
    value instanceof WaitSignal ||
    value instanceof StopSignal
  );
}

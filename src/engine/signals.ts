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

/** What a parked run waits on besides the time: it is due at once if this has already happened. */
export interface WaitWatch {
  kind: 'child' | 'approval';
  id: string;
}

/**
 * The run parks until `until`; the worker releases it and another picks it up when due. With a
 * `watch`, it is woken as soon as the child run ends or the approval is answered.
 */
export class WaitSignal extends ControlSignal {
  constructor(
    readonly until: Date,
    readonly watch?: WaitWatch,
  ) {
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
  /** Set once a step has recorded this failure; enclosing steps pass it on unchanged. */
  recorded = false;

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

/**
 * Of two things raised by steps running side by side (loop iterations, parallel branches), the one
 * to raise: anything beats a wait (a failure must not be hidden by a branch that parks), and of two
 * waits the earlier, so no branch sleeps past its time.
 */
export function firstToRaise(current: unknown, next: unknown): unknown {
  if (current === undefined) return next;
  if (current instanceof WaitSignal) {
    if (!(next instanceof WaitSignal)) return next;
    return next.until < current.until ? next : current;
  }
  return current;
}

/** An action's failure: a stable code, and when to retry if the remote asked (Retry-After). */
export class ActionError extends Error {
  override name = 'ActionError';
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    /** For INVALID_INPUT: the parameters at fault. */
    readonly details?: { field: string; message: string }[],
  ) {
    super(message);
  }
}

/** What the engine calls to run an integration action. */
export interface ActionRunner {
  /** Runs `action` (e.g. "http.request") with its rendered parameters; the output is the step's. */
  run(
    action: string,
    input: unknown,
    options: { signal: AbortSignal; workspaceId: string; integration?: string | undefined },
  ): Promise<unknown>;
}

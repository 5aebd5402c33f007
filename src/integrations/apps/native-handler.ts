import type { OutboundPolicy } from '../http/outbound.js';
import type { SsrfGuard } from '../http/ssrf-guard.js';

/** What a built-in app's native (non-HTTP) action receives. */
export interface NativeActionContext {
  /** The validated action parameters (defaults applied). */
  params: Record<string, unknown>;
  /** The workspace the action runs for. */
  workspaceId: string;
  /** The integration's configuration, secrets included. */
  config: Record<string, unknown>;
  /** Aborted when the step times out or the run is cancelled. */
  signal: AbortSignal;
  /** The SSRF rules in force for this integration: check every address before connecting. */
  guard: SsrfGuard;
  /** The integration's network policy (for handlers that use the outbound HTTP client). */
  policy: OutboundPolicy;
  /** Verify TLS certificates (the integration's `verify_tls`, default true). */
  verifyTls: boolean;
  /** The most the action may take, in milliseconds. */
  timeoutMs: number;
  /** How often a 429 or 5xx answer may be retried within the action (the integration's `retries`). */
  retries?: number;
}

/** A native action: returns the step's output, or throws an ActionError. */
export type NativeHandler = (ctx: NativeActionContext) => Promise<unknown>;

/** A native handler's connectivity test: resolves when the configuration works, else throws an ActionError. */
export type NativeTest = (ctx: Omit<NativeActionContext, 'params'>) => Promise<void>;

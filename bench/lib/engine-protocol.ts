// Messages between bench/engine.ts and its child processes (the load generator with the echo server,
// and the optional worker process), over the fork() IPC channel.

/** What a closed-loop run sends: `sync` is an Osprey `/sync` webhook, `bare` the echo server directly. */
export type LoadKind = 'sync' | 'bare';

export interface ClosedLoopRequest {
  type: 'closed-loop';
  kind: LoadKind;
  /** Full URL every request is POSTed to. */
  url: string;
  /** Clients, each with one request in flight at a time. */
  concurrency: number;
  /** Untimed requests before the window (same concurrency). */
  warmupMs: number;
  /** The measured window. */
  durationMs: number;
}

export interface FireRequest {
  type: 'fire';
  url: string;
  count: number;
  /** Requests in flight at once. */
  concurrency: number;
}

export type ParentMessage =
  { type: 'echo' } | ClosedLoopRequest | FireRequest | { type: 'cpu' } | { type: 'stop' };

export interface LoadResult {
  /** Requests completed inside the window (their response arrived in it). */
  completed: number;
  /** Latencies (ms) of the requests answered inside the window. */
  latencies: number[];
  windowMs: number;
  errors: number;
  firstError?: string;
  /** CPU time (ms, user + system) the load process used during the window. */
  cpuMs: number;
}

export interface FireResult {
  accepted: number;
  errors: number;
  firstError?: string;
  /** From the first request sent to the last answer received. */
  elapsedMs: number;
  /** Latencies (ms) of the queueing requests. */
  latencies: number[];
  /** CPU time (ms, user + system) the load process used while firing. */
  cpuMs: number;
}

export type ChildMessage =
  | { type: 'echo'; port: number }
  | { type: 'closed-loop'; result: LoadResult }
  | { type: 'fire'; result: FireResult }
  | { type: 'cpu'; userMs: number; systemMs: number }
  | { type: 'ready' }
  | { type: 'error'; message: string };

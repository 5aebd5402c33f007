import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { randomToken } from '../domain/ids.js';
import type { OutboundHttp } from '../integrations/http/outbound.js';
import type { Database } from '../store/database.js';
import {
  ackBatch,
  claimStream,
  failBatch,
  renewStreamLease,
  type LogStreamRow,
} from '../store/log-streams.js';
import { workspaceAllowedNetworks } from '../store/workspaces.js';
import { deliver, type DestinationConfig } from './destinations.js';
import { activityBatch, auditBatch, type StreamEntry, type StreamFilter } from './sources.js';

export interface StreamerOptions {
  db: Database;
  http: OutboundHttp;
  logger: Logger;
  revealSecret(workspaceId: string, name: string): Promise<string | undefined>;
  /** Where file destinations write (the data directory's streams/ folder). */
  filesDir: string;
  /** How often an idle stream is read again. */
  pollMs?: number;
  leaseMs?: number;
  /** Failed attempts in a row before a stream pauses with its error shown. */
  maxFailures?: number;
  timeoutMs?: number;
  /** The first retry's delay; each failure in a row doubles it, up to a minute. */
  retryBaseMs?: number;
}

/**
 * Delivers log streams: claims a due stream (one deliverer per stream, by lease), reads the next
 * batch after its checkpoints, hands it to the destination and moves the checkpoints only once the
 * destination acknowledged it. A crash between the two delivers the batch again (at least once;
 * each entry keeps its id). Failures back off exponentially; after `maxFailures` the stream pauses.
 */
export class Streamer {
  readonly owner = `${hostname()}:${process.pid}:streams:${randomToken(4)}`;
  readonly #o: Required<StreamerOptions>;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(options: StreamerOptions) {
    this.#o = {
      pollMs: 1000,
      leaseMs: 60_000,
      maxFailures: 10,
      timeoutMs: 30_000,
      retryBaseMs: 1000,
      ...options,
    };
  }

  start(): void {
    this.#stopped = false;
    this.#halting = false;
    const loop = (): void => {
      if (this.#stopped) return;
      this.#running = this.runUntilIdle()
        .catch((error: unknown) => this.#o.logger.warn({ err: error }, 'log stream delivery failed'))
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(loop, Math.min(250, this.#o.pollMs));
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#halting = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #halting = false;

  /** Delivers due batches until no stream is due (or stop); answers how many it attempted. */
  async runUntilIdle(): Promise<number> {
    let n = 0;
    while (!this.#halting) {
      const stream = await claimStream(this.#o.db, this.owner, this.#o.leaseMs);
      if (!stream) break;
      await this.#deliver(stream);
      n++;
    }
    return n;
  }

  async #deliver(s: LogStreamRow): Promise<void> {
    const { db, leaseMs } = this.#o;
    // The lease is renewed while the batch is out, so a slow destination keeps its deliverer and a
    // stopped process loses the stream within one lease.
    const heartbeat = setInterval(
      () => void renewStreamLease(db, s.id, this.owner, leaseMs).catch(() => undefined),
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    try {
      await this.#attempt(s);
    } finally {
      clearInterval(heartbeat);
    }
  }

  async #attempt(s: LogStreamRow): Promise<void> {
    const { db } = this.#o;
    const filter = s.filter as StreamFilter;
    const entries: StreamEntry[] = [];
    let audit = s.audit_cursor;
    let activity = s.activity_cursor;
    let full = false;
    let secret: string | undefined;
    try {
      if (s.logs.includes('audit')) {
        const got = await auditBatch(db, s.workspace_id, audit, s.start_time, filter, s.batch_size);
        entries.push(...got.entries);
        audit = got.cursor;
        full ||= got.read === s.batch_size;
      }
      if (s.logs.includes('activity')) {
        const got = await activityBatch(db, s.workspace_id, activity, s.start_time, filter, s.batch_size);
        entries.push(...got.entries);
        activity = got.cursor;
        full ||= got.read === s.batch_size;
      }
      if (s.secret_name) {
        secret = await this.#o.revealSecret(s.workspace_id, s.secret_name);
        if (secret === undefined)
          throw new Error(`the secret "${s.secret_name}" does not exist in this workspace`);
      }
      const destination = s.destination as unknown as DestinationConfig;
      const allow = [
        ...(await workspaceAllowedNetworks(db, s.workspace_id)),
        ...(destination.allowed_networks ?? []),
      ];
      await deliver(destination, entries, {
        http: this.#o.http,
        allow,
        secret,
        filesDir: this.#o.filesDir,
        timeoutMs: this.#o.timeoutMs,
      });
      const newest = entries.reduce<string | undefined>(
        (m, e) => (!m || e.timestamp > m ? e.timestamp : m),
        undefined,
      );
      await ackBatch(db, s.id, this.owner, {
        audit,
        activity,
        delivered: entries.length,
        lastEntryAt: newest,
        nextInMs: full ? 0 : this.#o.pollMs,
      });
    } catch (error) {
      // A destination that echoes the request must not put the secret in last_error.
      let message = (error as Error).message || String(error);
      if (secret) message = message.split(secret).join('[secret]');
      const retryIn = Math.min(60_000, this.#o.retryBaseMs * 2 ** Math.min(s.failures, 6));
      this.#o.logger.warn(
        { stream_id: s.id, failures: s.failures + 1, error: message },
        'log stream batch failed',
      );
      await failBatch(db, s.id, this.owner, message, retryIn, this.#o.maxFailures);
    }
  }
}

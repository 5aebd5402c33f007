import { Gauge, type Registry } from 'prom-client';
import type { LogStreamService } from '../../services/log-streams.js';

/** Log streams' delivered counts, lag and paused state, read from the database at each scrape. */
export function registerStreamMetrics(registry: Registry, streams: LogStreamService): void {
  const labelNames = ['stream', 'name', 'workspace'] as const;
  const read = (): ReturnType<LogStreamService['metrics']> => streams.metrics();
  let snapshot: ReturnType<LogStreamService['metrics']> | undefined;
  // One read per scrape serves the three gauges.
  const current = (): ReturnType<LogStreamService['metrics']> =>
    (snapshot ??= read().finally(() => setTimeout(() => (snapshot = undefined), 500)));
  new Gauge({
    name: 'osprey_log_stream_delivered_entries',
    help: 'Entries each log stream has delivered (acknowledged by the destination)',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await current())
        this.set({ stream: s.id, name: s.name, workspace: s.workspace_id }, s.delivered);
    },
  });
  new Gauge({
    name: 'osprey_log_stream_lag_seconds',
    help: 'Seconds between now and the oldest entry a log stream has not delivered yet',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await current())
        this.set({ stream: s.id, name: s.name, workspace: s.workspace_id }, s.lag_seconds);
    },
  });
  new Gauge({
    name: 'osprey_log_stream_paused',
    help: '1 when a log stream paused after repeated failures',
    labelNames,
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await current())
        this.set({ stream: s.id, name: s.name, workspace: s.workspace_id }, s.paused ? 1 : 0);
    },
  });
}

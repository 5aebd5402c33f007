// npm run bench:streams: log streams (src/streams/) delivering the audit log to a Splunk HEC
// stand-in: a node:http server on 127.0.0.1 in this process that checks the `Splunk <token>`
// header, parses every newline-separated event and answers {"text":"Success","code":0}. Streams are
// created through services.logStreams and delivered by a Streamer built as `osprey start` builds it
// (services.outbound, services.secrets.reveal; the destination allows 127.0.0.0/8).
//
// (1) Throughput: BENCH_ENTRIES audit entries pre-written (bench/lib/audit-fill.ts), one untimed
//     warm-up backfill, then one stream per batch size (100, 500, 2000) backfills all of them with
//     runUntilIdle(), timed.
// (2) Lag under load: audit entries written through services.audit.record at BENCH_RATE/s for
//     BENCH_LOAD_SECONDS, one per transaction, while a started Streamer (default poll) delivers;
//     the lag is sampled every 250 ms.
// Every run checks that each entry of the stream's window arrived exactly once (ids counted).
//
// The server is DATABASE_URL when set (a fresh database, dropped at the end), otherwise an embedded
// PostgreSQL in a temporary directory. Options (environment): BENCH_ENTRIES (50000), BENCH_RATE
// (500), BENCH_LOAD_SECONDS (20), BENCH_LOAD_BATCH (500, the default batch_size).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createServices, type Services } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { Principal } from '../src/domain/actor.js';
import { AUDIT_ACTIONS } from '../src/domain/audit-actions.js';
import { bootstrap } from '../src/services/bootstrap.js';
import type { LogStreamView } from '../src/services/log-streams.js';
import { Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import { Streamer } from '../src/streams/streamer.js';
import { FILL_DAYS, fillAuditLog } from './lib/audit-fill.js';
import { PgServerCpu, backgroundLoad, selfCpuMs } from './lib/cpu.js';
import { runWithPgTarget, type PgTarget } from './lib/pg-target.js';
import { fmtInt, fmtMs, out, printMachine, stats } from './lib/stats.js';

const ENTRIES = intEnv('BENCH_ENTRIES', 50_000);
const RATE = intEnv('BENCH_RATE', 500);
const LOAD_SECONDS = intEnv('BENCH_LOAD_SECONDS', 20);
const LOAD_BATCH = intEnv('BENCH_LOAD_BATCH', 500);
const BATCH_SIZES = [100, 500, 2000];
const SAMPLE_MS = 250;
/** Writers in flight at once: the entries are paced by the clock, not by how fast one writer is. */
const WRITERS = 8;
const SECRET_NAME = 'splunk-hec-token';
const HEC_TOKEN = randomBytes(16).toString('hex');

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

/** What the receiver got on one stream's path. */
class Tally {
  readonly ids = new Map<string, number>();
  /** Receipt time minus entry time, ms, of every event. */
  readonly latencies: number[] = [];
  events = 0;
  batches = 0;
  bytes = 0;
  /** Time spent in the receiver's request handler (parsing, counting), ms. */
  handlerMs = 0;
  /** The newest entry time received (epoch ms), 0 before the first. */
  newestMs = 0;
}

interface Receiver {
  /** The HEC base URL of a stream's path: <base>/<name> (the destination appends /services/collector/event). */
  urlFor(name: string): string;
  tally(name: string): Tally;
  /** Requests refused (wrong token, path or body), with the reason. */
  refused: string[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const tallies = new Map<string, Tally>();
  const tally = (name: string): Tally => {
    let t = tallies.get(name);
    if (!t) tallies.set(name, (t = new Tally()));
    return t;
  };
  const refused: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h0 = performance.now();
      const now = Date.now();
      const answer = (status: number, text: string, code: number): void => {
        if (code !== 0) refused.push(`${status} ${text} (${req.method} ${req.url})`);
        const body = JSON.stringify({ text, code });
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      };
      const name = /^\/([^/]+)\/services\/collector\/event$/.exec(req.url ?? '')?.[1];
      if (req.method !== 'POST' || !name) return answer(404, 'The requested URL was not found', 404);
      if (req.headers.authorization !== `Splunk ${HEC_TOKEN}`) return answer(401, 'Invalid token', 4);
      const body = Buffer.concat(chunks).toString('utf8');
      const t = tally(name);
      const events: { id: string; ms: number }[] = [];
      for (const line of body.split('\n')) {
        let e: { time?: unknown; event?: { id?: unknown; timestamp?: unknown } };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          return answer(400, 'Invalid data format', 6);
        }
        const id = e.event?.id;
        const ms = typeof e.event?.timestamp === 'string' ? Date.parse(e.event.timestamp) : NaN;
        if (typeof id !== 'string' || Number.isNaN(ms) || typeof e.time !== 'number')
          return answer(400, 'Event field is required', 12);
        events.push({ id, ms });
      }
      for (const { id, ms } of events) {
        t.ids.set(id, (t.ids.get(id) ?? 0) + 1);
        t.latencies.push(now - ms);
        if (ms > t.newestMs) t.newestMs = ms;
      }
      t.events += events.length;
      t.batches += 1;
      t.bytes += Buffer.byteLength(body);
      answer(200, 'Success', 0);
      t.handlerMs += performance.now() - h0;
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (name) => `http://127.0.0.1:${port}/${name}`,
    tally,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Counts the Streamer's warnings (failed batches), keeping the first few. */
class WarnLog extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.lines.push(chunk.toString('utf8').trim());
    done();
  }
}

/** Every id arrived exactly once, and nothing outside the stream's window arrived. */
async function checkDelivery(
  services: Services,
  wsId: string,
  since: Date,
  t: Tally,
): Promise<{ expected: number; missing: number; duplicates: number; extra: number }> {
  const rows = await services.db.rows<{ id: string }>(
    'SELECT id::text AS id FROM audit_logs WHERE workspace_id = $1 AND ts >= $2',
    [wsId, since],
  );
  const expected = new Set(rows.map((r) => r.id));
  let missing = 0;
  for (const id of expected) if (!t.ids.has(id)) missing++;
  let duplicates = 0;
  let extra = 0;
  for (const [id, n] of t.ids) {
    if (n > 1) duplicates += n - 1;
    if (!expected.has(id)) extra++;
  }
  return { expected: expected.size, missing, duplicates, extra };
}

function describeCheck(c: Awaited<ReturnType<typeof checkDelivery>>, t: Tally): string {
  const ok = c.missing === 0 && c.duplicates === 0 && c.extra === 0;
  return `${ok ? 'ok' : 'FAILED'}: ${fmtInt(c.expected)} entries in the window, ${fmtInt(t.ids.size)} distinct received, missing ${c.missing}, duplicates ${c.duplicates}, unexpected ${c.extra}`;
}

async function run(target: PgTarget): Promise<void> {
  const config = loadConfig({
    OSPREY_DATA_DIR: os.tmpdir(),
    OSPREY_LOG_LEVEL: 'silent',
    DATABASE_URL: target.url,
  });
  const db = new Database({
    connectionString: target.url,
    max: config.dbPoolSize,
    applicationName: 'osprey-bench',
  });
  const receiver = await startReceiver();
  const warnings = new WarnLog();
  const logger = pino({ level: 'warn' }, warnings);
  let loadStreamer: Streamer | undefined;
  let failed = false;
  try {
    out('Osprey log streams benchmark');
    await printMachine(db, target.mode);
    out(
      `  pool:       ${config.dbPoolSize} connections (OSPREY_DB_POOL_SIZE default); receiver in this process`,
    );
    const pgCpu = await PgServerCpu.find(
      (await db.one<{ v: string }>(`SELECT current_setting('data_directory') AS v`).catch(() => undefined))
        ?.v ?? '',
    );

    await migrate(db);
    const services = createServices(db, randomBytes(32), config);
    await services.keyring.load();
    const created = await bootstrap(db, services.workspaces, {
      workspaceName: 'bench',
      ownerEmail: 'owner@bench.example',
      fixedKey: undefined,
    });
    if (!created) throw new Error('bootstrap did not create a workspace');
    const wsId = created.workspace.id;
    const principal: Principal = {
      workspaceId: wsId,
      workspaceName: created.workspace.name,
      role: 'owner',
      actor: { type: 'api_key', email: '', name: 'bench', ip: '127.0.0.1', userAgent: 'osprey-bench' },
    };
    await services.secrets.create(principal, { name: SECRET_NAME, value: HEC_TOKEN });
    const newStreamer = (): Streamer =>
      new Streamer({
        db,
        http: services.outbound,
        logger,
        revealSecret: (workspaceId, name) => services.secrets.reveal(workspaceId, name),
        filesDir: os.tmpdir(),
      });
    const createStream = (name: string, batchSize: number, startTime?: string): Promise<LogStreamView> =>
      services.logStreams.create(principal, {
        name,
        logs: ['audit'],
        destination: { type: 'splunk_hec', url: receiver.urlFor(name), allowed_networks: ['127.0.0.0/8'] },
        secret_name: SECRET_NAME,
        batch_size: batchSize,
        start_time: startTime,
      });
    const streamState = (v: LogStreamView): string =>
      `state ${v.state}, delivered ${fmtInt(v.delivered)}, failures ${v.failures}, lag_seconds ${v.lag_seconds}${v.last_error ? `, last_error ${v.last_error}` : ''}`;

    // (1) Throughput.
    out(
      `  background: ${(await backgroundLoad()).toFixed(2)} cores busy over 2 s before the run (other processes)`,
    );
    out('== (1) throughput: backfill of pre-written audit entries, Streamer.runUntilIdle()');
    const filled = await fillAuditLog(
      target.url,
      [{ id: wsId, name: created.workspace.name, count: ENTRIES }],
      () => {},
    );
    await db.exec('VACUUM (ANALYZE) audit_logs');
    out(
      `  pre-written ${fmtInt(filled.inserted)} entries over the last ${FILL_DAYS} days in ${filled.seconds.toFixed(1)} s (bench/lib/audit-fill.ts), then VACUUM (ANALYZE)`,
    );
    const since = new Date(Date.now() - (FILL_DAYS + 1) * 86_400_000).toISOString();
    {
      // Untimed warm-up (JIT, the HEC connection, the table's pages): one backfill, checked too.
      const warm = await createStream('warm-up', 500, since);
      await newStreamer().runUntilIdle();
      const check = await checkDelivery(services, wsId, new Date(warm.start_time), receiver.tally('warm-up'));
      out(`  warm-up (untimed, batch_size 500): check ${describeCheck(check, receiver.tally('warm-up'))}`);
      await services.logStreams.delete(principal, warm.id);
    }
    const throughput: { batch: number; rate: number; ok: boolean }[] = [];
    for (const batch of BATCH_SIZES) {
      const name = `throughput-${batch}`;
      const stream = await createStream(name, batch, since);
      const streamer = newStreamer();
      const cpu0 = selfCpuMs();
      const pg0 = await pgCpu?.ms();
      const t0 = performance.now();
      const attempts = await streamer.runUntilIdle();
      const seconds = (performance.now() - t0) / 1000;
      const cpuMs = selfCpuMs() - cpu0;
      const pgMs = pg0 === undefined ? undefined : (await pgCpu!.ms()) - pg0;
      const t = receiver.tally(name);
      const check = await checkDelivery(services, wsId, new Date(stream.start_time), t);
      const view = await services.logStreams.get(principal, stream.id);
      const ok = check.missing + check.duplicates + check.extra === 0 && view.failures === 0;
      const rate = t.events / seconds;
      throughput.push({ batch, rate, ok });
      out(`  batch_size ${batch}:`);
      out(
        `    ${fmtInt(t.events)} entries in ${seconds.toFixed(2)} s: ${fmtInt(rate)} entries/s; ${t.batches} HEC requests (${attempts} batches attempted), ${(t.bytes / t.events).toFixed(0)} B/event, ${(t.bytes / 2 ** 20 / seconds).toFixed(1)} MiB/s`,
      );
      out(
        `    CPU: this process ${fmtInt(cpuMs)} ms (${(cpuMs / seconds / 10).toFixed(0)} % of a core, ${fmtMs((cpuMs / t.events) * 1000)} µs/entry; of it the receiver's handler ${fmtInt(t.handlerMs)} ms)${pgMs === undefined ? '' : `, PostgreSQL ${fmtInt(pgMs)} ms (${(pgMs / seconds / 10).toFixed(0)} %)`}`,
      );
      out(`    check ${describeCheck(check, t)}`);
      out(`    stream: ${streamState(view)}`);
      await services.logStreams.delete(principal, stream.id);
    }

    // (2) Lag under load.
    out(
      `== (2) lag under load: ${RATE} audit entries/s for ${LOAD_SECONDS} s (services.audit.record, one per transaction, ${WRITERS} writers paced by the clock), Streamer.start() with its defaults (poll 1000 ms), batch_size ${LOAD_BATCH}`,
    );
    const loadName = 'load';
    const loadStream = await createStream(loadName, LOAD_BATCH);
    const t = receiver.tally(loadName);
    loadStreamer = newStreamer();
    loadStreamer.start();
    const total = RATE * LOAD_SECONDS;
    const gap = 1000 / RATE;
    const writeMs: number[] = [];
    const slipMs: number[] = [];
    let next = 0;
    let written = 0;
    const start = performance.now();
    const startWall = Date.now();
    const writer = async (): Promise<void> => {
      for (let i = next++; i < total; i = next++) {
        const due = start + i * gap;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        const t0 = performance.now();
        slipMs.push(t0 - due);
        await db.transaction((tx) =>
          services.audit.record(tx, principal, {
            action: AUDIT_ACTIONS.workflowUpdated,
            resourceId: `workflow-${(i % 500).toString(16).padStart(8, '0')}`,
            resourceName: `workflow ${i % 500}`,
            extraData: { changed_fields: ['steps'], revision: i, source: 'api' },
          }),
        );
        writeMs.push(performance.now() - t0);
        written++;
      }
    };
    const writing = Promise.all(Array.from({ length: WRITERS }, writer)).then(() => performance.now());
    let writeEnd: number | undefined;
    void writing.then((at) => (writeEnd = at));
    const lagNow: number[] = [];
    const lagStream: number[] = [];
    const getMs: number[] = [];
    for (let s = 1; writeEnd === undefined; s++) {
      const wait = start + s * SAMPLE_MS - performance.now();
      if (wait > 0) await sleep(wait);
      if (writeEnd !== undefined) break;
      const now = Date.now();
      lagNow.push((now - (t.newestMs || startWall)) / 1000);
      const g0 = performance.now();
      const view = await services.logStreams.get(principal, loadStream.id);
      getMs.push(performance.now() - g0);
      lagStream.push(view.lag_seconds);
    }
    const writeSeconds = ((writeEnd ?? (await writing)) - start) / 1000;
    const deliveredDuringWrite = t.events;
    // Catch up: everything written (and the stream's own creation entry) must arrive.
    const catchStart = performance.now();
    const expectedCount = async (): Promise<number> =>
      Number(
        (await db.one<{ n: string }>(
          'SELECT count(*) AS n FROM audit_logs WHERE workspace_id = $1 AND ts >= $2',
          [wsId, new Date(loadStream.start_time)],
        ))!.n,
      );
    const want = await expectedCount();
    while (t.ids.size < want && performance.now() - catchStart < 60_000) await sleep(20);
    const catchUpMs = performance.now() - catchStart;
    await loadStreamer.stop();
    loadStreamer = undefined;
    const check = await checkDelivery(services, wsId, new Date(loadStream.start_time), t);
    const view = await services.logStreams.get(principal, loadStream.id);
    const writeStats = stats(writeMs);
    const slip = stats(slipMs);
    const ln = stats(lagNow);
    const ls = stats(lagStream);
    const lat = stats(t.latencies);
    out(
      `  written: ${fmtInt(written)} entries in ${writeSeconds.toFixed(2)} s = ${fmtInt(written / writeSeconds)} entries/s; record() transaction p50 ${fmtMs(writeStats.p50)} ms, p99 ${fmtMs(writeStats.p99)} ms, max ${fmtMs(writeStats.max)} ms; start behind schedule p99 ${fmtMs(slip.p99)} ms, max ${fmtMs(slip.max)} ms`,
    );
    out(
      `  delivered during the write: ${fmtInt(deliveredDuringWrite)} entries = ${fmtInt(deliveredDuringWrite / writeSeconds)} entries/s in ${t.batches} HEC requests so far`,
    );
    out(
      `  lag, now − newest delivered entry's time (${ln.n} samples every ${SAMPLE_MS} ms): p50 ${ln.p50.toFixed(3)} s, p95 ${ln.p95.toFixed(3)} s, max ${ln.max.toFixed(3)} s`,
    );
    out(
      `  lag_seconds from services.logStreams.get (now − oldest undelivered entry; ${ls.n} samples): p50 ${ls.p50.toFixed(3)} s, p95 ${ls.p95.toFixed(3)} s, max ${ls.max.toFixed(3)} s; get() p50 ${fmtMs(stats(getMs).p50)} ms, max ${fmtMs(stats(getMs).max)} ms`,
    );
    out(
      `  per entry, receipt − entry time (${fmtInt(lat.n)} entries): p50 ${fmtInt(lat.p50)} ms, p95 ${fmtInt(lat.p95)} ms, p99 ${fmtInt(lat.p99)} ms, max ${fmtInt(lat.max)} ms`,
    );
    out(
      `  caught up ${fmtInt(catchUpMs)} ms after the last write; ${fmtInt(t.events)} entries in ${t.batches} HEC requests (${(t.events / t.batches).toFixed(1)} per request)`,
    );
    out(`  check ${describeCheck(check, t)}`);
    out(`  stream: ${streamState(view)}`);
    if (written / writeSeconds < RATE * 0.97)
      out(
        `  NOTE: the writers fell behind the ${RATE}/s schedule (${fmtInt(written / writeSeconds)}/s); the lag figures are for the rate reached`,
      );
    const loadOk = check.missing + check.duplicates + check.extra === 0 && view.failures === 0;

    out();
    out('== summary');
    for (const r of throughput)
      out(
        `  (1) batch_size ${String(r.batch).padStart(4)}: ${fmtInt(r.rate).padStart(7)} entries/s  ${r.ok ? 'ok' : 'FAILED'}`,
      );
    out(
      `  (2) ${fmtInt(written / writeSeconds)} written/s, ${fmtInt(deliveredDuringWrite / writeSeconds)} delivered/s; lag p50 ${ln.p50.toFixed(3)} s, p95 ${ln.p95.toFixed(3)} s, max ${ln.max.toFixed(3)} s (lag_seconds p50 ${ls.p50.toFixed(3)}, p95 ${ls.p95.toFixed(3)}, max ${ls.max.toFixed(3)})  ${loadOk ? 'ok' : 'FAILED'}`,
    );
    out(
      `  streamer warnings: ${warnings.lines.length}${warnings.lines.length ? ` (first: ${warnings.lines[0]})` : ''}; receiver refusals: ${receiver.refused.length}${receiver.refused.length ? ` (first: ${receiver.refused[0]})` : ''}`,
    );
    failed = !loadOk || throughput.some((r) => !r.ok) || receiver.refused.length > 0;
  } finally {
    await loadStreamer?.stop();
    await receiver.close();
    await db.close();
  }
  if (failed) throw new Error('a delivery check failed (see above)');
}

await runWithPgTarget('osprey_bench', run);

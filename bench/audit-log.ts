// npm run bench:audit-log: fills a real PostgreSQL with 1,000,000 hash-chained audit entries (plus a
// second workspace with 100,000) and measures GET /v1alpha/audit_logs through the real HTTP stack
// (Fastify's app.inject: routing, the bearer-token hook, rate limiting, validation, the service, the
// store and serialization; no TCP socket), then times a full verification of the chain.
//
// The server is DATABASE_URL when set (a fresh database is created there and dropped at the end),
// otherwise an embedded PostgreSQL started in a temporary directory and removed at the end.
//
// Options (environment): BENCH_ENTRIES (default 1000000), BENCH_OTHER_ENTRIES (100000),
// BENCH_REQUESTS (200; the figures are meant for at least 200).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../src/api/server.js';
import { createServices } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { microsToIso, parseRfc3339 } from '../src/domain/log-window.js';
import { bootstrap } from '../src/services/bootstrap.js';
import { Database } from '../src/store/database.js';
import { migrate } from '../src/store/migrate.js';
import {
  AUDIT_LOGS_PATH,
  AuditClient,
  checkPage,
  type AuditQuery,
  type PageExpectation,
} from './lib/audit-client.js';
import { FILL_BATCH, FILL_DAYS, fillAuditLog } from './lib/audit-fill.js';
import { runWithPgTarget, type PgTarget } from './lib/pg-target.js';
import {
  fmtInt,
  out,
  printMachine,
  printStats,
  printSummary,
  stats,
  type ResultRow,
  type Stats,
} from './lib/stats.js';

const ENTRIES = intEnv('BENCH_ENTRIES', 1_000_000);
const OTHER_ENTRIES = intEnv('BENCH_OTHER_ENTRIES', 100_000);
const REQUESTS = intEnv('BENCH_REQUESTS', 200);
const WARMUP = 20;
const PAGE_WALK_ENTRIES = 10_000;
const PAGE_WALK_SIZE = 100;
const TARGET_P99_MS = 50;
const DAY_MS = 86_400_000;

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

/** An RFC 3339 time in the store's text form (microseconds), so entry timestamps compare as strings. */
const isoMicros = (iso: string): string => microsToIso(parseRfc3339('time', iso));

/** REQUESTS timed requests of one query (after WARMUP untimed ones); the first response is checked. */
async function measure(client: AuditClient, query: AuditQuery, expect: PageExpectation): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await client.page(query);
  const samples: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const [ms, page] = await client.page(query);
    samples.push(ms);
    if (i === 0) {
      checkPage(page, expect);
      if (!page.next_page_token) throw new Error('expected a next_page_token');
    }
  }
  return stats(samples);
}

/**
 * Walks PAGE_WALK_ENTRIES entries of the window with next_page_token, as a client does: the window
 * and `order` on the first request only, then `page_token` (and `page_size`). Returns the latency
 * of every page and the walk's total; checks that the walk sees distinct entries, each page
 * continuing the previous one in order.
 */
async function walk(
  client: AuditClient,
  window: { start_time: string; end_time: string },
  expect: PageExpectation,
): Promise<{ pages: number[]; total: number }> {
  const seen = new Set<string>();
  const pages: number[] = [];
  let token: string | undefined;
  let last = '';
  for (let p = 0; p < PAGE_WALK_ENTRIES / PAGE_WALK_SIZE; p++) {
    const [ms, page] = await client.page(
      token
        ? { page_token: token, page_size: PAGE_WALK_SIZE }
        : { ...window, order: expect.order, page_size: PAGE_WALK_SIZE },
    );
    pages.push(ms);
    checkPage(page, expect);
    const first = page.audit_logs[0]!.timestamp;
    if (last && (expect.order === 'asc' ? !(first > last) : !(first < last)))
      throw new Error(`page ${p} does not continue the previous one (${last} then ${first})`);
    last = page.audit_logs.at(-1)!.timestamp;
    for (const e of page.audit_logs) seen.add(e.id);
    token = page.next_page_token;
    if (!token) throw new Error(`the walk ended after ${p + 1} pages`);
  }
  if (seen.size !== PAGE_WALK_ENTRIES) throw new Error(`the walk saw ${seen.size} distinct entries`);
  return { pages, total: pages.reduce((a, b) => a + b, 0) };
}

async function run(target: PgTarget): Promise<void> {
  const config = loadConfig({
    OSPREY_DATA_DIR: os.tmpdir(),
    // The per-key rate limit (default 50/s) would turn a latency benchmark into a 429 benchmark.
    OSPREY_RATE_LIMIT: '1000000',
    OSPREY_LOG_LEVEL: 'silent',
    DATABASE_URL: target.url,
  });
  const db = new Database({
    connectionString: target.url,
    max: config.dbPoolSize,
    applicationName: 'osprey-bench',
  });
  let app: FastifyInstance | undefined;
  try {
    out('Osprey audit-log benchmark');
    const machine = await printMachine(db, target.mode);
    out(
      '  HTTP:       every query is measured through the real HTTP stack via Fastify app.inject (routing, bearer auth, rate limit, validation, serialization; no TCP socket)',
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
    const other = await services.workspaces.createAsSystem('bench-other', 'owner@other.example');
    const wsId = created.workspace.id;

    out('== fill');
    out(
      `  ${fmtInt(ENTRIES)} entries in workspace "bench" + ${fmtInt(OTHER_ENTRIES)} in "bench-other", interleaved over the last ${FILL_DAYS} days, batches of ${fmtInt(FILL_BATCH)} (INSERT ... SELECT FROM unnest), one transaction`,
    );
    let lastReport = 0;
    const filled = await fillAuditLog(
      target.url,
      [
        { id: wsId, name: created.workspace.name, count: ENTRIES },
        { id: other.workspace.id, name: other.workspace.name, count: OTHER_ENTRIES },
      ],
      (done, total) => {
        if (done - lastReport >= 200_000 || done === total) {
          lastReport = done;
          out(`    ${fmtInt(done)} / ${fmtInt(total)}`);
        }
      },
    );
    const fillRate = filled.inserted / filled.seconds;
    out(
      `  filled ${fmtInt(filled.inserted)} entries in ${filled.seconds.toFixed(1)} s: ${fmtInt(fillRate)} entries/s (hash chain computed in JS, insert, commit; ${filled.reappended} bootstrap entries re-chained at the end)`,
    );
    let t0 = performance.now();
    // VACUUM too: a table in production is autovacuumed; without it autovacuum would start (insert
    // threshold) in the middle of the measurements, and the first readers would set hint bits.
    await db.exec('VACUUM (ANALYZE) audit_logs');
    await db.exec('ANALYZE');
    out(`  VACUUM (ANALYZE) audit_logs + ANALYZE: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const size = await db.one<{ table: string; indexes: string }>(
      `SELECT pg_size_pretty(pg_table_size('audit_logs')) AS table, pg_size_pretty(pg_indexes_size('audit_logs')) AS indexes`,
    );
    out(`  audit_logs size: table ${size!.table}, indexes ${size!.indexes}`);

    app = await buildServer({ services, config, logger: false });
    await app.ready();
    const client = await AuditClient.login(
      app,
      `${created.api_key.client_id}:${created.api_key.client_secret}`,
    );

    const nowMs = Date.now();
    const endIso = new Date(nowMs).toISOString();
    const startIso = new Date(nowMs - 7 * DAY_MS).toISOString();
    const dayIso = new Date(nowMs - DAY_MS).toISOString();
    const counts = await db.one<{ day: string; week: string; all: string }>(
      `SELECT count(*) FILTER (WHERE ts > $2) AS day, count(*) FILTER (WHERE ts > $3) AS week, count(*) AS all
         FROM audit_logs WHERE workspace_id = $1`,
      [wsId, dayIso, startIso],
    );
    out(
      `  workspace "bench": ${fmtInt(Number(counts!.all))} entries; last 24 h ${fmtInt(Number(counts!.day))}, last 7 days ${fmtInt(Number(counts!.week))}`,
    );

    const rows: ResultRow[] = [];
    const record = (name: string, s: Stats, note?: string): void => {
      printStats(name, s, note ? `; ${note}` : '');
      rows.push(note ? { name, stats: s, note } : { name, stats: s });
    };

    out(
      `== queries: GET ${AUDIT_LOGS_PATH} as the owner (${REQUESTS} timed requests each after ${WARMUP} warm-up)`,
    );
    record(
      '(a) default window (last 24 h), desc, page_size 100',
      await measure(
        client,
        {},
        { size: 100, order: 'desc', start: isoMicros(dayIso), end: '9999-12-31T23:59:59.999999Z' },
      ),
    );
    const week = { start_time: startIso, end_time: endIso };
    const inWeek = { start: isoMicros(startIso), end: isoMicros(endIso) };
    for (const order of ['desc', 'asc'] as const) {
      for (const pageSize of [100, 500]) {
        record(
          `(b) 7-day window, first page, ${order}, page_size ${pageSize}`,
          await measure(
            client,
            // desc is the default: sent as a client relying on it would (no `order`).
            { ...week, page_size: pageSize, order: order === 'desc' ? undefined : 'asc' },
            { size: pageSize, order, ...inWeek },
          ),
        );
      }
    }

    const walks = Math.max(2, Math.ceil(REQUESTS / (PAGE_WALK_ENTRIES / PAGE_WALK_SIZE)));
    out(
      `== paging: ${fmtInt(PAGE_WALK_ENTRIES)} entries of the 7-day window with next_page_token, page_size ${PAGE_WALK_SIZE}, order sent on the first page only; 1 untimed + ${walks} timed walks per order`,
    );
    for (const order of ['asc', 'desc'] as const) {
      const expect = { size: PAGE_WALK_SIZE, order, ...inWeek };
      await walk(client, week, expect); // warms the pages the walk reads
      const pageSamples: number[] = [];
      const totals: number[] = [];
      for (let i = 0; i < walks; i++) {
        const w = await walk(client, week, expect);
        pageSamples.push(...w.pages);
        totals.push(w.total);
      }
      record(
        `(c) paging 10k, ${order}, per page`,
        stats(pageSamples),
        `10k walk total ${totals.map((t) => `${fmtInt(t)} ms`).join(', ')}`,
      );
    }

    out('== verify: services.audit.verify() over the whole chain of workspace "bench"');
    t0 = performance.now();
    const report = await services.audit.verify(wsId);
    const verifySeconds = (performance.now() - t0) / 1000;
    if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.first_broken)}`);
    const verifyRate = report.entries_checked / verifySeconds;
    out(
      `  ok=${report.ok}, ${fmtInt(report.entries_checked)} entries in ${verifySeconds.toFixed(1)} s: ${fmtInt(verifyRate)} entries/s`,
    );
    const otherReport = await services.audit.verify(other.workspace.id);
    if (!otherReport.ok)
      throw new Error(`verify of bench-other failed: ${JSON.stringify(otherReport.first_broken)}`);
    out(`  bench-other: ok=${otherReport.ok}, ${fmtInt(otherReport.entries_checked)} entries`);

    out();
    printSummary(
      machine,
      rows,
      TARGET_P99_MS,
      `latency through app.inject (full Fastify stack), ${REQUESTS} requests per query`,
    );
    out(
      `  fill:   ${fmtInt(fillRate)} entries/s (${fmtInt(filled.inserted)} entries in ${filled.seconds.toFixed(1)} s)`,
    );
    out(
      `  verify: ${fmtInt(verifyRate)} entries/s (${fmtInt(report.entries_checked)} entries in ${verifySeconds.toFixed(1)} s, ok=${report.ok})`,
    );
    const missed = rows.filter((r) => r.stats.p99 >= TARGET_P99_MS);
    out(
      missed.length
        ? `  target missed by: ${missed.map((r) => r.name).join('; ')}`
        : `  every query met the p99 < ${TARGET_P99_MS} ms target`,
    );
  } finally {
    await app?.close();
    await db.close();
  }
}

await runWithPgTarget('osprey_bench', run);

// npm run bench:engine: the workflow engine end to end. Webhook-triggered runs over real HTTP on
// 127.0.0.1 (Fastify listening, undici clients in a separate process, an HTTP step calling an echo
// server in a third process), the per-step overhead of a 40-step run, PostgreSQL transactions and
// statements per execution, and the ratio to the same HTTP calls made in a bare loop.
//
// The server is DATABASE_URL when set (a fresh database is created there and dropped at the end),
// otherwise an embedded PostgreSQL started in a temporary directory and removed at the end.
//
// Options (environment): BENCH_WORKER_CONCURRENCY (default 128), BENCH_DB_POOL_SIZE (30),
// BENCH_WINDOW_MS (6000), BENCH_WARMUP_MS (2000), BENCH_ASYNC_EXECUTIONS (3000),
// BENCH_CHAIN_RUNS (60), BENCH_WORKER_PROCESS (1: also run the worker in a second process; 0: skip).
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { Child } from './lib/child.js';
import { PgServerCpu, backgroundLoad, machineBusyMs, selfCpuMs } from './lib/cpu.js';
import type { FireResult, LoadKind, LoadResult } from './lib/engine-protocol.js';
import {
  Osprey,
  chainWorkflow,
  enrichWorkflow,
  ospreyEnv,
  type OspreySettings,
} from './lib/engine-osprey.js';
import {
  PG_STAT_FLUSH_WAIT_MS,
  PgStatProbe,
  StatementCounter,
  statementsBetween,
  xactsBetween,
  type ServerStatement,
  type StatementCounts,
} from './lib/pg-counters.js';
import { runWithPgTarget, type PgTarget } from './lib/pg-target.js';
import { fmtInt, fmtMs, out, printMachine, stats, type Stats } from './lib/stats.js';

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

const SETTINGS: OspreySettings = {
  workerConcurrency: intEnv('BENCH_WORKER_CONCURRENCY', 128),
  dbPoolSize: intEnv('BENCH_DB_POOL_SIZE', 30),
};
const CONCURRENCIES = [1, 50, 200];
const WINDOW_MS = intEnv('BENCH_WINDOW_MS', 6000);
const WARMUP_MS = intEnv('BENCH_WARMUP_MS', 2000);
const ASYNC_EXECUTIONS = intEnv('BENCH_ASYNC_EXECUTIONS', 3000);
const ASYNC_CONCURRENCY = 200;
const CHAIN_STEPS = 40;
const CHAIN_RUNS = intEnv('BENCH_CHAIN_RUNS', 60);
const CHAIN_WARMUP = 10;
const WORKER_PROCESS = process.env.BENCH_WORKER_PROCESS !== '0';
const TARGET_EXEC_PER_S = 1000;
const TARGET_STEP_MS = 1;

const LOAD_MODULE = fileURLToPath(new URL('./lib/engine-load.ts', import.meta.url));
const WORKER_MODULE = fileURLToPath(new URL('./lib/engine-worker.ts', import.meta.url));

interface CpuSnap {
  /** performance.now() when the snapshot was taken. */
  at: number;
  machine: number;
  osprey: number;
  worker: number;
  echo: number;
  postgres: number;
}

/** Cores busy on average over a window, per process (group). */
interface CpuSplit {
  machine: number;
  osprey: number;
  workerProcess?: number;
  load?: number;
  echo: number;
  postgres?: number;
}

async function snapCpu(ctx: Ctx): Promise<CpuSnap> {
  const at = performance.now();
  const machine = machineBusyMs();
  const osprey = selfCpuMs();
  const [worker, echo, postgres] = await Promise.all([
    ctx.workerProcess ? ctx.workerProcess.cpuMs() : 0,
    ctx.echo.cpuMs(),
    ctx.pgCpu ? ctx.pgCpu.ms() : 0,
  ]);
  return { at, machine, osprey, worker, echo, postgres };
}

/** Cores used between two snapshots; the load generator's CPU time (ms) over about that time when known. */
function cpuBetween(ctx: Ctx, a: CpuSnap, b: CpuSnap, loadMs?: number): CpuSplit {
  const ms = b.at - a.at;
  return {
    machine: (b.machine - a.machine) / ms,
    osprey: (b.osprey - a.osprey) / ms,
    ...(ctx.workerProcess ? { workerProcess: (b.worker - a.worker) / ms } : {}),
    ...(loadMs !== undefined ? { load: loadMs / ms } : {}),
    echo: (b.echo - a.echo) / ms,
    ...(ctx.pgCpu ? { postgres: (b.postgres - a.postgres) / ms } : {}),
  };
}

/** CPU not accounted to the benchmark's processes or PostgreSQL: other processes and the kernel. */
const otherCpu = (c: CpuSplit): number =>
  Math.max(0, c.machine - c.osprey - (c.workerProcess ?? 0) - (c.postgres ?? 0) - (c.load ?? 0) - c.echo);

function fmtCpu(c: CpuSplit): string {
  const parts = [`osprey process ${c.osprey.toFixed(2)}`];
  if (c.workerProcess !== undefined) parts.push(`worker process ${c.workerProcess.toFixed(2)}`);
  if (c.postgres !== undefined) parts.push(`PostgreSQL ${c.postgres.toFixed(2)}`);
  if (c.load !== undefined) parts.push(`load generator ${c.load.toFixed(2)}`);
  parts.push(`echo server ${c.echo.toFixed(2)}`);
  parts.push(
    `${c.postgres === undefined ? 'the rest (PostgreSQL, other processes, kernel)' : 'other processes and kernel'} ${otherCpu(c).toFixed(2)}`,
  );
  return `CPU, cores busy: ${parts.join(', ')}; machine ${c.machine.toFixed(2)} of ${os.cpus().length}`;
}

/** The summary's CPU note; "other" over a quarter of a core means other work disturbed the figure. */
const shortCpu = (c: CpuSplit): string =>
  `osprey ${c.osprey.toFixed(2)}${c.workerProcess !== undefined ? ` + worker ${c.workerProcess.toFixed(2)}` : ''}${c.postgres !== undefined ? `, PG ${c.postgres.toFixed(2)}` : ''}, other ${otherCpu(c).toFixed(2)}${otherCpu(c) > 0.25 ? ' (disturbed)' : ''} of ${c.machine.toFixed(2)} busy cores`;

/** CPU time per execution (ms) of Osprey's processes and PostgreSQL, and the rate 2 idle cores would bound. */
function cpuPerExecution(c: CpuSplit, rate: number): string {
  const osprey = ((c.osprey + (c.workerProcess ?? 0)) * 1000) / rate;
  if (c.postgres === undefined) return `CPU per execution: osprey ${osprey.toFixed(2)} ms`;
  const postgres = (c.postgres * 1000) / rate;
  const echo = (c.echo * 1000) / rate;
  const total = osprey + postgres + echo;
  return `CPU per execution: osprey ${osprey.toFixed(2)} ms + PostgreSQL ${postgres.toFixed(2)} ms + echo ${echo.toFixed(2)} ms = ${total.toFixed(2)} ms, i.e. at most ~${fmtInt((os.cpus().length * 1000) / total)} executions/s on ${os.cpus().length} otherwise idle cores`;
}

const fmtLatency = (s: Stats | undefined): string =>
  s
    ? `latency p50 ${fmtMs(s.p50)} ms  p99 ${fmtMs(s.p99)} ms  max ${fmtMs(s.max)} ms`
    : 'no answer arrived inside the window';

interface Run {
  mode: string;
  name: string;
  /** Client concurrency of a closed-loop /sync run. */
  concurrency?: number;
  /** Executions (or bare calls) per second. */
  rate: number;
  latency?: Stats;
  note: string;
}

interface Ctx {
  target: PgTarget;
  osprey: Osprey;
  load: Child;
  echo: Child;
  pgCpu: PgServerCpu | undefined;
  echoPort: number;
  probe: PgStatProbe;
  counter: StatementCounter;
  /** Whether pg_stat_statements can be read. */
  serverStatements: boolean;
  enrich: { id: string; webhookToken: string };
  workerProcess: Child | undefined;
}

/** Snapshots the CPU counters at `delayMs` and `delayMs + windowMs` from now, while `work` runs. */
async function withCpu<T>(
  ctx: Ctx,
  delayMs: number,
  windowMs: number,
  work: Promise<T>,
): Promise<{ value: T; a: CpuSnap; b: CpuSnap }> {
  const sampling = (async () => {
    await sleep(delayMs);
    const a = await snapCpu(ctx);
    await sleep(windowMs);
    return [a, await snapCpu(ctx)] as const;
  })();
  const [value, [a, b]] = await Promise.all([work, sampling]);
  return { value, a, b };
}

async function closedLoop(
  ctx: Ctx,
  kind: LoadKind,
  url: string,
  concurrency: number,
): Promise<{ result: LoadResult; cpu: CpuSplit }> {
  const {
    value: reply,
    a,
    b,
  } = await withCpu(
    ctx,
    WARMUP_MS,
    WINDOW_MS,
    ctx.load.ask(
      { type: 'closed-loop', kind, url, concurrency, warmupMs: WARMUP_MS, durationMs: WINDOW_MS },
      'closed-loop',
    ),
  );
  const result = reply.result;
  if (result.errors) throw new Error(`${result.errors} failed requests; first: ${result.firstError}`);
  return { result, cpu: cpuBetween(ctx, a, b, result.cpuMs) };
}

const succeeded = async (probe: PgStatProbe): Promise<number> =>
  Number(await probe.value(`SELECT count(*) AS v FROM executions WHERE status = 'succeeded'`));

async function assertNoFailures(probe: PgStatProbe): Promise<void> {
  const bad = await probe.value(
    `SELECT count(*) AS v FROM executions WHERE status NOT IN ('succeeded', 'queued', 'running')`,
  );
  if (bad !== '0') {
    const sample = await probe.value(
      `SELECT status || ' ' || coalesce(error::text, '') AS v FROM executions WHERE status NOT IN ('succeeded', 'queued', 'running') LIMIT 1`,
    );
    throw new Error(`${bad} executions did not succeed; e.g. ${sample}`);
  }
}

async function waitIdle(probe: PgStatProbe): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (
      (await probe.value(`SELECT count(*) AS v FROM executions WHERE status IN ('queued', 'running')`)) ===
      '0'
    )
      return;
    await sleep(50);
  }
  throw new Error('executions still queued or running after 30 s');
}

interface PgCost {
  executions: number;
  pgXacts: number;
  client: StatementCounts;
  /** Statements the idle workers send per second (polling), counted before the run. */
  idlePerSecond: number;
  /** pg_stat_statements over the same span, when the server has it. */
  server: ServerStatement[] | undefined;
}

/** Runs `work` between two pg_stat_database readings and two client-side counts; executions from the DB. */
async function measurePg(ctx: Ctx, work: () => Promise<void>): Promise<PgCost> {
  const { probe, counter } = ctx;
  await waitIdle(probe);
  const idle0 = counter.snapshot();
  const before = await probe.read(); // waits for other backends to report
  const idle1 = counter.snapshot();
  const idlePerSecond = (idle1.statements - idle0.statements) / (PG_STAT_FLUSH_WAIT_MS / 1000);
  const statements0 = ctx.serverStatements ? await probe.statements() : undefined;
  const done0 = await succeeded(probe);
  await work();
  await waitIdle(probe);
  const after = await probe.read();
  // Both counts include the idle polling of the flush wait after the run, as pg_stat_database does.
  const client = StatementCounter.since(idle1, counter.snapshot());
  const server = statements0 ? statementsBetween(statements0, await probe.statements()) : undefined;
  const executions = (await succeeded(probe)) - done0;
  return { executions, pgXacts: xactsBetween(before, after), client, idlePerSecond, server };
}

function printPgCost(c: PgCost, label: string): void {
  const per = (n: number): string => (n / c.executions).toFixed(2);
  out(
    `  ${label}: ${fmtInt(c.executions)} executions; transactions per execution ${per(c.pgXacts)} (pg_stat_database), ${per(c.client.transactions)} counted client-side; statements per execution ${per(c.client.statements)} (client-side)`,
  );
  out(
    `      idle worker polling: ${c.idlePerSecond.toFixed(0)} statements/s (in the figures above for the ${(PG_STAT_FLUSH_WAIT_MS / 1000).toFixed(1)} s after the run: ~${per((c.idlePerSecond * PG_STAT_FLUSH_WAIT_MS) / 1000)} per execution)`,
  );
  if (!c.server) {
    out('      statements per execution, by statement (client-side, the top 10):');
    const top = [...c.client.byText.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10);
    for (const [text, n] of top) out(`      ${per(n).padStart(7)}  ${text}`);
    return;
  }
  const calls = c.server.reduce((a, s) => a + s.calls, 0);
  const ms = c.server.reduce((a, s) => a + s.ms, 0);
  const planMs = c.server.reduce((a, s) => a + s.planMs, 0);
  out(
    `      pg_stat_statements: ${per(calls)} statements, ${(ms / c.executions).toFixed(2)} ms executing and ${(planMs / c.executions).toFixed(2)} ms planning per execution; by server time (the top 10):`,
  );
  out(
    `      ${'calls/ex'.padStart(8)} ${'exec ms/ex'.padStart(10)} ${'plan ms/ex'.padStart(10)} ${'ms/call'.padStart(7)}  statement`,
  );
  for (const s of c.server.slice(0, 10))
    out(
      `      ${per(s.calls).padStart(8)} ${(s.ms / c.executions).toFixed(3).padStart(10)} ${(s.planMs / c.executions).toFixed(3).padStart(10)} ${((s.ms + s.planMs) / s.calls).toFixed(3).padStart(7)}  ${s.query}`,
    );
}

async function syncRuns(ctx: Ctx, mode: string, concurrencies: number[], runs: Run[]): Promise<void> {
  for (const c of concurrencies) {
    const done0 = await succeeded(ctx.probe);
    const { result, cpu } = await closedLoop(
      ctx,
      'sync',
      ctx.osprey.webhookUrl(ctx.enrich.webhookToken, true),
      c,
    );
    await waitIdle(ctx.probe);
    await assertNoFailures(ctx.probe);
    const ran = (await succeeded(ctx.probe)) - done0;
    const rate = result.completed / (result.windowMs / 1000);
    const latency = result.latencies.length ? stats(result.latencies) : undefined;
    out(
      `  sync c=${c}: ${fmtInt(rate)} executions/s (${fmtInt(result.completed)} in ${(result.windowMs / 1000).toFixed(1)} s; ${fmtInt(ran)} executions incl. warm-up)  ${fmtLatency(latency)}`,
    );
    out(`      ${fmtCpu(cpu)}`);
    out(`      ${cpuPerExecution(cpu, rate)}`);
    runs.push({
      mode,
      name: `(a) /sync webhook, 5-step workflow, c=${c}`,
      concurrency: c,
      rate,
      ...(latency ? { latency } : {}),
      note: shortCpu(cpu),
    });
  }
}

async function asyncRun(ctx: Ctx, mode: string, runs: Run[]): Promise<PgCost> {
  let fired: FireResult | undefined;
  let doneMs = 0;
  let cpu: CpuSplit | undefined;
  const cost = await measurePg(ctx, async () => {
    const t0 = performance.now();
    const cpu0 = await snapCpu(ctx);
    const firing = ctx.load
      .ask(
        {
          type: 'fire',
          url: ctx.osprey.webhookUrl(ctx.enrich.webhookToken, false),
          count: ASYNC_EXECUTIONS,
          concurrency: ASYNC_CONCURRENCY,
        },
        'fire',
      )
      .then((m) => (fired = m.result));
    // Done when every request was answered and nothing is queued or running any more.
    for (;;) {
      await sleep(25);
      if (
        fired &&
        (await ctx.probe.value(
          `SELECT count(*) AS v FROM executions WHERE status IN ('queued', 'running', 'waiting')`,
        )) === '0'
      )
        break;
    }
    doneMs = performance.now() - t0;
    const cpu1 = await snapCpu(ctx);
    await firing;
    cpu = cpuBetween(ctx, cpu0, cpu1, fired!.cpuMs);
  });
  await assertNoFailures(ctx.probe);
  const f = fired!;
  if (f.errors) throw new Error(`${f.errors} webhook requests failed; first: ${f.firstError}`);
  if (cost.executions !== ASYNC_EXECUTIONS)
    throw new Error(`expected ${ASYNC_EXECUTIONS} executions to succeed, ${cost.executions} did`);
  const rate = ASYNC_EXECUTIONS / (doneMs / 1000);
  const accept = stats(f.latencies);
  out(
    `  async: ${fmtInt(ASYNC_EXECUTIONS)} POSTs to /v1/webhooks/{token} (${ASYNC_CONCURRENCY} in flight): all answered in ${(f.elapsedMs / 1000).toFixed(2)} s (${fmtInt(ASYNC_EXECUTIONS / (f.elapsedMs / 1000))} accepted/s, p50 ${fmtMs(accept.p50)} ms, p99 ${fmtMs(accept.p99)} ms); all finished after ${(doneMs / 1000).toFixed(2)} s: ${fmtInt(rate)} executions/s`,
  );
  out(`      ${fmtCpu(cpu!)}`);
  out(`      ${cpuPerExecution(cpu!, rate)}`);
  runs.push({
    mode,
    name: `(a) async webhook, ${fmtInt(ASYNC_EXECUTIONS)} runs, until all finished`,
    rate,
    note: `accepted ${fmtInt(ASYNC_EXECUTIONS / (f.elapsedMs / 1000))}/s; ${shortCpu(cpu!)}`,
  });
  return cost;
}

async function post(url: string, body: object): Promise<void> {
  const res = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`POST ${url}: ${res.statusCode} ${text}`);
}

/** (b): one run at a time, the in-process worker stopped; each timed around Worker.runOne(). */
async function chainRuns(ctx: Ctx): Promise<{
  one: Stats;
  forty: Stats;
  perStep: number;
  stmtsPerStep: number;
  cpuPerStep: number;
  cpu: CpuSplit;
}> {
  const { osprey, counter } = ctx;
  const one = await osprey.webhookWorkflow(chainWorkflow(1));
  const forty = await osprey.webhookWorkflow(chainWorkflow(CHAIN_STEPS));
  await osprey.stopWorker();
  const worker = osprey.newWorker();
  const samples = { one: [] as number[], forty: [] as number[] };
  const cpuMs = { one: [] as number[], forty: [] as number[] };
  const statements = { one: 0, forty: 0 };
  const runOne = async (token: string, key: 'one' | 'forty', timed: boolean): Promise<void> => {
    await post(osprey.webhookUrl(token, false), { n: 0 });
    const c0 = counter.snapshot();
    const cpu0 = selfCpuMs();
    const t0 = performance.now();
    if (!(await worker.runOne())) throw new Error('nothing to claim');
    const ms = performance.now() - t0;
    if (!timed) return;
    samples[key].push(ms);
    cpuMs[key].push(selfCpuMs() - cpu0);
    statements[key] += counter.snapshot().statements - c0.statements;
  };
  for (let i = 0; i < CHAIN_WARMUP; i++) {
    await runOne(one.webhookToken, 'one', false);
    await runOne(forty.webhookToken, 'forty', false);
  }
  const a = await snapCpu(ctx);
  for (let i = 0; i < CHAIN_RUNS; i++) {
    // Interleaved, so drift (autovacuum, other load) hits both alike.
    await runOne(one.webhookToken, 'one', true);
    await runOne(forty.webhookToken, 'forty', true);
  }
  const cpu = cpuBetween(ctx, a, await snapCpu(ctx));
  await assertNoFailures(ctx.probe);
  const last = await ctx.probe.value(
    `SELECT s.output::text AS v FROM step_runs s JOIN executions e ON e.id = s.execution_id
      WHERE e.workflow_id = $1 AND s.key = 'step_40' ORDER BY e.created_at DESC LIMIT 1`,
    [forty.id],
  );
  if (last !== '{"n": 40}') throw new Error(`the 40-step run ended with ${last}, expected {"n": 40}`);
  await osprey.startWorker();
  const s1 = stats(samples.one);
  const s40 = stats(samples.forty);
  return {
    one: s1,
    forty: s40,
    perStep: (s40.p50 - s1.p50) / (CHAIN_STEPS - 1),
    stmtsPerStep: (statements.forty - statements.one) / CHAIN_RUNS / (CHAIN_STEPS - 1),
    cpuPerStep: (stats(cpuMs.forty).p50 - stats(cpuMs.one).p50) / (CHAIN_STEPS - 1),
    cpu,
  };
}

async function run(target: PgTarget): Promise<void> {
  const counter = StatementCounter.install();
  const probe = await PgStatProbe.open(target.url, counter);
  const echo = new Child(LOAD_MODULE);
  const load = new Child(LOAD_MODULE);
  let osprey: Osprey | undefined;
  let workerProcess: Child | undefined;
  try {
    out('Osprey engine benchmark');
    // Before Osprey connects: it sets pg_stat_statements.track_planning for new connections.
    const serverStatements = await probe.enableStatements();
    osprey = await Osprey.start(target.url, SETTINGS);
    const machine = await printMachine(osprey.db, target.mode);
    out(
      `  more PG:    ${await probe.value(`SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) AS v FROM pg_settings WHERE name IN ('max_connections', 'synchronous_commit', 'fsync', 'wal_level')`)}`,
    );
    const env = ospreyEnv('…', SETTINGS);
    out(
      `  Osprey:     ${['OSPREY_WORKER_CONCURRENCY', 'OSPREY_DB_POOL_SIZE', 'OSPREY_WEBHOOK_RATE_LIMIT', 'OSPREY_HTTP_ALLOW_NETWORKS', 'OSPREY_RATE_LIMIT', 'OSPREY_WEBHOOK_SYNC_TIMEOUT_MS'].map((k) => `${k}=${env[k]}`).join(' ')}; worker lease ${osprey.config.workerLeaseMs} ms, log level silent`,
    );
    out(
      `  processes:  Osprey (API + worker, as \`osprey start\`) in this process, listening on ${osprey.baseUrl}; the load generator (undici pools) and the echo server in two child processes; PostgreSQL`,
    );
    out(
      `  runs:       closed loop, ${WARMUP_MS} ms warm-up then a ${WINDOW_MS} ms window per concurrency; async batch of ${ASYNC_EXECUTIONS}; ${CHAIN_RUNS} timed runs each of the 1- and ${CHAIN_STEPS}-step workflows`,
    );

    await Promise.all([echo.ready(), load.ready()]);
    const background = await backgroundLoad();
    out(
      `  background: ${background.toFixed(2)} cores busy over 2 s before the run (other processes; load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})${background > 0.25 ? ' -- the machine is not idle: figures will be low and noisy' : ''}`,
    );
    const echoPort = (await echo.ask({ type: 'echo' }, 'echo')).port;
    const enrich = await osprey.webhookWorkflow(enrichWorkflow(echoPort));
    await osprey.startWorker();
    out(
      `  statements: ${serverStatements ? 'pg_stat_statements loaded: server-side statement counts and times in (c)' : 'pg_stat_statements not loaded (shared_preload_libraries): (c) counts statements client-side only'}`,
    );
    const pgCpu = await PgServerCpu.find(await probe.value(`SELECT current_setting('data_directory') AS v`));
    out(
      `  CPU split:  ${pgCpu ? "PostgreSQL's CPU time read from /proc (its postmaster and children)" : 'PostgreSQL server processes not readable from here: its CPU is counted in "the rest"'}`,
    );
    const ctx: Ctx = {
      target,
      osprey,
      load,
      echo,
      pgCpu,
      echoPort,
      probe,
      counter,
      serverStatements,
      enrich,
      workerProcess: undefined,
    };

    const runs: Run[] = [];
    const single = 'API + worker in one process';
    out();
    out(`== (a) webhook-triggered 5-step workflow: ${single}`);
    // (c) is measured over each of these runs (warm-up included).
    const costs: { label: string; cost: PgCost }[] = [];
    for (const c of CONCURRENCIES) {
      const cost = await measurePg(ctx, () => syncRuns(ctx, single, [c], runs));
      costs.push({ label: `/sync c=${c}`, cost });
    }
    costs.push({ label: 'async', cost: await asyncRun(ctx, single, runs) });

    out();
    out(
      '== (c) PostgreSQL work per execution (5-step workflow), over each run above (warm-up included, and the idle second after it)',
    );
    for (const { label, cost } of costs) printPgCost(cost, label);

    out();
    out('== (d) the same HTTP calls in a bare loop: load generator -> echo server, no Osprey');
    const bare = new Map<number, number>();
    for (const c of CONCURRENCIES) {
      const { result, cpu } = await closedLoop(ctx, 'bare', `http://127.0.0.1:${echoPort}/intel`, c);
      const rate = result.completed / (result.windowMs / 1000);
      bare.set(c, rate);
      out(
        `  bare c=${c}: ${fmtInt(rate)} calls/s  ${fmtLatency(result.latencies.length ? stats(result.latencies) : undefined)}`,
      );
      out(`      ${fmtCpu(cpu)}`);
    }

    out();
    out(
      `== (b) per-step overhead: 1-step vs ${CHAIN_STEPS}-step transform chains, one run at a time, timed around Worker.runOne() (claim, load, run, finish)`,
    );
    const chain = await chainRuns(ctx);
    out(
      `  1 step:   n=${chain.one.n}  p50 ${fmtMs(chain.one.p50)} ms  p99 ${fmtMs(chain.one.p99)} ms  mean ${fmtMs(chain.one.mean)} ms`,
    );
    out(
      `  ${CHAIN_STEPS} steps: n=${chain.forty.n}  p50 ${fmtMs(chain.forty.p50)} ms  p99 ${fmtMs(chain.forty.p99)} ms  mean ${fmtMs(chain.forty.mean)} ms`,
    );
    out(
      `  overhead per step: (${fmtMs(chain.forty.p50)} - ${fmtMs(chain.one.p50)}) / ${CHAIN_STEPS - 1} = ${chain.perStep.toFixed(3)} ms; ${chain.stmtsPerStep.toFixed(2)} SQL statements per step; the Osprey process's CPU time per step ${chain.cpuPerStep.toFixed(3)} ms (the rest is waiting for PostgreSQL)`,
    );
    out(`      ${fmtCpu(chain.cpu)} (over the timed runs, the webhook deliveries included)`);

    if (WORKER_PROCESS) {
      const split = 'API process + worker process';
      out();
      out(
        `== (a) again: ${split} (this process: API only; the worker in a child process, as \`osprey worker\`)`,
      );
      await osprey.stopWorker();
      workerProcess = new Child(WORKER_MODULE, {
        ...ospreyEnv(target.url, SETTINGS),
        BENCH_MASTER_KEY: osprey.masterKey.toString('hex'),
      });
      await workerProcess.ready();
      ctx.workerProcess = workerProcess;
      // A fresh process: JIT and pool connections warm up on an untimed run before the measured ones.
      await ctx.load.ask(
        {
          type: 'closed-loop',
          kind: 'sync',
          url: osprey.webhookUrl(enrich.webhookToken, true),
          concurrency: CONCURRENCIES[1]!,
          warmupMs: 0,
          durationMs: WARMUP_MS,
        },
        'closed-loop',
      );
      await syncRuns(ctx, split, CONCURRENCIES.slice(1), runs);
      await asyncRun(ctx, split, runs);
    }

    out();
    out('== summary');
    out(`  database:   ${machine.database}`);
    out(`  machine:    ${machine.cpu}, ${machine.memory}, Node ${machine.node}`);
    out(`  PostgreSQL: ${machine.postgres}`);
    out(
      `  Osprey:     worker concurrency ${SETTINGS.workerConcurrency}, DB pool ${SETTINGS.dbPoolSize} per process, webhook rate limit 1,000,000/s, HTTP allowed to 127.0.0.0/8`,
    );
    const header = ['figure', 'mode', 'exec/s', 'p50 ms', 'p99 ms', 'notes'];
    const table = runs.map((r) => [
      r.name,
      r.mode,
      fmtInt(r.rate),
      r.latency ? fmtMs(r.latency.p50) : '',
      r.latency ? fmtMs(r.latency.p99) : '',
      r.note,
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
    const line = (cells: string[]): string =>
      `  ${cells.map((c, i) => (i === 2 || i === 3 || i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')}`.trimEnd();
    out(line(header));
    out(`  ${widths.map((w) => '-'.repeat(w)).join('-+-')}`);
    for (const t of table) out(line(t));
    const best = Math.max(...runs.map((r) => r.rate));
    out(
      `  (a) best: ${fmtInt(best)} executions/s; target >= ${fmtInt(TARGET_EXEC_PER_S)}: ${best >= TARGET_EXEC_PER_S ? 'met' : 'NOT met'}`,
    );
    out(
      `  (b) overhead per step ${chain.perStep.toFixed(3)} ms (p50 ${fmtMs(chain.one.p50)} ms for 1 step, ${fmtMs(chain.forty.p50)} ms for ${CHAIN_STEPS}); target <= ${TARGET_STEP_MS} ms: ${chain.perStep <= TARGET_STEP_MS ? 'met' : 'NOT met'}`,
    );
    out(
      `  (c) PostgreSQL transactions per execution (pg_stat_database): ${costs.map(({ label, cost }) => `${label} ${(cost.pgXacts / cost.executions).toFixed(1)}`).join(', ')}`,
    );
    out(
      `      statements per execution: ${costs.map(({ label, cost }) => `${label} ${((cost.server ? cost.server.reduce((a, x) => a + x.calls, 0) : cost.client.statements) / cost.executions).toFixed(1)}`).join(', ')} (${serverStatements ? 'pg_stat_statements' : 'counted client-side'})`,
    );
    const singleSync = runs.filter((r) => r.mode === single && r.concurrency !== undefined);
    out(
      `  (d) executions/s ÷ bare HTTP calls/s (same client, same concurrency): ${singleSync
        .map((r) => {
          const c = r.concurrency!;
          const b = bare.get(c)!;
          return `c=${c}: ${fmtInt(r.rate)} / ${fmtInt(b)} = ${(r.rate / b).toFixed(3)}`;
        })
        .join('; ')}`,
    );
  } finally {
    await workerProcess?.stop().catch(() => undefined);
    await load.stop().catch(() => undefined);
    await echo.stop().catch(() => undefined);
    await osprey?.close().catch(() => undefined);
    await probe.close().catch(() => undefined);
  }
}

// The embedded server loads pg_stat_statements, for the statement counts and times in (c).
await runWithPgTarget('osprey_bench_engine', run, { preload: ['pg_stat_statements'] });

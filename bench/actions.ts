// npm run bench:actions: what an app action costs over a bare HTTP call to the same server. One
// VirusTotal-like server in this process (node:http on 127.0.0.1: GET /api/v3/ip_addresses/:ip with
// an x-apikey check, ~0.9 kB of JSON) is called (1) bare with undici, (2) as the virustotal app's
// get_ip_report through the integration service (`execute`, the API's path, and `run`, what an
// action step calls), and (3) as workflow steps through the executor, against the same workflow
// made of transform steps: one run at a time, and queued runs with the worker running 20 at a time.
//
// The server is DATABASE_URL when set (a fresh database, dropped at the end), otherwise an embedded
// PostgreSQL in a temporary directory. Options (environment): BENCH_CALLS (2000), BENCH_RUNS (200).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { writePackage } from '../src/integrations/apps/package.js';
import { backgroundLoad, selfCpuMs } from './lib/cpu.js';
import { Osprey } from './lib/engine-osprey.js';
import { runWithPgTarget, type PgTarget } from './lib/pg-target.js';
import { fmtInt, fmtMs, out, printMachine, stats, type Stats } from './lib/stats.js';

const CALLS = Number(process.env.BENCH_CALLS || 2000);
const RUNS = Number(process.env.BENCH_RUNS || 200);
const WARMUP_CALLS = 300;
const WARMUP_RUNS = 20;
const STEPS = 5;
const CONCURRENCY = 20;
const API_KEY = '9f1c0d6e5b2a4f3c8e7d1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d';

const ipOf = (n: number): string => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;

/** A VirusTotal IP address object, trimmed: the verdicts of six engines. */
function ipReport(ip: string): object {
  const engines = ['Abusix', 'BitDefender', 'ESET', 'Fortinet', 'Kaspersky', 'Sophos'];
  return {
    data: {
      id: ip,
      type: 'ip_address',
      links: { self: `https://www.virustotal.com/api/v3/ip_addresses/${ip}` },
      attributes: {
        asn: 64500,
        as_owner: 'EXAMPLE-HOSTING',
        country: 'NL',
        network: '10.0.0.0/8',
        reputation: -12,
        last_analysis_date: 1731456000,
        last_analysis_stats: { malicious: 2, suspicious: 1, undetected: 20, harmless: 58, timeout: 0 },
        last_analysis_results: Object.fromEntries(
          engines.map((e, i) => [
            e,
            { method: 'blacklist', engine_name: e, category: i < 2 ? 'malicious' : 'harmless' },
          ]),
        ),
        total_votes: { harmless: 0, malicious: 3 },
      },
    },
  };
}

/** The stand-in on 127.0.0.1: its base URL (the integration's base_url), body size and a closer. */
async function startVendor(): Promise<{ base: string; bytes: number; close: () => void }> {
  const server = createServer((req, res) => {
    const ip = /^\/api\/v3\/ip_addresses\/([^/?]+)$/.exec(req.url ?? '')?.[1];
    const [status, body] =
      req.headers['x-apikey'] !== API_KEY
        ? [401, { error: { code: 'WrongCredentialsError', message: 'Wrong API key' } }]
        : ip
          ? [200, ipReport(decodeURIComponent(ip))]
          : [404, { error: { code: 'NotFoundError', message: 'not found' } }];
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/api/v3`,
    bytes: JSON.stringify(ipReport('10.0.0.1')).length,
    close: () => server.close(),
  };
}

/** A custom app whose action sends two requests (the second uses the first's answer). */
const TWO_REQUESTS = `manifest_version: 1
identifier: bench_vt2
version: 1.0.0
title: Bench two requests
configuration:
  base_url: { title: API URL, type: url, required: true }
  api_key: { title: API key, type: string, secret: true, required: true }
base_url: '{{ $config.base_url }}'
authentication: { type: api_key, in: header, name: x-apikey, value: '{{ $config.api_key }}' }
actions:
  ip_twice:
    title: IP report, twice
    parameters:
      type: object
      required: [ip]
      additionalProperties: false
      properties: { ip: { type: string, anyOf: [{ format: ipv4 }, { format: ipv6 }] } }
    requests:
      - { name: first, method: GET, path: '/ip_addresses/{{ $encodeUrlComponent($params.ip) }}' }
      - { name: second, method: GET, path: '/ip_addresses/{{ $encodeUrlComponent($responses.first.body.data.id) }}' }
    output: '{{ {"id": $responses.second.body.data.id, "owner": $responses.first.body.data.attributes.as_owner} }}'
`;

/** `steps` steps s1..sN, each answering `{id: <the event's ip>, ...}`, then an exit with the last one's id. */
function workflow(kind: 'action' | 'transform', steps: number): string {
  const lines = [`name: Bench ${kind} ${steps}`, 'trigger: { type: webhook }', 'steps:'];
  for (let i = 1; i <= steps; i++)
    lines.push(
      `  - id: s${i}`,
      ...(kind === 'action'
        ? ['    kind: action', '    action: virustotal.get_ip_report', '    integration: vt']
        : ['    kind: transform']),
      kind === 'action' ? '    with: { ip: "{{ $.event.ip }}" }' : '    value: { id: "{{ $.event.ip }}" }',
    );
  lines.push('  - id: done', '    kind: exit', `    output: { id: "{{ $.s${steps}.id }}" }`);
  return `${lines.join('\n')}\n`;
}

/** One timed call: wall ms, and this process's CPU ms (client, Osprey and the stand-in). */
interface Sample {
  ms: number;
  cpu: number;
}

interface Result {
  s: Stats;
  /** Mean CPU ms per call. */
  cpu: number;
}

async function timed(work: () => Promise<void>): Promise<Sample> {
  const cpu = selfCpuMs();
  const t0 = performance.now();
  await work();
  return { ms: performance.now() - t0, cpu: selfCpuMs() - cpu };
}

/** `n` rounds of every call in turn (so drift hits them alike), after `warmup` untimed rounds. */
async function rounds<K extends string>(
  n: number,
  warmup: number,
  calls: Record<K, (i: number) => Promise<Sample>>,
): Promise<Record<K, Result>> {
  const names = Object.keys(calls) as K[];
  const samples = new Map<K, Sample[]>(names.map((k) => [k, []]));
  for (let i = 0; i < warmup + n; i++)
    for (const name of names) {
      const sample = await calls[name](i);
      if (i >= warmup) samples.get(name)!.push(sample);
    }
  const result = {} as Record<K, Result>;
  for (const [k, v] of samples)
    result[k] = { s: stats(v.map((x) => x.ms)), cpu: v.reduce((a, x) => a + x.cpu, 0) / v.length };
  return result;
}

function expectId(what: string, value: unknown, ip: string): void {
  if ((value as { id?: unknown } | null)?.id !== ip)
    throw new Error(`${what}: expected id ${ip}, got ${JSON.stringify(value).slice(0, 300)}`);
}

async function bareCall(base: string, ip: string): Promise<void> {
  const res = await request(`${base}/ip_addresses/${ip}`, {
    headers: { 'x-apikey': API_KEY, accept: 'application/json' },
  });
  const body = (await res.body.json()) as { data: unknown };
  if (res.statusCode !== 200) throw new Error(`bare call: ${res.statusCode}`);
  expectId('bare call', body.data, ip);
}

/** Queues a run through the workflow's webhook (async: answered once queued). */
async function enqueue(osprey: Osprey, token: string, ip: string): Promise<void> {
  const res = await request(osprey.webhookUrl(token, false), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ip }),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`webhook: ${res.statusCode} ${text}`);
}

async function waitIdle(osprey: Osprey): Promise<void> {
  for (;;) {
    const row = await osprey.db.one<{ n: string }>(
      `SELECT count(*) AS n FROM executions WHERE status IN ('queued', 'running', 'waiting')`,
    );
    if (row!.n === '0') return;
    await sleep(10);
  }
}

/** Queues `count` runs, then starts the worker (CONCURRENCY slots) and times it until all finished. */
async function throughput(
  osprey: Osprey,
  token: string,
  count: number,
): Promise<{ rate: number; cpu: number }> {
  for (let i = 0; i < count; i++) await enqueue(osprey, token, ipOf(100_000 + i));
  const s = await timed(async () => {
    await osprey.startWorker();
    await waitIdle(osprey);
  });
  await osprey.stopWorker();
  return { rate: (count * 1000) / s.ms, cpu: s.cpu / count };
}

/** The other processes' load: on a shared machine the latencies are only as good as this. */
async function printBackground(when: string): Promise<void> {
  const busy = await backgroundLoad(2000);
  out(
    `  background: ${busy.toFixed(2)} of ${os.cpus().length} cores busy over 2 s ${when} (other processes; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})${busy > 0.25 ? ' -- not idle: latencies are inflated' : ''}`,
  );
}

const line = (name: string, r: Result, extra = ''): void =>
  out(
    `  ${name.padEnd(40)} p50 ${fmtMs(r.s.p50).padStart(6)}  p95 ${fmtMs(r.s.p95).padStart(6)}  mean ${fmtMs(r.s.mean).padStart(6)} ms  ${fmtInt(1000 / r.s.mean).padStart(5)}/s  CPU ${fmtMs(r.cpu)} ms${extra}`,
  );

async function run(target: PgTarget): Promise<void> {
  const vendor = await startVendor();
  const osprey = await Osprey.start(target.url, { workerConcurrency: CONCURRENCY, dbPoolSize: 30 });
  try {
    out('Osprey action benchmark: app actions vs bare HTTP calls to the same local server');
    const machine = await printMachine(osprey.db, target.mode);
    out(
      `  vendor:     node:http in this process, GET ${vendor.base}/ip_addresses/:ip (x-apikey checked, ${vendor.bytes} B of JSON); OSPREY_HTTP_ALLOW_NETWORKS=127.0.0.0/8`,
    );
    await printBackground('before the run');
    const { services } = osprey;
    const principal = await osprey.principal();
    await services.apps.install(principal, writePackage(new Map([['manifest.yaml', TWO_REQUESTS]])));
    const configuration = { base_url: vendor.base, api_key: API_KEY };
    await services.integrations.create(principal, { name: 'vt', app: 'virustotal', configuration });
    await services.integrations.create(principal, { name: 'vt2', app: 'bench_vt2', configuration });

    out();
    out(
      `== (1), (2) one call at a time: ${fmtInt(CALLS)} rounds of the four, in turn, after ${WARMUP_CALLS} untimed rounds; CPU = this process per call`,
    );
    const execute = (ref: string, action: string) => (i: number) =>
      timed(async () => {
        const ip = ipOf(i);
        const x = await services.integrations.execute(principal, ref, { action, params: { ip } });
        expectId(`${ref}.${action}`, x.status === 'succeeded' ? x.output : x, ip);
      });
    const r = await rounds(CALLS, WARMUP_CALLS, {
      bare: (i) => timed(() => bareCall(vendor.base, ipOf(i))),
      execute: execute('vt', 'get_ip_report'),
      run: (i) =>
        timed(async () => {
          const ip = ipOf(i);
          const options = {
            signal: AbortSignal.timeout(30_000),
            workspaceId: principal.workspaceId,
            integration: 'vt',
          };
          expectId('run', await services.integrations.run('virustotal.get_ip_report', { ip }, options), ip);
        }),
      two: execute('vt2', 'ip_twice'),
    });
    const { bare } = r;
    const over = (x: Result, calls = 1): string =>
      `  over ${calls} bare: mean +${fmtMs(x.s.mean - calls * bare.s.mean)}, p50 +${fmtMs(x.s.p50 - calls * bare.s.p50)}, CPU +${fmtMs(x.cpu - calls * bare.cpu)} ms`;
    line('bare: undici request()', bare);
    line('integrations.execute (the API path)', r.execute, over(r.execute));
    line('integrations.run (an action step calls)', r.run, over(r.run));
    line('execute, custom action with 2 requests', r.two, over(r.two, 2));

    out();
    out(
      `== (3) workflows through the executor, one run at a time: ${RUNS} rounds (after ${WARMUP_RUNS}) of three workflows in turn, each queued by webhook (not timed) and timed around Worker.runOne()`,
    );
    const flows = {
      action: await osprey.webhookWorkflow(workflow('action', STEPS)),
      transform: await osprey.webhookWorkflow(workflow('transform', STEPS)),
      transform1: await osprey.webhookWorkflow(workflow('transform', 1)),
    };
    const worker = osprey.newWorker();
    const runOne = (token: string) => async (i: number) => {
      await enqueue(osprey, token, ipOf(50_000 + i));
      return timed(async () => {
        if (!(await worker.runOne())) throw new Error('nothing to claim');
      });
    };
    const w = await rounds(RUNS, WARMUP_RUNS, {
      action: runOne(flows.action.webhookToken),
      transform: runOne(flows.transform.webhookToken),
      transform1: runOne(flows.transform1.webhookToken),
    });
    line(`${STEPS} action steps + exit`, w.action);
    line(`${STEPS} transform steps + exit`, w.transform);
    line('1 transform step + exit', w.transform1);
    const perStep = (k: 'mean' | 'p50'): number => (w.action.s[k] - w.transform.s[k]) / STEPS - bare.s[k];
    const cpuPerStep = (w.action.cpu - w.transform.cpu) / STEPS - bare.cpu;
    const transformStep = (w.transform.s.mean - w.transform1.s.mean) / (STEPS - 1);
    out(
      `  action step - transform step - bare call: ${fmtMs(perStep('mean'))} ms (means), ${fmtMs(perStep('p50'))} ms (p50s), CPU ${fmtMs(cpuPerStep)} ms`,
    );
    out(
      `  a transform step (5 steps - 1 step) / 4: ${fmtMs(transformStep)} ms (means); so an action step takes ${fmtMs(transformStep + perStep('mean'))} ms more than its bare HTTP call`,
    );

    out();
    out(`== (3) throughput: ${RUNS * 2} queued runs, the worker running ${CONCURRENCY} at a time`);
    const a = await throughput(osprey, flows.action.webhookToken, RUNS * 2);
    const t = await throughput(osprey, flows.transform.webhookToken, RUNS * 2);
    const bad = await osprey.db.one<{ n: string; e: string | null }>(
      `SELECT count(*) AS n, min(status || ' ' || coalesce(error::text, output::text)) AS e FROM executions
        WHERE status <> 'succeeded' OR output->>'id' IS DISTINCT FROM input->>'ip'`,
    );
    if (bad!.n !== '0') throw new Error(`${bad!.n} runs failed or answered the wrong id; e.g. ${bad!.e}`);
    const c20 = await timed(async () => {
      const lanes = Array.from({ length: CONCURRENCY }, async (_, lane) => {
        for (let i = 0; i < (RUNS * 2 * STEPS) / CONCURRENCY; i++)
          await bareCall(vendor.base, ipOf(lane * 10_000 + i));
      });
      await Promise.all(lanes);
    });
    const bareRate = (RUNS * 2 * STEPS * 1000) / c20.ms;
    out(
      `  ${STEPS} action steps + exit:    ${fmtInt(a.rate * STEPS).padStart(6)} action steps/s (${fmtInt(a.rate)} runs/s), CPU ${fmtMs(a.cpu / STEPS)} ms per step`,
    );
    out(
      `  ${STEPS} transform steps + exit: ${fmtInt(t.rate * STEPS).padStart(6)} transform steps/s (${fmtInt(t.rate)} runs/s), CPU ${fmtMs(t.cpu / STEPS)} ms per step`,
    );
    out(`  bare calls, ${CONCURRENCY} in flight:     ${fmtInt(bareRate).padStart(6)} calls/s`);
    await printBackground('after the run');

    out();
    out('== summary');
    out(`  machine:    ${machine.cpu}, ${machine.memory}, Node ${machine.node}`);
    out(`  PostgreSQL: ${machine.postgres.split(' on ')[0]} (${machine.database.split(' ')[0]})`);
    out(
      `  one call:   bare ${fmtMs(bare.s.mean)} ms mean (p50 ${fmtMs(bare.s.p50)}); overhead of run +${fmtMs(r.run.s.mean - bare.s.mean)} ms (p50 +${fmtMs(r.run.s.p50 - bare.s.p50)}), of execute +${fmtMs(r.execute.s.mean - bare.s.mean)} ms (p50 +${fmtMs(r.execute.s.p50 - bare.s.p50)}), of a 2-request action +${fmtMs(r.two.s.mean - 2 * bare.s.mean)} ms over 2 bare calls`,
    );
    out(
      `  one step:   action - transform - bare = ${fmtMs(perStep('mean'))} ms (means), ${fmtMs(perStep('p50'))} ms (p50s); a transform step ${fmtMs(transformStep)} ms`,
    );
    out(
      `  c=${CONCURRENCY}:       ${fmtInt(a.rate * STEPS)} action steps/s, ${fmtInt(t.rate * STEPS)} transform steps/s, ${fmtInt(bareRate)} bare calls/s`,
    );
  } finally {
    await osprey.close().catch(() => undefined);
    vendor.close();
  }
}

await runWithPgTarget('osprey_bench_actions', run);

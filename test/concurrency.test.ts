import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { createServices } from '../src/app.js';
import { Worker } from '../src/engine/worker.js';
import { Database } from '../src/store/database.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const DELAY_MS = 500;

describe('per-workflow concurrency caps and the worker fair share', () => {
  let t: TestApp;
  let server: Server;
  let base: string;
  /** Requests the slow endpoint is answering right now, and the most at once. */
  let inFlight = 0;
  let maxInFlight = 0;
  /** In flight (itself included) when each request arrived, in arrival order. */
  let arrivals: { tag: string; inFlight: number }[] = [];
  const pools: Database[] = [];

  before(async () => {
    server = createServer((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      arrivals.push({ tag: req.url ?? '', inFlight });
      setTimeout(() => {
        inFlight--;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }, DELAY_MS);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
  });
  afterEach(async () => {
    await t.db.exec('DELETE FROM executions');
    inFlight = 0;
    maxInFlight = 0;
    arrivals = [];
  });
  after(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** A worker with its own pool and services, as a separate worker process would have. */
  async function worker(options: { concurrency: number; fairShare?: number }): Promise<Worker> {
    const db = new Database({ connectionString: t.database.url, max: options.concurrency + 4 });
    pools.push(db);
    const services = createServices(db, t.masterKey, t.config);
    await services.keyring.load();
    return new Worker({ db, executor: services.executor, logger, leaseMs: 5000, pollMs: 50, ...options });
  }

  async function workflow(name: string, extra = ''): Promise<string> {
    const yaml = `name: ${name}
${extra}trigger: { type: on_demand }
steps:
  - { id: call, kind: action, action: http.request, with: { url: "${base}/${name}/{{ $.event.n }}" } }
  - { id: done, kind: exit, output: { n: "{{ $.event.n }}", ok: "{{ $.call.api_object.ok }}" } }
`;
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
    assert.equal(pub.statusCode, 200, pub.body);
    return id;
  }

  async function queue(id: string, count: number): Promise<void> {
    for (let n = 0; n < count; n++) {
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${id}/executions`,
        payload: { inputs: { n } },
      });
      assert.equal(res.statusCode, 201, res.body);
    }
  }

  /** Samples how many runs of `workflowId` are running every ~20 ms until stopped; returns the max. */
  function sampleRunning(workflowId: string): { stop(): Promise<number> } {
    let max = 0;
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        const row = await t.db.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM executions WHERE workflow_id = $1 AND status = 'running'`,
          [workflowId],
        );
        max = Math.max(max, row!.n);
        await sleep(20);
      }
    })();
    return {
      async stop() {
        stopped = true;
        await loop;
        return max;
      },
    };
  }

  async function untilAllDone(ids: string[], count: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = await t.db.one<{ n: number }>(
        `SELECT count(*)::int AS n FROM executions
          WHERE workflow_id = ANY($1::uuid[]) AND status IN ('succeeded', 'failed', 'cancelled')`,
        [ids],
      );
      if (row!.n === count) return;
      if (Date.now() > deadline) throw new Error(`only ${row!.n} of ${count} runs ended in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  async function assertAllSucceeded(id: string, count: number): Promise<void> {
    const rows = await t.db.rows<{ status: string; output: { n: number; ok: boolean } }>(
      `SELECT status, output FROM executions WHERE workflow_id = $1 ORDER BY (input->>'n')::int`,
      [id],
    );
    assert.deepEqual(
      rows.map((r) => r.status),
      Array<string>(count).fill('succeeded'),
    );
    assert.deepEqual(
      rows.map((r) => r.output),
      [...Array(count).keys()].map((n) => ({ n, ok: true })),
    );
  }

  async function startedAt(id: string): Promise<number[]> {
    const rows = await t.db.rows<{ started_at: Date }>(
      'SELECT started_at FROM executions WHERE workflow_id = $1 ORDER BY started_at',
      [id],
    );
    return rows.map((r) => r.started_at.getTime());
  }

  it('holds `concurrency: 2` across three workers with four slots each, and runs every queued run', async () => {
    const id = await workflow('capped', 'concurrency: 2\n');
    await queue(id, 8);
    const workers = await Promise.all([1, 2, 3].map(() => worker({ concurrency: 4 })));
    const sampler = sampleRunning(id);
    const started = Date.now();
    await Promise.all(workers.map((w) => w.start()));
    try {
      await untilAllDone([id], 8, 30_000);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const elapsed = Date.now() - started;
    const maxRunning = await sampler.stop();
    assert.ok(maxRunning <= 2, `at most 2 running at once (saw ${maxRunning})`);
    assert.ok(maxInFlight <= 2, `at most 2 slow requests at once (saw ${maxInFlight})`);
    assert.equal(maxInFlight, 2, 'the cap is used: 2 run at once');
    assert.ok(elapsed >= 4 * DELAY_MS, `8 runs, 2 at a time, take at least ${4 * DELAY_MS} ms (${elapsed})`);
    await assertAllSucceeded(id, 8);
  });

  /** Queues 10 slow runs of A, then 2 of B, and runs them all on one worker; the runs' start times. */
  async function burst(
    names: [string, string],
    fairShare: number,
  ): Promise<{ startsA: number[]; startsB: number[] }> {
    const a = await workflow(names[0]);
    const b = await workflow(names[1]);
    await queue(a, 10);
    await queue(b, 2);
    const w = await worker({ concurrency: 4, fairShare });
    await w.start();
    try {
      await untilAllDone([a, b], 12, 30_000);
    } finally {
      await w.stop();
    }
    await assertAllSucceeded(a, 10);
    await assertAllSucceeded(b, 2);
    return { startsA: await startedAt(a), startsB: await startedAt(b) };
  }
  const iso = (ms: number): string => new Date(ms).toISOString();

  it('does not starve another workflow behind a burst of one (fair share 0.5)', async () => {
    const { startsA, startsB } = await burst(['burst', 'other'], 0.5);
    // Oldest first alone starts A1–4, then A5–8, then A9–10 with B (see the next test). With a share
    // of 2 of the 4 slots, B gets slots long before A's 7th start (a whole wave, ~500 ms, earlier).
    assert.ok(
      startsB[0]! < startsA[6]!,
      `B's first run started (${iso(startsB[0]!)}) before A's 7th (${iso(startsA[6]!)})`,
    );
    assert.ok(startsB[1]! < startsA[6]!, "B's second run too");
    const firstB = arrivals.findIndex((x) => x.tag.startsWith('/other/'));
    assert.ok(firstB <= 7, `B's first request came in the first two waves (arrival ${firstB})`);
  });

  it("holds a workflow to its fair share from the first claim: B starts in the first wave, before A's 3rd run", async () => {
    // fairShare 0.5 of 4 slots: while B waits, A may hold at most 2 slots. The four slots start
    // together, so the share must count claims in flight, not only runs already claimed.
    const { startsA, startsB } = await burst(['burst-first-wave', 'other-first-wave'], 0.5);
    const firstWave = arrivals.slice(0, 4).map((x) => x.tag.split('/')[1]);
    assert.ok(
      firstWave.filter((w) => w === 'burst-first-wave').length <= 2,
      `at most 2 of the first 4 slots went to A while B was queued: ${firstWave.join(', ')}`,
    );
    assert.ok(
      startsB[0]! < startsA[2]!,
      `B's first run started (${iso(startsB[0]!)}) before A's 3rd (${iso(startsA[2]!)}); A: ${startsA
        .map((x) => x - startsA[0]!)
        .join(',')} B: ${startsB.map((x) => x - startsA[0]!).join(',')} (ms after A's first)`,
    );
  });

  it('without a fair share (1.0) the same burst runs oldest first, so the assertions above mean something', async () => {
    const { startsA, startsB } = await burst(['burst-fifo', 'other-fifo'], 1);
    assert.ok(startsB[0]! > startsA[7]!, 'B waits behind the first eight A runs');
  });

  it('is work-conserving: with only one workflow queued, a fair share of 0.25 still uses all 4 slots', async () => {
    const id = await workflow('alone');
    await queue(id, 12);
    const w = await worker({ concurrency: 4, fairShare: 0.25 });
    const sampler = sampleRunning(id);
    const started = Date.now();
    await w.start();
    try {
      await untilAllDone([id], 12, 30_000);
    } finally {
      await w.stop();
    }
    const elapsed = Date.now() - started;
    const maxRunning = await sampler.stop();
    assert.equal(maxRunning, 4, 'four running at once');
    assert.equal(maxInFlight, 4);
    // Not only the first wave: runs claimed after slots free up (the share is exceeded) run 4 at once too.
    const later = arrivals.slice(4).map((x) => x.inFlight);
    assert.equal(Math.max(...later), 4, `later waves also run 4 at once: ${later.join(',')}`);
    assert.ok(elapsed < 12 * DELAY_MS, `12 runs took ${elapsed} ms, far less than one at a time`);
    await assertAllSucceeded(id, 12);
  });
});

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

const ITEMS = 120;
const RUNS = 6;

/** Many checkpoints per run, so a worker killed at any moment is killed mid-execution. */
const LONG = `name: Long run
trigger: { type: on_demand }
steps:
  - id: each
    kind: loop
    over: "{{ [1..${ITEMS}] }}"
    collect: "{{ $.double }}"
    steps:
      - { id: double, kind: transform, value: "{{ $item * 2 }}" }
      - { id: note, kind: transform, value: "item {{ $item }}" }
  - id: done
    kind: exit
    output: { total: "{{ $sum($.each) }}", run: "{{ $.event.run }}" }
`;

describe('worker processes: SIGKILL mid-execution', () => {
  let t: TestApp;
  const children: ChildProcess[] = [];
  before(async () => {
    t = await startTestApp();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await t.close();
  });

  function worker(): ChildProcess {
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: t.database.url,
      OSPREY_MASTER_KEY: t.masterKey.toString('base64'),
      OSPREY_WORKER_LEASE_MS: '1500',
      OSPREY_WORKER_CONCURRENCY: '3',
      OSPREY_LOG_LEVEL: 'warn',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'worker'], {
      env,
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('finishes every execution exactly once, and no completed step runs twice', async () => {
    const created = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml: LONG } });
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
    for (let run = 0; run < RUNS; run++) {
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${id}/executions`,
        payload: { inputs: { run } },
      });
      assert.equal(res.statusCode, 201, res.body);
    }

    // Worker A runs alone until it is well into some runs; then it is killed without warning, and
    // only then does worker B start, so the runs A held can only finish by being resumed.
    const a = worker();
    await until(
      'progress',
      async () => Number((await t.db.one<{ n: string }>('SELECT count(*) AS n FROM step_runs'))!.n) > 200,
      60_000,
    );
    const heldByA = await t.db.rows<{ id: string }>(`SELECT id FROM executions WHERE status = 'running'`);
    a.kill('SIGKILL');
    const b = worker();
    await until(
      'all runs to end',
      async () => {
        const row = await t.db.one<{ n: string }>(
          `SELECT count(*) AS n FROM executions WHERE status IN ('succeeded', 'failed', 'cancelled')`,
        );
        return Number(row!.n) === RUNS;
      },
      90_000,
    );
    b.kill('SIGTERM');

    const runs = await t.db.rows<{ status: string; output: { total: number; run: number }; resumes: number }>(
      "SELECT status, output, resumes FROM executions ORDER BY (output->>'run')::int",
    );
    assert.deepEqual(
      runs.map((r) => r.status),
      Array(RUNS).fill('succeeded'),
    );
    const expectedTotal = ITEMS * (ITEMS + 1); // sum of 2·i for i = 1..ITEMS
    assert.deepEqual(
      runs.map((r) => r.output),
      [...Array(RUNS).keys()].map((run) => ({ total: expectedTotal, run })),
    );
    assert.ok(heldByA.length > 0, 'the worker was killed mid-execution');
    const resumed = await t.db.rows<{ resumes: number }>(
      'SELECT resumes FROM executions WHERE id = ANY($1::uuid[])',
      [heldByA.map((r) => r.id)],
    );
    assert.ok(
      resumed.some((r) => r.resumes > 0),
      "the killed worker's runs were resumed by the other",
    );
    const rewritten = await t.db.rows<{ key: string; writes: number }>(
      'SELECT key, writes FROM step_runs WHERE writes > 1',
    );
    assert.deepEqual(rewritten, [], 'no completed step was run (and recorded) twice');
    const steps = await t.db.one<{ n: string }>('SELECT count(*) AS n FROM step_runs');
    assert.equal(Number(steps!.n), RUNS * (ITEMS * 2 + 2), 'every step ran: 2 per item, the loop, the exit');
  });
});

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Execution {
  id: string;
  status: string;
  revision_id: string;
  output: unknown;
  trigger: Record<string, unknown>;
  error: { code: string; message: string; step_id?: string } | null;
  steps: { key: string; status: string; output: unknown }[];
}

describe('retries, large outputs, size cap, retention, loop concurrency', () => {
  let t: TestApp;
  let worker: Worker;
  let server: Server;
  let base: string;
  const hits = new Map<string, number>();
  let inFlight = 0;
  let maxInFlight = 0;
  let failGate = true;

  before(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? '';
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/gate') {
        return failGate
          ? res.writeHead(500, { 'content-type': 'application/json' }).end('{"down":true}')
          : res.writeHead(200, { 'content-type': 'application/json' }).end('{"up":true}');
      }
      if (path.startsWith('/slow/')) {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return setTimeout(() => {
          inFlight--;
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ n: path.slice(6) }));
        }, 200);
      }
      return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp({
      env: {
        OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8',
        OSPREY_STEP_OUTPUT_INLINE_BYTES: '2048',
        OSPREY_EXECUTION_MAX_BYTES: '200000',
      },
    });
    worker = new Worker({ db: t.db, executor: t.services.executor, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function create(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
    assert.equal(pub.statusCode, 200, pub.body);
    return id;
  }
  async function run(id: string, inputs: unknown = {}): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function get(id: string): Promise<Execution> {
    await worker.runUntilIdle();
    const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }

  const flow = (tag: string): string => `name: Retry ${tag}
trigger: { type: on_demand }
steps:
  - id: first
    kind: action
    action: http.request
    with: { url: "${base}/first-${tag}", method: GET }
  - id: gate
    kind: action
    action: http.request
    with: { url: "${base}/gate", method: GET }
  - id: done
    kind: exit
    output: { first: "{{ $.first.api_object.ok }}", gate: "{{ $.gate.api_object.up }}", tag: ${tag} }
`;

  it('retries from the failed step without running finished steps again, or from the start', async () => {
    failGate = true;
    const id = await create(flow('a'));
    const failed = await get(await run(id, { x: 1 }));
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error?.step_id, 'gate');
    assert.equal(hits.get('/first-a'), 1);

    failGate = false;
    const res = await t.request({
      method: 'POST',
      url: `/v1/executions/${failed.id}/retry`,
      payload: { from: 'failed_step' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const retried = await get((res.json() as { execution_id: string }).execution_id);
    assert.equal(retried.status, 'succeeded', JSON.stringify(retried.error));
    assert.deepEqual(retried.output, { first: true, gate: true, tag: 'a' });
    assert.equal(hits.get('/first-a'), 1, 'the finished step was not run again');
    assert.equal(retried.trigger.retry_of, failed.id);
    assert.equal(retried.revision_id, failed.revision_id);

    const again = await t.request({ method: 'POST', url: `/v1/executions/${failed.id}/retry`, payload: {} });
    assert.equal(again.statusCode, 201, again.body);
    const fromStart = await get((again.json() as { execution_id: string }).execution_id);
    assert.equal(fromStart.status, 'succeeded');
    assert.equal(hits.get('/first-a'), 2, 'a retry from the start runs every step');

    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=20' });
    const actions = (audit.json() as { audit_logs: { action: string }[] }).audit_logs.map((e) => e.action);
    assert.ok(actions.includes('Execution retried'), actions.join(', '));
  });

  it('retries on the current revision when asked, and refuses what cannot be retried', async () => {
    failGate = true;
    const id = await create(flow('b'));
    const failed = await get(await run(id));
    assert.equal(failed.status, 'failed');
    const edited = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${id}`,
      payload: { yaml: flow('c') },
    });
    assert.equal(edited.statusCode, 200, edited.body);
    const current = (edited.json() as { revision: { id: string } }).revision.id;
    failGate = false;
    const res = await t.request({
      method: 'POST',
      url: `/v1/executions/${failed.id}/retry`,
      payload: { from: 'failed_step', revision: 'current' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const retried = await get((res.json() as { execution_id: string }).execution_id);
    assert.equal(retried.revision_id, current);
    assert.deepEqual(retried.output, { first: true, gate: true, tag: 'c' });

    const fromSucceeded = await t.request({
      method: 'POST',
      url: `/v1/executions/${retried.id}/retry`,
      payload: { from: 'failed_step' },
    });
    assert.equal(fromSucceeded.statusCode, 400, fromSucceeded.body);
    assert.equal((fromSucceeded.json() as { details: { field: string }[] }).details[0]?.field, 'from');
    const bad = await t.request({
      method: 'POST',
      url: `/v1/executions/${retried.id}/retry`,
      payload: { from: 'middle' },
    });
    assert.equal(bad.statusCode, 400);
    const missing = await t.request({
      method: 'POST',
      url: `/v1/executions/00000000-0000-4000-8000-000000000000/retry`,
      payload: {},
    });
    assert.equal(missing.statusCode, 404);
  });

  it('stores large outputs out of line, serves them whole, and replays them', async () => {
    failGate = true;
    const id = await create(`name: Big
trigger: { type: on_demand }
steps:
  - id: big
    kind: transform
    value: "{{ $pad('', 5000, 'x') }}"
  - id: gate
    kind: action
    action: http.request
    with: { url: "${base}/gate", method: GET }
  - id: done
    kind: exit
    output: { length: "{{ $length($.big) }}" }
`);
    const failed = await get(await run(id));
    const big = failed.steps.find((s) => s.key === 'big')!;
    assert.equal(typeof (big.output as Record<string, unknown>)['$osprey_output_ref'], 'string');
    const whole = await t.request({ method: 'GET', url: `/v1/executions/${failed.id}/steps/big/output` });
    assert.equal(whole.statusCode, 200, whole.body);
    assert.equal((whole.json() as { output: string }).output.length, 5000);
    const missing = await t.request({ method: 'GET', url: `/v1/executions/${failed.id}/steps/nope/output` });
    assert.equal(missing.statusCode, 404);

    failGate = false;
    const res = await t.request({
      method: 'POST',
      url: `/v1/executions/${failed.id}/retry`,
      payload: { from: 'failed_step' },
    });
    const retried = await get((res.json() as { execution_id: string }).execution_id);
    assert.equal(retried.status, 'succeeded', JSON.stringify(retried.error));
    assert.deepEqual(retried.output, { length: 5000 }, 'the copied out-of-line output was read back');
  });

  it('fails an execution that records more than the size cap, with a clear error', async () => {
    const id = await create(`name: Huge
trigger: { type: on_demand }
steps:
  - id: a
    kind: transform
    value: "{{ $pad('', 90000, 'x') }}"
  - id: b
    kind: transform
    value: "{{ $pad('', 90000, 'y') }}"
  - id: c
    kind: transform
    value: "{{ $pad('', 90000, 'z') }}"
`);
    const e = await get(await run(id));
    assert.equal(e.status, 'failed');
    assert.equal(e.error?.code, 'EXECUTION_TOO_LARGE');
    assert.equal(e.error?.step_id, 'c');
    assert.match(e.error?.message ?? '', /200000 bytes/);
  });

  it('runs loop iterations with the given concurrency and keeps results in order', async () => {
    maxInFlight = 0;
    const id = await create(`name: Fan out
trigger: { type: on_demand }
steps:
  - id: each
    kind: loop
    over: "{{ $.event.items }}"
    concurrency: 3
    collect: "{{ $.fetch.api_object.n }}"
    steps:
      - id: fetch
        kind: action
        action: http.request
        with: { url: "${base}/slow/{{ $item }}", method: GET }
  - id: done
    kind: exit
    output: "{{ $.each }}"
`);
    const started = Date.now();
    const e = await get(await run(id, { items: ['1', '2', '3', '4', '5', '6'] }));
    const took = Date.now() - started;
    assert.equal(e.status, 'succeeded', JSON.stringify(e.error));
    assert.deepEqual(e.output, ['1', '2', '3', '4', '5', '6']);
    assert.equal(maxInFlight, 3, 'three iterations ran at once, never more');
    assert.ok(took < 1200, `six 200 ms calls three at a time took ${took} ms`);
  });

  it('filters executions by time and audits cancels', async () => {
    const id = await create(`name: Slow wait
trigger: { type: on_demand }
steps:
  - id: pause
    kind: wait
    duration: 1h
`);
    const before = new Date(Date.now() - 1000).toISOString();
    const execId = await run(id);
    await worker.runUntilIdle();
    const listed = await t.request({
      method: 'GET',
      url: `/v1/executions?workflow_id=${id}&start_time=${encodeURIComponent(before)}`,
    });
    assert.equal(listed.statusCode, 200, listed.body);
    assert.deepEqual(
      (listed.json() as { executions: { id: string }[] }).executions.map((x) => x.id),
      [execId],
    );
    const none = await t.request({
      method: 'GET',
      url: `/v1/executions?workflow_id=${id}&end_time=${encodeURIComponent(before)}`,
    });
    assert.equal((none.json() as { executions: unknown[] }).executions.length, 0);
    const badTime = await t.request({ method: 'GET', url: `/v1/executions?start_time=yesterday` });
    assert.equal(badTime.statusCode, 400);
    assert.equal((badTime.json() as { details: { field: string }[] }).details[0]?.field, 'start_time');

    const cancelled = await t.request({ method: 'POST', url: `/v1/executions/${execId}/cancel` });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=5' });
    const entries = (audit.json() as { audit_logs: { action: string; resource_id: string }[] }).audit_logs;
    assert.ok(entries.some((x) => x.action === 'Execution cancelled' && x.resource_id === execId));
  });

  it('prunes finished executions past their workflow retention, and keeps the rest', async () => {
    const short = await create(`name: Short retention
retention_days: 1
trigger: { type: on_demand }
steps:
  - id: done
    kind: exit
`);
    const long = await create(`name: Default retention
trigger: { type: on_demand }
steps:
  - id: done
    kind: exit
`);
    const a = await run(short);
    const b = await run(long);
    await worker.runUntilIdle();
    await t.db.exec(
      `UPDATE executions SET finished_at = now() - interval '2 days' WHERE id = ANY($1::uuid[])`,
      [[a, b]],
    );
    const pruned = await t.services.executions.prune();
    assert.ok(pruned >= 1);
    const left = await t.db.rows<{ id: string }>('SELECT id FROM executions WHERE id = ANY($1::uuid[])', [
      [a, b],
    ]);
    assert.deepEqual(
      left.map((r) => r.id),
      [b],
    );
    const gone = await t.request({ method: 'GET', url: `/v1/executions/${a}` });
    assert.equal(gone.statusCode, 404);
    const steps = await t.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM step_runs WHERE execution_id = $1',
      [a],
    );
    assert.equal(steps?.n, 0);
  });
});

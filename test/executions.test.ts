import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: {
    key: string;
    step_id: string;
    kind: string;
    status: string;
    input: unknown;
    output: unknown;
    error: unknown;
    duration_ms: number | null;
  }[];
}

const CLASSIFY = `name: Classify
trigger:
  type: on_demand
  inputs: { type: object, required: [ip], properties: { ip: { type: string }, score: { type: number } } }
steps:
  - id: facts
    kind: transform
    value: { ip: "{{ $.event.ip }}", score: "{{ $.event.score }}", label: "ip {{ $.event.ip }}" }
  - id: risky
    kind: if
    condition: "{{ $.facts.score > 50 }}"
    then:
      - id: block
        kind: exit
        output: { verdict: block, ip: "{{ $.facts.ip }}", label: "{{ $.facts.label }}" }
  - id: allow
    kind: exit
    output: { verdict: allow, score: "{{ $.facts.score }}" }
`;

describe('executions: running workflows durably', () => {
  let t: TestApp;
  let worker: Worker;
  const logger = pino({ level: 'silent' });

  before(async () => {
    t = await startTestApp();
    worker = new Worker({ db: t.db, executor: t.services.executor, logger, leaseMs: 2000, pollMs: 50 });
  });
  after(() => t.close());

  async function workflow(yaml: string, publish = true): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    if (publish)
      assert.equal((await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` })).statusCode, 200);
    return id;
  }
  async function run(id: string, inputs: unknown): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function get(id: string): Promise<Execution> {
    const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }

  it('runs transform, if and exit, keeping JSON types and recording every step', async () => {
    const id = await workflow(CLASSIFY);
    const high = await run(id, { ip: '203.0.113.9', score: 90 });
    const low = await run(id, { ip: '198.51.100.1', score: 10 });
    assert.equal(await worker.runUntilIdle(), 2);
    const a = await get(high);
    assert.equal(a.status, 'succeeded');
    assert.deepEqual(a.output, { verdict: 'block', ip: '203.0.113.9', label: 'ip 203.0.113.9' });
    assert.deepEqual(
      a.steps.map((s) => [s.key, s.status]),
      [
        ['facts', 'succeeded'],
        ['block', 'succeeded'],
      ],
    );
    assert.deepEqual(
      a.steps[0]!.output,
      { ip: '203.0.113.9', score: 90, label: 'ip 203.0.113.9' },
      'a whole-value expression keeps its number type',
    );
    const b = await get(low);
    assert.deepEqual(b.output, { verdict: 'allow', score: 10 });
    assert.deepEqual(
      b.steps.map((s) => s.key),
      ['facts', 'risky', 'allow'],
    );
    const torq = await t.request({ method: 'GET', url: `/public/v1alpha/executions/${high}` });
    assert.equal((torq.json() as { status: string }).status, 'SUCCESS');
  });

  it('checks inputs against the trigger schema and names the field', async () => {
    const id = await workflow(CLASSIFY);
    for (const [inputs, field] of [
      [{}, 'inputs.ip'],
      [{ ip: 42 }, 'inputs.ip'],
      [{ ip: 'x', score: 'high' }, 'inputs.score'],
    ] as const) {
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${id}/executions`,
        payload: { inputs },
      });
      assert.equal(res.statusCode, 400, res.body);
      const body = res.json() as { code: string; details: { field: string }[] };
      assert.equal(body.code, 'INPUTS_INVALID');
      assert.ok(
        body.details.some((d) => d.field === field),
        res.body,
      );
    }
    const draft = await workflow(CLASSIFY, false);
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${draft}/executions`,
      payload: { inputs: { ip: 'x' }, revision: 'published' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal((res.json() as { details: { field: string }[] }).details[0]?.field, 'revision');
    const viewer = await t.keyWithRole('viewer');
    assert.equal(
      (
        await t.request({
          method: 'POST',
          url: `/v1/workflows/${id}/executions`,
          payload: { inputs: { ip: 'x' } },
          as: viewer,
        })
      ).statusCode,
      403,
    );
  });

  it('loops with collect and break, switches, and joins parallel branches', async () => {
    const id = await workflow(`name: Control flow
trigger: { type: on_demand }
steps:
  - id: each
    kind: loop
    over: "{{ $.event.items }}"
    as: it
    collect: "{{ $it * 10 }}"
    steps:
      - id: stop
        kind: break
        when: "{{ $it = 3 }}"
  - id: pick
    kind: switch
    cases:
      - { name: many, when: "{{ $count($.each) > 2 }}", steps: [{ id: many_note, kind: transform, value: many }] }
    default: [{ id: few_note, kind: transform, value: few }]
  - id: both
    kind: parallel
    branches:
      - { name: left, steps: [{ id: l, kind: transform, value: "{{ $.each[0] }}" }] }
      - { name: right, steps: [{ id: r, kind: transform, value: "{{ $.pick.case }}" }] }
  - id: out
    kind: exit
    output: { collected: "{{ $.each }}", left: "{{ $.l }}", right: "{{ $.r }}", note: "{{ $.many_note }}" }
`);
    const e = await run(id, { items: [1, 2, 3, 4, 5] });
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { collected: [10, 20, 30], left: 10, right: 'many', note: 'many' });
    assert.ok(x.steps.some((s) => s.key === 'each[2].stop' && (s.output as { broke: boolean }).broke));
    assert.ok(!x.steps.some((s) => s.key.startsWith('each[3]')), 'nothing ran after break');
  });

  it('parks a wait without holding a worker and resumes it when due', async () => {
    const id = await workflow(`name: Wait
trigger: { type: on_demand }
steps:
  - { id: before, kind: transform, value: 1 }
  - { id: pause, kind: wait, duration: 1s }
  - { id: done, kind: exit, output: "{{ $.before + 1 }}" }
`);
    const e = await run(id, {});
    assert.equal(await worker.runUntilIdle(), 1);
    const parked = await get(e);
    assert.equal(parked.status, 'waiting');
    assert.equal(await worker.runUntilIdle(), 0, 'nothing to claim before the wait is due');
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await worker.runUntilIdle(), 1);
    const done = await get(e);
    assert.equal(done.status, 'succeeded');
    assert.equal(done.output, 2);
    assert.equal(done.steps.filter((s) => s.key === 'before').length, 1);
  });

  it('resumes a run whose worker died from its last checkpoint, never re-running a completed step', async () => {
    const id = await workflow(`name: Resume
trigger: { type: on_demand }
steps:
  - { id: first, kind: transform, value: "{{ $.event.n }}" }
  - { id: second, kind: exit, output: { first: "{{ $.first }}" } }
`);
    const e = await run(id, { n: 1 });
    // A worker claims it with a short lease, records "first" with a marker output, then dies.
    await t.db.exec(
      `UPDATE executions SET status = 'running', lease_owner = 'dead-worker', lease_expires_at = now() - interval '1 second', started_at = now() WHERE id = $1`,
      [e],
    );
    await t.db.exec(
      `INSERT INTO step_runs (execution_id, key, step_id, kind, status, output, finished_at) VALUES ($1, 'first', 'first', 'transform', 'succeeded', '"from the dead worker"', now())`,
      [e],
    );
    assert.equal(await worker.runUntilIdle(), 1);
    const x = await get(e);
    assert.equal(x.status, 'succeeded');
    assert.deepEqual(
      x.output,
      { first: 'from the dead worker' },
      'the recorded output was reused, the step did not run again',
    );
    const row = await t.db.one<{ resumes: number }>('SELECT resumes FROM executions WHERE id = $1', [e]);
    assert.equal(row?.resumes, 1);
  });

  it('gives up on a run resumed too many times, and never touches a cancelled run', async () => {
    const id = await workflow(`name: Poison
trigger: { type: on_demand }
steps: [{ id: only, kind: exit }]
`);
    const poison = await run(id, {});
    await t.db.exec(
      `UPDATE executions SET status = 'running', resumes = 5, lease_owner = 'dead', lease_expires_at = now() - interval '1 second' WHERE id = $1`,
      [poison],
    );
    await worker.runUntilIdle();
    const p = await get(poison);
    assert.equal(p.status, 'failed');
    assert.equal(p.error?.code, 'TOO_MANY_RESUMES');

    const cancelled = await run(id, {});
    const res = await t.request({ method: 'POST', url: `/v1/executions/${cancelled}/cancel` });
    assert.equal((res.json() as { execution: Execution }).execution.status, 'cancelled');
    assert.equal(await worker.runUntilIdle(), 0);
    assert.equal(
      (await t.request({ method: 'POST', url: `/v1/executions/${cancelled}/cancel` })).statusCode,
      409,
    );
  });

  it('fails clearly on a failing step, or continues with the error recorded; exits with failure', async () => {
    const id = await workflow(`name: Errors
trigger: { type: on_demand }
steps:
  - { id: bad_wait, kind: wait, until: "{{ 'not a time' }}", on_error: continue }
  - { id: after, kind: transform, value: "{{ $.bad_wait.error.code }}" }
  - { id: quit, kind: exit, status: failure, output: { seen: "{{ $.after }}" } }
`);
    const e = await run(id, {});
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'failed');
    assert.deepEqual(x.output, { seen: 'INVALID_WAIT' });
    assert.equal(x.error?.code, 'EXIT_FAILURE');
    const failed = x.steps.find((s) => s.key === 'bad_wait');
    assert.equal(failed?.status, 'failed');

    const strict = await workflow(`name: Strict
trigger: { type: on_demand }
steps:
  - { id: bad_wait, kind: wait, until: "{{ 'not a time' }}" }
  - { id: never, kind: transform, value: 1 }
`);
    const s = await run(strict, {});
    await worker.runUntilIdle();
    const y = await get(s);
    assert.equal(y.status, 'failed');
    assert.equal(y.error?.code, 'INVALID_WAIT');
    assert.equal(y.error?.step_id, 'bad_wait');
    assert.ok(!y.steps.some((st) => st.key === 'never'));
  });

  it('masks secret values in recorded steps and in the output', async () => {
    await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'api_token', value: 'tok-7f3a9c1e' },
    });
    const id = await workflow(`name: Secret use
trigger: { type: on_demand }
steps:
  - { id: header, kind: transform, value: "Bearer {{ $secrets.api_token }}" }
  - { id: done, kind: exit, output: { header: "{{ $.header }}", length: "{{ $length($.header) }}" } }
`);
    const e = await run(id, {});
    await worker.runUntilIdle();
    const res = await t.request({ method: 'GET', url: `/v1/executions/${e}` });
    assert.doesNotMatch(res.body, /tok-7f3a9c1e/);
    const x = (res.json() as { execution: Execution }).execution;
    assert.deepEqual(x.output, { header: 'Bearer [secret]', length: 19 }, 'the step saw the real value');
  });

  it('answers ?wait=true with the exit output once a running worker finishes', async () => {
    const id = await workflow(CLASSIFY);
    await worker.start();
    try {
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${id}/executions?wait=true`,
        payload: { inputs: { ip: '192.0.2.1', score: 99 } },
      });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json() as { status: string; output: { verdict: string } };
      assert.equal(body.status, 'succeeded');
      assert.equal(body.output.verdict, 'block');
    } finally {
      await worker.stop();
    }
    const list = await t.request({ method: 'GET', url: `/v1/executions?workflowId=${id}` });
    assert.equal((list.json() as { executions: unknown[] }).executions.length, 1);
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../../test/helpers/app.js';
import type { Database } from './database.js';
import { StepRunBatcher } from './step-run-batcher.js';

describe('StepRunBatcher: group commit of checkpoints', () => {
  let t: TestApp;
  let executionIds: string[];

  before(async () => {
    t = await startTestApp();
    const created = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: { yaml: 'name: Holder\ntrigger: { type: on_demand }\nsteps:\n  - id: done\n    kind: exit\n' },
    });
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    executionIds = [];
    for (let i = 0; i < 20; i++) {
      const run = await t.request({
        method: 'POST',
        url: `/v1/workflows/${id}/executions`,
        payload: { revision: 'current' },
      });
      executionIds.push((run.json() as { execution_id: string }).execution_id);
    }
  });
  after(() => t.close());

  const row = (executionId: string, key: string, status: 'succeeded' | 'waiting', output: unknown) => ({
    execution_id: executionId,
    key,
    step_id: key,
    kind: 'transform',
    status,
    attempt: 1,
    input_json: JSON.stringify({ from: key }),
    output_json: JSON.stringify(output),
    error: null,
    resume_at: status === 'waiting' ? new Date('2030-01-01T00:00:00Z') : null,
  });

  it('commits concurrent saves in fewer statements, each caller resuming once its row is stored', async () => {
    let statements = 0;
    const counting = {
      exec: (text: string, params?: readonly unknown[]) => {
        statements++;
        return t.db.exec(text, params);
      },
    } as unknown as Database;
    const batcher = new StepRunBatcher(counting);
    await Promise.all(
      executionIds.flatMap((e) => [
        batcher.save(row(e, 'a', 'succeeded', { n: 1, text: 'quote " and \\\\ backslash' })),
        batcher.save(row(e, 'b', 'waiting', null)),
      ]),
    );
    const stored = await t.db.rows<{ execution_id: string; key: string; status: string; output: unknown }>(
      `SELECT execution_id, key, status, output FROM step_runs WHERE execution_id = ANY($1::uuid[]) ORDER BY key`,
      [executionIds],
    );
    assert.equal(stored.length, 40);
    assert.deepEqual(stored.find((s) => s.key === 'a')?.output, { n: 1, text: 'quote " and \\\\ backslash' });
    assert.ok(stored.filter((s) => s.key === 'b').every((s) => s.status === 'waiting'));
    assert.ok(statements <= 3, `40 saves took ${statements} statements`);
  });

  it('keeps the last state of a key saved twice in one batch, and updates existing rows', async () => {
    const batcher = new StepRunBatcher(t.db);
    const e = executionIds[0]!;
    await Promise.all([
      batcher.save(row(e, 'c', 'waiting', null)),
      batcher.save(row(e, 'x', 'succeeded', 1)),
      batcher.save(row(e, 'c', 'succeeded', { done: true })),
      batcher.save(row(e, 'a', 'succeeded', { n: 2 })),
    ]);
    const c = await t.db.one<{ status: string; output: unknown }>(
      `SELECT status, output FROM step_runs WHERE execution_id = $1 AND key = 'c'`,
      [e],
    );
    assert.deepEqual(c, { status: 'succeeded', output: { done: true } });
    const a = await t.db.one<{ output: unknown; writes: number }>(
      `SELECT output, writes FROM step_runs WHERE execution_id = $1 AND key = 'a'`,
      [e],
    );
    assert.deepEqual(a?.output, { n: 2 });
    assert.equal(a?.writes, 2);
  });

  it('fails only the row that cannot be stored when a batch fails', async () => {
    const batcher = new StepRunBatcher(t.db);
    const good = executionIds[1]!;
    const missing = '00000000-0000-4000-8000-000000000000';
    const results = await Promise.allSettled([
      batcher.save(row(good, 'first', 'succeeded', 1)),
      batcher.save(row(good, 'g1', 'succeeded', 1)),
      batcher.save(row(missing, 'g2', 'succeeded', 2)),
      batcher.save(row(good, 'g3', 'succeeded', 3)),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const keys = await t.db.rows<{ key: string }>(
      `SELECT key FROM step_runs WHERE execution_id = $1 AND key LIKE 'g%' ORDER BY key`,
      [good],
    );
    assert.deepEqual(
      keys.map((k) => k.key),
      ['g1', 'g3'],
    );
  });
});

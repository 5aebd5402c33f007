import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Clock } from '../src/domain/clock.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { Worker } from '../src/engine/worker.js';
import { Database } from '../src/store/database.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function scheduleYaml(name: string, cron: string, timezone?: string, output = '"{{ $.event }}"'): string {
  return `name: ${name}
trigger: { type: schedule, cron: "${cron}"${timezone ? `, timezone: ${timezone}` : ''} }
steps:
  - { id: done, kind: exit, output: { event: ${output} } }
`;
}

interface Run {
  id: string;
  revision_id: string;
  trigger: { type: string; scheduled_at: string; revision?: string };
  input: { scheduled_at: string; cron: string; timezone: string };
}

describe('scheduler: schedule triggers', () => {
  let t: TestApp;
  let scheduler: Scheduler;

  before(async () => {
    t = await startTestApp();
    scheduler = new Scheduler({
      db: t.db,
      queue: t.services.queue,
      clock: { now: () => Date.now() },
      logger,
    });
  });
  // Every scheduler fires every schedule in the database: each test starts from none.
  afterEach(async () => {
    await t.db.exec('DELETE FROM workflows');
  });
  after(() => t.close());

  async function workflow(yaml: string, publish = true): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    if (publish) await post(`/v1/workflows/${id}/publish`);
    return id;
  }
  async function post(url: string): Promise<void> {
    const res = await t.request({ method: 'POST', url });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  }
  async function runs(workflowId: string): Promise<Run[]> {
    return t.db.rows<Run>(
      `SELECT id, revision_id, trigger, input FROM executions WHERE workflow_id = $1
        ORDER BY trigger->>'scheduled_at'`,
      [workflowId],
    );
  }
  async function nextAt(workflowId: string): Promise<Date | null> {
    const row = await t.db.one<{ schedule_next_at: Date | null }>(
      'SELECT schedule_next_at FROM workflows WHERE id = $1',
      [workflowId],
    );
    return row!.schedule_next_at;
  }
  async function setNextAt(workflowId: string, sqlExpr: string): Promise<void> {
    await t.db.exec(`UPDATE workflows SET schedule_next_at = ${sqlExpr} WHERE id = $1`, [workflowId]);
  }

  it('fires each tick exactly once with five schedulers ticking at once (no duplicates, no gaps)', async () => {
    const id = await workflow(scheduleYaml('Every second', '*/1 * * * * *'));
    // Five schedulers, each with its own pool, as five processes would have.
    const pools = Array.from({ length: 5 }, () => new Database({ connectionString: t.database.url, max: 2 }));
    try {
      // Their clocks disagree a little, as different machines' do.
      const skews = [0, 250, -250, 100, -100];
      const schedulers = pools.map(
        (db, i) =>
          new Scheduler({
            db,
            queue: t.services.queue,
            clock: { now: () => Date.now() + skews[i]! },
            logger,
          }),
      );
      const deadline = Date.now() + 3500;
      const fired = await Promise.all(
        schedulers.map(async (s) => {
          let n = 0;
          while (Date.now() < deadline) {
            n += await s.tick();
            await sleep(Math.random() * 15);
          }
          return n;
        }),
      );
      const all = await runs(id);
      const ticks = all.map((r) => r.trigger.scheduled_at);
      assert.equal(
        fired.reduce((a, b) => a + b, 0),
        all.length,
        'the ticks reported firing as many runs as were queued',
      );
      assert.ok(
        all.length >= 3,
        `about one run per second over 3.5 s, got ${all.length}: ${ticks.join(', ')}`,
      );
      assert.equal(new Set(ticks).size, ticks.length, `no tick fired twice: ${ticks.join(', ')}`);
      const times = ticks.map((s) => Date.parse(s));
      for (let i = 1; i < times.length; i++)
        assert.equal(
          times[i]! - times[i - 1]!,
          1000,
          `no tick missing between first and last: ${ticks.join(', ')}`,
        );
      for (const r of all) {
        assert.equal(r.trigger.type, 'schedule');
        assert.equal(new Date(r.trigger.scheduled_at).getUTCMilliseconds(), 0, 'a tick is on a whole second');
        assert.deepEqual(r.input, {
          scheduled_at: r.trigger.scheduled_at,
          cron: '*/1 * * * * *',
          timezone: 'UTC',
        });
      }
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  it('fires ticks missed while no scheduler ran once, not once per missed tick', async () => {
    const id = await workflow(scheduleYaml('Every minute', '* * * * *', 'UTC'));
    assert.equal(await scheduler.tick(), 0, 'the first tick after publishing only computes the next tick');
    assert.deepEqual(await runs(id), []);
    const computed = await nextAt(id);
    assert.ok(computed, 'schedule_next_at was computed');
    assert.ok(
      computed.getTime() > Date.now() && computed.getTime() <= Date.now() + 60_000,
      computed.toISOString(),
    );

    // An hour (60 ticks) passed with no scheduler running.
    await setNextAt(id, `now() - interval '1 hour'`);
    const missed = (await nextAt(id))!;
    const fired = await scheduler.tick();
    assert.equal(fired, 1, 'one run for an hour of missed ticks');
    const all = await runs(id);
    assert.equal(all.length, 1);
    assert.equal(all[0]!.trigger.type, 'schedule');
    assert.equal(all[0]!.trigger.scheduled_at, missed.toISOString(), 'the run is for the first missed tick');
    const moved = (await nextAt(id))!;
    assert.ok(
      moved.getTime() > Date.now() - 1000 && moved.getTime() <= Date.now() + 60_000,
      `the next tick is the first one after now: ${moved.toISOString()}`,
    );
    assert.equal(await scheduler.tick(), 0, 'nothing else is due');
    assert.equal((await runs(id)).length, 1);

    // $.event is {scheduled_at, cron, timezone}.
    const worker = new Worker({ db: t.db, executor: t.services.executor, logger, pollMs: 50 });
    assert.equal(await worker.runUntilIdle(), 1);
    const done = await t.db.one<{ status: string; output: unknown }>(
      'SELECT status, output FROM executions WHERE id = $1',
      [all[0]!.id],
    );
    assert.equal(done!.status, 'succeeded');
    assert.deepEqual(done!.output, {
      event: { scheduled_at: missed.toISOString(), cron: '* * * * *', timezone: 'UTC' },
    });
  });

  it('fires missed ticks once when the clock jumps ahead (a scheduler that was down for an hour)', async () => {
    let now = Date.now();
    const clock: Clock = { now: () => now };
    const s = new Scheduler({ db: t.db, queue: t.services.queue, clock, logger });
    const id = await workflow(scheduleYaml('Every minute, fake clock', '* * * * *'));
    assert.equal(await s.tick(), 0);
    const first = (await nextAt(id))!;
    now += 3600_000;
    assert.equal(await s.tick(), 1, 'one run for the hour of missed ticks');
    assert.equal(await s.tick(), 0, 'and no more at the same time');
    const all = await runs(id);
    assert.deepEqual(
      all.map((r) => r.trigger.scheduled_at),
      [first.toISOString()],
    );
    const next = (await nextAt(id))!;
    assert.ok(next.getTime() > now && next.getTime() <= now + 60_000, next.toISOString());
  });

  it('fires nothing for disabled or unpublished workflows, and re-enabling or re-publishing starts from the next tick', async () => {
    const disabled = await workflow(scheduleYaml('Disabled', '*/1 * * * * *'));
    const draft = await workflow(scheduleYaml('Never published', '*/1 * * * * *'), false);
    const unpublished = await workflow(scheduleYaml('Unpublished', '*/1 * * * * *'));
    assert.equal(await scheduler.tick(), 0);
    await sleep(1100);
    assert.equal(await scheduler.tick(), 2, 'both published schedules fire while enabled');
    await post(`/v1/workflows/${disabled}/disable`);
    await post(`/v1/workflows/${unpublished}/unpublish`);
    const baseline = {
      disabled: (await runs(disabled)).length,
      unpublished: (await runs(unpublished)).length,
    };
    const deadline = Date.now() + 2200;
    while (Date.now() < deadline) {
      assert.equal(await scheduler.tick(), 0, 'nothing fires');
      await sleep(100);
    }
    assert.equal((await runs(disabled)).length, baseline.disabled);
    assert.equal((await runs(unpublished)).length, baseline.unpublished);
    assert.deepEqual(await runs(draft), []);

    // Old ticks are long due: re-enabling and re-publishing must not fire them.
    await setNextAt(disabled, `now() - interval '1 hour'`);
    await setNextAt(unpublished, `now() - interval '1 hour'`);
    const resumedAt = Date.now();
    await post(`/v1/workflows/${disabled}/enable`);
    await post(`/v1/workflows/${unpublished}/publish`);
    assert.equal(await scheduler.tick(), 0, 'the first tick after enable/publish fires nothing');
    assert.equal((await runs(disabled)).length, baseline.disabled, 'no burst after re-enabling');
    assert.equal((await runs(unpublished)).length, baseline.unpublished, 'no burst after re-publishing');
    for (const id of [disabled, unpublished]) {
      const next = (await nextAt(id))!;
      assert.ok(next.getTime() > resumedAt, `the next tick is after the re-enable: ${next.toISOString()}`);
    }
    await sleep(1100);
    assert.equal(await scheduler.tick(), 2, 'then each fires its next tick once');
    for (const [id, before] of [
      [disabled, baseline.disabled],
      [unpublished, baseline.unpublished],
    ] as const) {
      const all = await runs(id);
      assert.equal(all.length, before + 1);
      assert.ok(Date.parse(all.at(-1)!.trigger.scheduled_at) > resumedAt);
    }
    assert.deepEqual(await runs(draft), [], 'the never-published schedule still fired nothing');
  });

  it('computes the next tick in the schedule time zone (09:00 New York is 13:00 or 14:00 UTC)', async () => {
    const id = await workflow(scheduleYaml('Morning in New York', '0 9 * * *', 'America/New_York'));
    assert.equal(await scheduler.tick(), 0);
    const next = (await nextAt(id))!;
    assert.ok([13, 14].includes(next.getUTCHours()), `UTC hour 13 (EDT) or 14 (EST): ${next.toISOString()}`);
    assert.equal(next.getUTCMinutes(), 0);
    assert.equal(next.getUTCSeconds(), 0);
    const local = new Intl.DateTimeFormat('en-US', {
      timeZone: 'America/New_York',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    }).format(next);
    assert.equal(local, '09:00');
    assert.ok(
      next.getTime() > Date.now() && next.getTime() <= Date.now() + 25 * 3600_000,
      next.toISOString(),
    );

    // Deterministic: winter (EST), summer (EDT), and the day the clocks go forward.
    for (const [at, expected] of [
      ['2025-01-15T12:00:00Z', '2025-01-15T14:00:00.000Z'],
      ['2025-07-15T12:00:00Z', '2025-07-15T13:00:00.000Z'],
      ['2025-07-15T14:00:00Z', '2025-07-16T13:00:00.000Z'],
      ['2025-03-09T05:00:00Z', '2025-03-09T13:00:00.000Z'],
      ['2025-11-02T05:00:00Z', '2025-11-02T14:00:00.000Z'],
    ] as const) {
      await setNextAt(id, 'NULL');
      const s = new Scheduler({
        db: t.db,
        queue: t.services.queue,
        clock: { now: () => Date.parse(at) },
        logger,
      });
      assert.equal(await s.tick(), 0);
      assert.equal((await nextAt(id))!.toISOString(), expected, `next 09:00 New York after ${at}`);
    }
  });

  it('fires the published revision of a schedule whose current draft is not a schedule', async () => {
    const id = await workflow(scheduleYaml('Published schedule', '*/1 * * * * *', 'UTC', 'published'));
    const published = (await t.db.one<{ published_revision_id: string }>(
      'SELECT published_revision_id FROM workflows WHERE id = $1',
      [id],
    ))!.published_revision_id;
    const edit = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${id}`,
      payload: {
        yaml: `name: Published schedule
trigger: { type: on_demand }
steps:
  - { id: done, kind: exit, output: { event: draft } }
`,
      },
    });
    assert.equal(edit.statusCode, 200, edit.body);
    const view = (await t.request({ method: 'GET', url: `/v1/workflows/${id}` })).json() as {
      workflow: { trigger_type: string; has_unpublished_changes: boolean };
    };
    assert.equal(view.workflow.trigger_type, 'on_demand', 'the draft is on demand');
    assert.equal(view.workflow.has_unpublished_changes, true);

    assert.equal(await scheduler.tick(), 0);
    assert.ok(await nextAt(id), 'the published schedule was picked up');
    await setNextAt(id, `now() - interval '5 seconds'`);
    assert.equal(await scheduler.tick(), 1, 'the published schedule still fires');
    const all = await runs(id);
    assert.equal(all.length, 1);
    assert.equal(all[0]!.revision_id, published, 'the run uses the published revision');
    assert.equal(all[0]!.trigger.type, 'schedule');
    const worker = new Worker({ db: t.db, executor: t.services.executor, logger, pollMs: 50 });
    assert.equal(await worker.runUntilIdle(), 1);
    const done = await t.db.one<{ status: string; output: unknown }>(
      'SELECT status, output FROM executions WHERE id = $1',
      [all[0]!.id],
    );
    assert.equal(done!.status, 'succeeded');
    assert.deepEqual(done!.output, { event: 'published' });
  });

  it('does not fire a schedule that exists only in an unpublished draft', async () => {
    const id = await workflow(`name: On demand for now
trigger: { type: on_demand }
steps:
  - { id: done, kind: exit, output: { ok: true } }
`);
    const edit = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${id}`,
      payload: { yaml: scheduleYaml('On demand for now', '*/1 * * * * *') },
    });
    assert.equal(edit.statusCode, 200, edit.body);
    assert.equal(await scheduler.tick(), 0);
    await sleep(1100);
    assert.equal(await scheduler.tick(), 0);
    assert.deepEqual(await runs(id), []);
    assert.equal(await nextAt(id), null, 'no next tick for a workflow whose published revision is on demand');
  });
});

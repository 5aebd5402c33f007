import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { assertError, auditLog } from './helpers/api.js';

interface EventView {
  id: string;
  readable_id: string;
  title: string;
  app_identifier: string;
  action_identifier: string;
  data?: unknown;
  labels: string[];
  source: string;
  processed: boolean;
  execution_error: boolean;
  execution_ids: string[];
  reason: string | null;
}
interface Execution {
  status: string;
  output: unknown;
  trigger: Record<string, unknown>;
  input: Record<string, unknown>;
}
interface Hook {
  id: string;
  enabled: boolean;
  token: string;
  url: string;
  v2_url: string;
  rotated_at: string | null;
  last_used_at: string | null;
}
type Body = Record<string, unknown>;

/** Labels, configured triggers, source events and their routing to workflows, event webhooks. */
describe('events', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp({ env: { OSPREY_PUBLIC_URL: 'https://soar.example.com' } });
    worker = testWorker(t);
    await workflow(
      'Echo',
      '[phishing, spam]',
      'output: { sender: "{{ $.event.data.sender }}", id: "{{ $.event.id }}" }',
    );
    await workflow('Fails on malware', '[malware]', 'status: failure');
    const off = await workflow('Dormant', '[dormant]');
    assert.equal((await call('POST', `/v1/workflows/${off}/disable`)).statusCode, 200);
    await workflow('Draft only', '[draft]', '', false);
    const retired = await workflow('Retired', '[retired]');
    assert.equal((await call('POST', `/v1/workflows/${retired}/unpublish`)).statusCode, 200);
  });
  after(() => t.close());

  const call = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: Body, as?: KeyPair) =>
    t.request({ method, url, ...(payload && { payload }), ...(as && { as }) });
  /** An anonymous call to a webhook URL. */
  const hook = (method: 'GET' | 'POST', path: string, token: string, payload?: Body) =>
    t.app.inject({
      method,
      url: `/soarapi/webhooks_auth/${path}?token=${token}`,
      ...(payload && { payload }),
    });
  const fails = async (res: Promise<LightMyRequestResponse>, status: number, code: string, field?: string) =>
    assertError(await res, status, code, field, { messageNamesField: false });
  const json = async <T>(res: Promise<LightMyRequestResponse>, status = 200): Promise<T> => {
    const r = await res;
    assert.equal(r.statusCode, status, r.body);
    return r.json() as T;
  };

  async function workflow(name: string, labels: string, exit = '', published = true): Promise<string> {
    const yaml = `name: ${name}\ntrigger: { type: event, labels: ${labels} }\nsteps:\n  - { id: done, kind: exit${exit ? `, ${exit}` : ''} }\n`;
    const id = (await json<{ workflow: { id: string } }>(call('POST', '/v1/workflows', { yaml }), 201))
      .workflow.id;
    if (published) await json(call('POST', `/v1/workflows/${id}/publish`, {}));
    return id;
  }
  const raise = async (payload: Body, as?: KeyPair) =>
    (await json<{ event: EventView }>(call('POST', '/v1/events', payload, as), 201)).event;
  const event = async (id: string, as?: KeyPair) =>
    (await json<{ event: EventView }>(call('GET', `/v1/events/${id}`, undefined, as))).event;
  const execution = async (id: string) =>
    (await json<{ execution: Execution }>(call('GET', `/v1/executions/${id}`))).execution;
  const configure = (payload: Body, as?: KeyPair) => call('POST', '/v1/event-triggers', payload, as);
  const actionsOn = async (id: string) =>
    (await auditLog(t))
      .filter((e) => e.resource_id === id)
      .reverse()
      .map((e) => e.action);

  it('labels: create, read by title, list, bad input, writes below contributor, delete, audited', async () => {
    const { label } = await json<{ label: { id: string } }>(
      call('POST', '/v1/labels', { title: 'ioc' }),
      201,
    );
    assert.equal((await call('GET', '/v1/labels/ioc')).statusCode, 200);
    const listed = await json<{ labels: { title: string }[] }>(call('GET', '/v1/labels?q=io'));
    assert.deepEqual(
      listed.labels.map((l) => l.title),
      ['ioc'],
    );
    await fails(call('POST', '/v1/labels', { title: 'ioc' }), 409, 'LABEL_TITLE_TAKEN', 'title');
    for (const [payload, field] of [
      [{}, 'title'],
      [{ title: '  ' }, 'title'],
      [{ title: 'x', color: 'blue' }, 'color'],
    ] as const)
      await fails(call('POST', '/v1/labels', payload), 400, 'INVALID_ARGUMENT', field);
    await fails(call('GET', '/v1/labels/nope'), 404, 'LABEL_NOT_FOUND');
    const viewer = await t.keyWithRole('viewer');
    assert.equal((await call('GET', '/v1/labels', undefined, viewer)).statusCode, 200);
    const creator = await t.keyWithRole('creator');
    await fails(call('POST', '/v1/labels', { title: 'c' }, creator), 403, 'PERMISSION_DENIED');
    await fails(call('DELETE', '/v1/labels/ioc', undefined, creator), 403, 'PERMISSION_DENIED');
    assert.equal((await call('DELETE', `/v1/labels/${label.id}`)).statusCode, 204);
    await fails(call('DELETE', '/v1/labels/ioc'), 404, 'LABEL_NOT_FOUND');
    assert.deepEqual(await actionsOn(label.id), ['Label created', 'Label deleted']);
  });

  it('configured triggers: 201 then 200 per pair, labels made, inactive ones label nothing, audited', async () => {
    const pair = { app_identifier: 'mailgw', action_identifier: 'reported' };
    const { trigger } = await json<{ trigger: { id: string; labels_data: { title: string }[] } }>(
      configure({ ...pair, labels: ['phishing'] }),
      201,
    );
    assert.deepEqual(
      trigger.labels_data.map((l) => l.title),
      ['phishing'],
    );
    assert.equal((await call('GET', '/v1/labels/phishing')).statusCode, 200, 'the missing label was made');
    const again = await json<{ trigger: { id: string } }>(
      configure({ ...pair, labels: ['phishing', 'mail'] }),
    );
    assert.equal(again.trigger.id, trigger.id, 'replaced, not added');
    const listed = await json<{ triggers: { labels: string[] }[] }>(call('GET', '/v1/event-triggers'));
    assert.deepEqual(
      listed.triggers.map((x) => x.labels),
      [['phishing', 'mail']],
    );
    assert.deepEqual((await raise({ title: 'Reported', ...pair })).labels, ['phishing', 'mail']);
    await json(call('PATCH', `/v1/event-triggers/${trigger.id}`, { is_active: false }));
    const bare = await raise({ title: 'Reported', ...pair });
    assert.deepEqual(bare.labels, []);
    assert.match(bare.reason ?? '', /no active trigger is configured for mailgw \/ reported/);

    for (const [payload, field] of [
      [{ ...pair, labels: [] }, 'labels'],
      [{ action_identifier: 'b', labels: ['x'] }, 'app_identifier'],
      [{ ...pair, labels: ['  '] }, 'labels[0]'],
    ] as const)
      await fails(configure(payload), 400, 'INVALID_ARGUMENT', field);
    await fails(
      configure({ ...pair, labels: ['x'] }, await t.keyWithRole('creator')),
      403,
      'PERMISSION_DENIED',
    );
    for (const method of ['GET', 'DELETE'] as const)
      await fails(call(method, `/v1/event-triggers/${randomUUID()}`), 404, 'EVENT_TRIGGER_NOT_FOUND');
    assert.equal((await call('DELETE', `/v1/event-triggers/${trigger.id}`)).statusCode, 204);
    const entries = (await auditLog(t)).filter((e) => e.resource_id === trigger.id).reverse();
    assert.deepEqual(
      entries.map((e) => [e.action, e.extra_data.created]),
      [
        ['Event trigger configured', true],
        ['Event trigger configured', false],
        ['Event trigger configured', false],
        ['Event trigger deleted', undefined],
      ],
    );
  });

  it('routes an event to each enabled, published workflow on its labels, with the event as $.event', async () => {
    await configure({ app_identifier: 'mailgw', action_identifier: 'phish', labels: ['phishing'] });
    const creator = await t.keyWithRole('creator');
    const payload = { title: 'Phish', app_identifier: 'mailgw', action_identifier: 'phish' };
    const e = await raise({ ...payload, data: { sender: 'a@b.c' }, labels: ['spam'] }, creator);
    assert.deepEqual([e.source, e.processed, e.reason], ['Platform', true, null]);
    assert.match(e.readable_id, /^TE[0-9a-f-]{10}$/);
    assert.deepEqual(e.labels, ['spam', 'phishing'], "the event's own labels and the trigger's");
    assert.equal(e.execution_ids.length, 1, 'one run though two of its labels match');
    await worker.runUntilIdle();
    const run = await execution(e.execution_ids[0]!);
    assert.equal(run.status, 'succeeded');
    assert.deepEqual(run.output, { sender: 'a@b.c', id: e.id });
    assert.deepEqual([run.trigger.type, run.trigger.event_id], ['event', e.id]);
    assert.deepEqual(run.input.labels, ['spam', 'phishing']);
    assert.equal((await event(e.id)).execution_error, false);

    const failing = await raise({
      title: 'Bad file',
      app_identifier: 'edr',
      action_identifier: 'a',
      labels: ['malware'],
    });
    assert.equal(failing.processed, true);
    await worker.runUntilIdle();
    assert.equal((await event(failing.id)).execution_error, true, 'a failed run marks the event');

    for (const role of ['operator', 'viewer']) {
      const k = await t.keyWithRole(role);
      await fails(call('POST', '/v1/events', payload, k), 403, 'PERMISSION_DENIED');
      assert.equal((await event(e.id, k)).id, e.id, `${role} reads events`);
    }
    await fails(call('GET', `/v1/events/${randomUUID()}`), 404, 'EVENT_NOT_FOUND');
    for (const [body, field] of [
      [{ app_identifier: 'a', action_identifier: 'b' }, 'title'],
      [{ title: 'x', action_identifier: 'b' }, 'app_identifier'],
      [{ ...payload, data: 'text' }, 'data'],
      [{ ...payload, labels: [''] }, 'labels.0'],
    ] as const)
      await fails(call('POST', '/v1/events', body), 400, 'INVALID_ARGUMENT', field);
  });

  it('keeps events that start nothing with the reason, shown in the activity log', async () => {
    const cases: [string[], RegExp][] = [
      [[], /no active trigger is configured for quiet \/ ping, and the event has no labels/],
      [['nobody'], /no published workflow has an event trigger on "nobody"/],
      [['dormant'], /the workflows labelled "dormant" are disabled/],
      [['draft'], /no published workflow has an event trigger on "draft"/],
      [['retired'], /no published workflow has an event trigger on "retired"/],
    ];
    for (const [labels, reason] of cases) {
      const e = await raise({
        title: `Quiet ${labels.join()}`,
        app_identifier: 'quiet',
        action_identifier: 'ping',
        labels,
      });
      assert.deepEqual([e.processed, e.execution_ids], [false, []]);
      assert.match(e.reason ?? '', reason);
      const { activity_logs: entries } = await json<{
        activity_logs: {
          type: string;
          reason: string;
          status: string;
          event: { type: string; body: string };
        }[];
      }>(call('GET', `/v1/activity-logs?activity_type=trigger_events&payload=${e.id}`));
      assert.equal(entries.length, 1);
      const [entry] = entries;
      assert.deepEqual(
        [entry!.type, entry!.status, entry!.event.type],
        ['trigger_event', 'NOT_STARTED', 'event'],
      );
      assert.match(entry!.reason, reason);
      assert.equal((JSON.parse(entry!.event.body) as { event_id: string }).event_id, e.id);
    }
    const unprocessed = await json<{ events: EventView[] }>(
      call('GET', '/v1/events?processed=false&app_identifier=quiet'),
    );
    assert.equal(unprocessed.events.length, cases.length);
  });

  it('lists with filters and pages', async () => {
    const m = randomUUID().slice(0, 8);
    const since = encodeURIComponent(new Date().toISOString());
    for (let i = 0; i < 3; i++)
      await raise({
        title: `F ${m} ${i}`,
        app_identifier: `app-${m}`,
        action_identifier: `act${i % 2}`,
        labels: [`l${i}`],
      });
    const list = (query: string) =>
      json<{ events: EventView[]; next_page_token?: string }>(call('GET', `/v1/events?${query}`));
    const titles = async (query: string) => (await list(query)).events.map((e) => e.title);
    assert.deepEqual(await titles(`app_identifier=app-${m}`), [`F ${m} 2`, `F ${m} 1`, `F ${m} 0`]);
    assert.deepEqual(await titles(`app_identifier=app-${m}&action_identifier=act1`), [`F ${m} 1`]);
    assert.deepEqual(await titles(`app_identifier=app-${m}&label=l2`), [`F ${m} 2`]);
    assert.deepEqual(await titles(`q=${m}%200`), [`F ${m} 0`]);
    assert.equal((await titles(`start_time=${since}&title=${m}`)).length, 3);
    assert.equal((await titles(`end_time=${since}&title=${m}`)).length, 0);
    const page = await list(`app_identifier=app-${m}&page_size=2`);
    assert.equal(page.events.length, 2);
    assert.equal(page.events[0]!.data, undefined, 'list items carry no data');
    assert.deepEqual(await titles(`app_identifier=app-${m}&page_size=2&page_token=${page.next_page_token}`), [
      `F ${m} 0`,
    ]);
    await fails(call('GET', '/v1/events?start_time=yesterday'), 400, 'INVALID_ARGUMENT', 'start_time');
  });

  it('event webhooks: token shown once, v1 and v2 deliveries, rotate, disable, delete, audited', async () => {
    const { webhook: h } = await json<{ webhook: Hook }>(
      call('POST', '/v1/event-webhooks', { title: 'SIEM' }),
      201,
    );
    assert.equal(h.url, `https://soar.example.com/soarapi/webhooks_auth/events/?token=${h.token}`);
    assert.equal(h.v2_url, `https://soar.example.com/soarapi/webhooks_auth/v2/events/?token=${h.token}`);
    for (const url of [`/v1/event-webhooks/${h.id}`, '/v1/event-webhooks'])
      assert.ok(!(await call('GET', url)).body.includes(h.token), 'the token is not shown again');

    assert.deepEqual((await hook('GET', 'events/test_connectivity/', h.token)).json(), { status: 'ok' });
    const v1 = await json<{ source: string; created_by: string; processed: boolean }>(
      hook('POST', 'events/', h.token, {
        ...{ title: 'From SIEM', app_identifier: 'siem', action_identifier: 'alert' },
        ...{ data: { sender: 'x@y.z' }, labels: ['phishing'] },
      }),
      201,
    );
    assert.deepEqual([v1.source, v1.created_by, v1.processed], ['Webhooks', 'webhook: SIEM', true]);
    const v2 = await json<{ unique_id: string }>(
      hook('POST', 'v2/events/siem/alert/', h.token, { title: 'C' }),
      201,
    );
    assert.deepEqual(Object.keys(v2).sort(), [
      ...['action_identifier', 'app_identifier', 'created', 'readable_id', 'source', 'title', 'unique_id'],
    ]);
    const stored = await event(v2.unique_id);
    assert.deepEqual(
      [stored.app_identifier, stored.action_identifier, stored.source],
      ['siem', 'alert', 'Webhooks'],
    );
    const seen = await json<{ webhook: Hook }>(call('GET', `/v1/event-webhooks/${h.id}`));
    assert.ok(seen.webhook.last_used_at);

    await fails(hook('GET', 'events/test_connectivity/', 'wrong'), 401, 'WEBHOOK_UNAUTHORIZED');
    const noToken = t.app.inject({
      method: 'POST',
      url: '/soarapi/webhooks_auth/events/',
      payload: { title: 'x' },
    });
    await fails(noToken, 401, 'WEBHOOK_UNAUTHORIZED');
    await fails(hook('POST', 'events/', h.token, { title: 'x' }), 400, 'INVALID_ARGUMENT', 'app_identifier');

    const { webhook: fresh } = await json<{ webhook: Hook }>(
      call('POST', `/v1/event-webhooks/${h.id}/rotate`),
    );
    assert.notEqual(fresh.token, h.token);
    assert.ok(fresh.rotated_at);
    await fails(hook('GET', 'events/test_connectivity/', h.token), 401, 'WEBHOOK_UNAUTHORIZED');
    assert.equal((await hook('GET', 'events/test_connectivity/', fresh.token)).statusCode, 200);

    const off = await json<{ webhook: Hook }>(
      call('PATCH', `/v1/event-webhooks/${h.id}`, { enabled: false }),
    );
    assert.equal(off.webhook.enabled, false);
    await fails(
      hook('POST', 'events/siem/alert/', fresh.token, { title: 'x' }),
      403,
      'EVENT_WEBHOOK_DISABLED',
    );
    await fails(hook('GET', 'v2/events/test_connectivity/', fresh.token), 403, 'EVENT_WEBHOOK_DISABLED');
    await json(call('PATCH', `/v1/event-webhooks/${h.id}`, { enabled: true }));
    assert.equal((await hook('GET', 'events/test_connectivity/', fresh.token)).statusCode, 200);

    await json(call('POST', '/v1/event-webhooks', { title: 'Other' }), 201);
    await fails(
      call('POST', '/v1/event-webhooks', { title: 'SIEM' }),
      409,
      'EVENT_WEBHOOK_TITLE_TAKEN',
      'title',
    );
    await fails(
      call('PATCH', `/v1/event-webhooks/${h.id}`, { title: 'Other' }),
      409,
      'EVENT_WEBHOOK_TITLE_TAKEN',
    );
    await fails(call('POST', '/v1/event-webhooks', {}), 400, 'INVALID_ARGUMENT', 'title');
    await fails(call('POST', `/v1/event-webhooks/${randomUUID()}/rotate`), 404, 'EVENT_WEBHOOK_NOT_FOUND');
    const creator = await t.keyWithRole('creator');
    assert.equal((await call('GET', '/v1/event-webhooks', undefined, creator)).statusCode, 200);
    await fails(
      call('POST', `/v1/event-webhooks/${h.id}/rotate`, undefined, creator),
      403,
      'PERMISSION_DENIED',
    );
    assert.equal((await call('DELETE', `/v1/event-webhooks/${h.id}`)).statusCode, 204);
    await fails(hook('GET', 'events/test_connectivity/', fresh.token), 401, 'WEBHOOK_UNAUTHORIZED');
    assert.deepEqual(await actionsOn(h.id), [
      ...['Event webhook created', 'Event webhook rotated', 'Event webhook updated'],
      ...['Event webhook updated', 'Event webhook deleted'],
    ]);
  });

  it('twenty concurrent events through a webhook are all stored and routed', async () => {
    const { webhook: h } = await json<{ webhook: Hook }>(
      call('POST', '/v1/event-webhooks', { title: 'Burst' }),
      201,
    );
    await configure({ app_identifier: 'burst', action_identifier: 'mail', labels: ['phishing'] });
    const sent = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        json<{ unique_id: string; playbook_result_unique_ids: string[] }>(
          hook('POST', 'events/burst/mail/', h.token, {
            title: `Burst ${i}`,
            data: { sender: `s${i}@x.io` },
          }),
          201,
        ),
      ),
    );
    assert.equal(new Set(sent.map((e) => e.unique_id)).size, 20);
    await worker.runUntilIdle();
    for (const [i, e] of sent.entries()) {
      assert.equal(e.playbook_result_unique_ids.length, 1);
      const run = await execution(e.playbook_result_unique_ids[0]!);
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(run.output, { sender: `s${i}@x.io`, id: e.unique_id });
    }
  });

  it('triggers configured at once that name the same new label all succeed', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        configure({ app_identifier: 'race', action_identifier: `a${i}`, labels: ['brand-new'] }),
      ),
    );
    const failed = results.filter((r) => r.statusCode !== 201).map((r) => r.body);
    assert.deepEqual(failed, [], 'a label made by a concurrent configure is not a conflict');
  });

  it('keeps workspaces apart: events, triggers and webhooks', async () => {
    const made = await json<{ api_key: KeyPair }>(call('POST', '/v1alpha/workspaces', { name: 'events-b' }));
    const ownerB = made.api_key;
    const a = await raise({ title: 'In A', app_identifier: 'iso', action_identifier: 'x' });
    await fails(call('GET', `/v1/events/${a.id}`, undefined, ownerB), 404, 'EVENT_NOT_FOUND');
    assert.deepEqual((await json<{ events: [] }>(call('GET', '/v1/events', undefined, ownerB))).events, []);
    await json(
      configure({ app_identifier: 'iso', action_identifier: 'x', labels: ['phishing'] }, ownerB),
      201,
    );
    const bare = await raise({ title: 'In A again', app_identifier: 'iso', action_identifier: 'x' });
    assert.deepEqual(bare.labels, [], "B's trigger does not label A's events");
    const hookB = await json<{ webhook: Hook }>(
      call('POST', '/v1/event-webhooks', { title: 'B' }, ownerB),
      201,
    );
    const viaB = await json<{ unique_id: string }>(
      hook('POST', 'events/iso/x/', hookB.webhook.token, { title: 'To B' }),
      201,
    );
    assert.deepEqual((await event(viaB.unique_id, ownerB)).labels, ['phishing']);
    await fails(call('GET', `/v1/events/${viaB.unique_id}`), 404, 'EVENT_NOT_FOUND');
  });
});

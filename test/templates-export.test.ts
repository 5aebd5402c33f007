// The "Export logs to a SIEM" template (templates/export-logs-to-siem.yaml), installed through the API
// and run against this server (the osprey app over a real port) and a Splunk HEC stand-in: the
// checkpoint variable, paging, a failed send that leaves the checkpoint where it was, and the
// install's parameter checks.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { assertError, type AuditEntry } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { HEC_TOKEN, hecAnswer, hecStandIn, type HecStandIn, type IndexedEvent } from './vendors/splunk.js';

const TEMPLATE = 'export-logs-to-siem';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
}

interface ExportOutput {
  delivered: number;
  pages: number;
  more: boolean;
  checkpoint: Checkpoint;
}

interface Checkpoint {
  after: string;
  id: string;
}

interface ActivityEntry {
  id: string;
  type: string;
  timestamp: string;
  workflow_id: string | null;
  execution_id: string | null;
}

interface Workflow {
  id: string;
  name: string;
  published_revision_id: string | null;
}

describe('the "Export logs to a SIEM" template', () => {
  let t: TestApp;
  let worker: Worker;
  let hec: HecStandIn;
  let pagedHec: HecStandIn;
  const startedAt = new Date(Date.now() - 60_000).toISOString();

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    worker = testWorker(t, { pollMs: 50, concurrency: 2 });
    await worker.start();
    hec = await hecStandIn();
    pagedHec = await hecStandIn();
    const integrations = [
      {
        name: 'osprey-self',
        app: 'osprey',
        configuration: { base_url: base, client_id: t.owner.client_id, client_secret: t.owner.client_secret },
      },
      {
        name: 'splunk-hec',
        app: 'splunk',
        configuration: { hec_url: hec.url, hec_token: HEC_TOKEN },
        retries: 0,
      },
      { name: 'splunk-paged', app: 'splunk', configuration: { hec_url: pagedHec.url, hec_token: HEC_TOKEN } },
    ];
    for (const payload of integrations) {
      const res = await t.request({ method: 'POST', url: '/v1/integrations', payload });
      assert.equal(res.statusCode, 201, res.body);
    }
  });
  after(async () => {
    await worker.stop();
    await hec.close();
    await pagedHec.close();
    await t.close();
  });

  async function install(parameters: Record<string, unknown>): Promise<Workflow[]> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/templates/${TEMPLATE}/install`,
      payload: { parameters },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { workflows: Workflow[] }).workflows;
  }

  /** Runs the published scheduled workflow by hand and waits for the run (and its pages) to end. */
  async function run(workflowId: string): Promise<Execution> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflowId}/executions`,
      payload: {},
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
    const id = (res.json() as { execution: { id: string } }).execution.id;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const got = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
      const execution = (got.json() as { execution: Execution }).execution;
      if (['succeeded', 'failed', 'cancelled'].includes(execution.status)) return execution;
      assert.ok(Date.now() < deadline, `the run ${id} ended in time (still ${execution.status})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function checkpoint(name: string): Promise<Checkpoint | undefined> {
    const res = await t.request({ method: 'GET', url: '/v1/variables?page_size=500' });
    assert.equal(res.statusCode, 200, res.body);
    const found = (res.json() as { variables: { name: string; value: unknown }[] }).variables.find(
      (v) => v.name === name,
    );
    return found?.value as Checkpoint | undefined;
  }

  /** Every audit entry of the workspace since the test started, oldest first. */
  async function auditLog(): Promise<AuditEntry[]> {
    const res = await t.request({
      method: 'GET',
      url: `/v1/audit-logs?order=asc&page_size=500&start_time=${encodeURIComponent(startedAt)}`,
    });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { audit_logs: AuditEntry[]; next_page_token?: string };
    assert.equal(body.next_page_token, undefined, 'one page holds them all');
    return body.audit_logs;
  }

  /** Every activity entry of the workspace since the test started, oldest first. */
  async function activityLog(): Promise<ActivityEntry[]> {
    const out: ActivityEntry[] = [];
    let query = `order=asc&page_size=500&start_time=${encodeURIComponent(startedAt)}`;
    for (;;) {
      const res = await t.request({ method: 'GET', url: `/v1/activity-logs?${query}` });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { activity_logs: ActivityEntry[]; next_page_token?: string };
      out.push(...body.activity_logs);
      if (!body.next_page_token) return out;
      query = `page_size=500&page_token=${encodeURIComponent(body.next_page_token)}`;
    }
  }

  const idsOf = (events: IndexedEvent[]): string[] => events.map((e) => (e.event as { id: string }).id);

  /** Asserts that events sent more than once are the same entry each time. */
  function assertDuplicatesShareIds(events: IndexedEvent[]): void {
    const byId = new Map<string, unknown>();
    for (const e of events) {
      const id = (e.event as { id: string }).id;
      if (byId.has(id))
        assert.deepEqual(e.event, byId.get(id), `entry ${id} sent twice, the same both times`);
      byId.set(id, e.event);
    }
  }

  it('is listed with its parameters and the workflows it installs', async () => {
    const res = await t.request({ method: 'GET', url: `/v1/templates/${TEMPLATE}` });
    assert.equal(res.statusCode, 200, res.body);
    const view = (
      res.json() as {
        template: {
          description: string;
          parameters: Record<string, { required: boolean; default?: unknown; enum?: unknown[] }>;
          workflows: string[];
        };
      }
    ).template;
    assert.deepEqual(view.workflows, [
      'Export x logs to a SIEM: one page (x_x)',
      'Export x logs to a SIEM (x_x)',
    ]);
    assert.equal(view.parameters.integration?.required, true);
    assert.equal(view.parameters.siem_integration?.required, true);
    assert.deepEqual(view.parameters.log?.enum, ['audit', 'activity']);
    assert.equal(view.parameters.cron?.default, '*/5 * * * *');
    assert.equal(view.parameters.checkpoint_variable?.default, 'siem_export_checkpoint');
    assert.match(view.description, /log stream/);
    assert.match(view.description, /max_pages/);
  });

  it('refuses bad parameters at install by name, and installs nothing then', async () => {
    const count = async (): Promise<number> => {
      const res = await t.request({ method: 'GET', url: '/v1/workflows?page_size=500' });
      return (res.json() as { workflows: unknown[] }).workflows.length;
    };
    const before = await count();
    const good = { integration: 'osprey-self', siem_integration: 'splunk-hec', log: 'audit' };
    const cases: [Record<string, unknown>, string][] = [
      [{ siem_integration: 'splunk-hec', log: 'audit' }, 'parameters.integration'],
      [{ integration: 'osprey-self', log: 'audit' }, 'parameters.siem_integration'],
      [{ integration: 'osprey-self', siem_integration: 'splunk-hec' }, 'parameters.log'],
      [{ ...good, log: 'system' }, 'parameters.log'],
      [{ ...good, page_size: 'many' }, 'parameters.page_size'],
      [{ ...good, max_pages: 2.5 }, 'parameters.max_pages'],
      [{ ...good, siem_integration: 'splunk\nhec' }, 'parameters.siem_integration'],
      [{ ...good, checkpoint_variable: 'a"b' }, 'parameters.checkpoint_variable'],
      [{ ...good, index: 'main' }, 'parameters.index'],
    ];
    for (const [parameters, field] of cases) {
      const res = await t.request({
        method: 'POST',
        url: `/v1/templates/${TEMPLATE}/install`,
        payload: { parameters },
      });
      assertError(res, 400, 'INVALID_ARGUMENT', field);
    }
    // A cron expression is checked when the workflow is saved: all or nothing.
    const cron = await t.request({
      method: 'POST',
      url: `/v1/templates/${TEMPLATE}/install`,
      payload: { parameters: { ...good, cron: 'every five minutes' } },
    });
    assertError(cron, 400, 'WORKFLOW_INVALID');
    assert.equal(await count(), before, 'nothing was installed');
  });

  describe('the audit log to Splunk', () => {
    let exporter: Workflow;
    const name = 'siem_export_checkpoint_audit';

    it('installs two published workflows, the page first, the scheduled one calling it', async () => {
      const workflows = await install({
        integration: 'osprey-self',
        siem_integration: 'splunk-hec',
        log: 'audit',
        settle_seconds: 0,
        page_size: 5,
      });
      assert.deepEqual(
        workflows.map((w) => [w.name, w.published_revision_id !== null]),
        [
          ['Export audit logs to a SIEM: one page (siem_export_checkpoint_audit)', true],
          ['Export audit logs to a SIEM (siem_export_checkpoint_audit)', true],
        ],
      );
      exporter = workflows[1]!;
      const got = await t.request({ method: 'GET', url: `/v1/workflows/${exporter.id}` });
      assert.equal((got.json() as { workflow: { trigger_type: string } }).workflow.trigger_type, 'schedule');
      assert.equal(await checkpoint(name), undefined, 'no checkpoint before the first run');
    });

    it('the first run creates the checkpoint and sends every entry up to it, page by page', async () => {
      const ex = await run(exporter.id);
      assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error));
      const out = ex.output as ExportOutput;
      const cp = await checkpoint(name);
      assert.ok(cp, 'the checkpoint variable exists');
      assert.deepEqual(out.checkpoint, cp);
      assert.equal(out.more, false);
      assert.ok(out.pages >= 2, `several pages of 5 (${out.pages})`);

      const expected = (await auditLog()).filter((e) => e.timestamp <= cp.after);
      assert.ok(expected.length > 5, `more entries than one page (${expected.length})`);
      assert.deepEqual(
        idsOf(hec.events),
        expected.map((e) => e.id),
      );
      assert.equal(out.delivered, expected.length);
      assert.equal(cp.id, expected.at(-1)!.id);
      assert.equal(cp.after, expected.at(-1)!.timestamp);

      // Each event is the entry as the API answers it, with Splunk metadata.
      assert.deepEqual(hec.events[0]!.event, expected[0]);
      for (const e of hec.events) {
        assert.equal(e.sourcetype, 'osprey:audit');
        assert.equal(e.source, 'osprey');
        assert.equal(e.time, Math.floor(Date.parse((e.event as AuditEntry).timestamp)) / 1000);
      }
      const sent = hec.received('POST', '/services/collector/event');
      assert.equal(sent.length, out.pages, 'one batch request per page');
      assert.equal(sent[0]!.headers.authorization, `Splunk ${HEC_TOKEN}`);
      assert.ok(
        expected.some((e) => e.action === 'Workspace variable created' && e.resource_name === name),
        'the checkpoint was created through the API',
      );
    });

    it('a second run sends only the entries written since', async () => {
      const first = idsOf(hec.events);
      const before = (await checkpoint(name))!;
      const secret = await t.request({
        method: 'POST',
        url: '/v1/secrets',
        payload: { name: 'between_runs', value: 'not-exported' },
      });
      assert.equal(secret.statusCode, 201, secret.body);

      const ex = await run(exporter.id);
      assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error));
      const cp = (await checkpoint(name))!;
      const fresh = (await auditLog()).filter((e) => e.timestamp > before.after && e.timestamp <= cp.after);
      const second = idsOf(hec.events).slice(first.length);
      assert.deepEqual(
        second,
        fresh.map((e) => e.id),
      );
      assert.ok(
        fresh.some((e) => e.action === 'Secret created' && e.resource_name === 'between_runs'),
        'the new entry was sent',
      );
      assert.ok(
        fresh.some((e) => e.action === 'Workspace variable updated' && e.resource_name === name),
        "the first run's checkpoint updates are audit entries too, and were sent",
      );
      assert.ok(!second.some((id) => first.includes(id)), 'nothing from the first run was sent again');
      assert.equal((ex.output as ExportOutput).delivered, fresh.length);
    });

    it('a failed send fails the run and keeps the checkpoint; the next run sends what was missed', async () => {
      const sentBefore = hec.events.length;
      const before = (await checkpoint(name))!;
      for (const n of [1, 2]) {
        const res = await t.request({
          method: 'POST',
          url: '/v1/secrets',
          payload: { name: `missed_${n}`, value: 'x' },
        });
        assert.equal(res.statusCode, 201, res.body);
      }
      hec.failNext(hecAnswer(503, 'Server is busy', 9));
      const failed = await run(exporter.id);
      assert.equal(failed.status, 'failed');
      assert.equal(failed.error?.code, 'CHILD_FAILED', JSON.stringify(failed.error));
      assert.equal(failed.error?.step_id, 'page');
      assert.deepEqual(await checkpoint(name), before, 'the checkpoint did not move');
      assert.equal(hec.events.length, sentBefore, 'Splunk indexed nothing');

      // The page's run says why: Splunk's answer.
      const pages = await t.request({ method: 'GET', url: '/v1/executions?page_size=5&status=failed' });
      const page = (pages.json() as { executions: { id: string; workflow_id: string }[] }).executions.find(
        (e) => e.workflow_id !== exporter.id,
      );
      assert.ok(page, 'the page run failed too');
      const pageRun = (
        (await t.request({ method: 'GET', url: `/v1/executions/${page.id}` })).json() as {
          execution: Execution;
        }
      ).execution;
      assert.equal(pageRun.error?.step_id, 'send');
      assert.match(pageRun.error?.message ?? '', /Server is busy/);

      const ok = await run(exporter.id);
      assert.equal(ok.status, 'succeeded', JSON.stringify(ok.error));
      const cp = (await checkpoint(name))!;
      const all = (await auditLog()).filter((e) => e.timestamp <= cp.after);
      const sent = new Set(idsOf(hec.events));
      assert.deepEqual(
        all.filter((e) => !sent.has(e.id)).map((e) => `${e.action} ${e.resource_name}`),
        [],
        'no entry up to the checkpoint is missing',
      );
      const resent = idsOf(hec.events.slice(sentBefore));
      for (const n of [1, 2]) {
        const entry = all.find((e) => e.action === 'Secret created' && e.resource_name === `missed_${n}`);
        assert.ok(entry && resent.includes(entry.id), `missed_${n} was sent by the next run`);
      }
      assertDuplicatesShareIds(hec.events);
      assert.equal(sent.size, hec.events.length, 'and here nothing was sent twice');
    });
  });

  it('a run sends at most max_pages pages; the next run goes on from the checkpoint', async () => {
    const [, exporter] = await install({
      integration: 'osprey-self',
      siem_integration: 'splunk-paged',
      log: 'audit',
      checkpoint_variable: 'paged_checkpoint',
      settle_seconds: 0,
      page_size: 2,
      max_pages: 2,
    });
    const first = await run(exporter!.id);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.deepEqual(
      { ...(first.output as ExportOutput), checkpoint: undefined },
      { delivered: 4, pages: 2, more: true, checkpoint: undefined },
    );
    const log = await auditLog();
    assert.deepEqual(
      idsOf(pagedHec.events),
      log.slice(0, 4).map((e) => e.id),
      'the four oldest entries',
    );

    const second = await run(exporter!.id);
    assert.equal(second.status, 'succeeded', JSON.stringify(second.error));
    assert.equal((second.output as ExportOutput).delivered, 4);
    assert.deepEqual(
      idsOf(pagedHec.events),
      log.slice(0, 8).map((e) => e.id),
      'the next four, in order',
    );
    assert.deepEqual(await checkpoint('paged_checkpoint_audit'), {
      after: log[7]!.timestamp,
      id: log[7]!.id,
    });

    // A checkpoint set by hand to something that is not a time fails the run, saying what it must hold.
    const vars = await t.request({ method: 'GET', url: '/v1/variables?page_size=500' });
    const variable = (vars.json() as { variables: { id: string; name: string }[] }).variables.find(
      (v) => v.name === 'paged_checkpoint_audit',
    )!;
    const patched = await t.request({
      method: 'PATCH',
      url: `/v1/variables/${variable.id}`,
      payload: { value: { after: 'yesterday' } },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const sentBefore = pagedHec.events.length;
    const refused = await run(exporter!.id);
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'CHILD_FAILED', JSON.stringify(refused.error));
    // The parent names the page's run, whose output says why.
    const child = /child execution ([0-9a-f-]{36})/.exec(refused.error?.message ?? '')?.[1];
    assert.ok(child, refused.error?.message);
    const page = await t.request({ method: 'GET', url: `/v1/executions/${child}` });
    const pageRun = (page.json() as { execution: Execution }).execution;
    assert.equal(pageRun.error?.code, 'EXIT_FAILURE');
    assert.deepEqual(pageRun.output, {
      error: 'the variable paged_checkpoint_audit must hold {"after": "<RFC 3339 time>"}',
      found: { after: 'yesterday' },
    });
    assert.equal(pagedHec.events.length, sentBefore, 'nothing was sent');
  });

  it("exports the activity log too, page by page, without the exporter's own runs", async () => {
    const sentBefore = hec.events.length;
    const wf = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: `name: Something to report
trigger: { type: on_demand }
steps:
  - { id: work, kind: transform, value: done }
`,
      },
    });
    assert.equal(wf.statusCode, 201, wf.body);
    const sampleId = (wf.json() as { workflow: { id: string } }).workflow.id;
    const sampleRun = await t.request({
      method: 'POST',
      url: `/v1/workflows/${sampleId}/executions?wait=true`,
      payload: { revision: 'current' },
    });
    assert.ok(sampleRun.statusCode === 200 || sampleRun.statusCode === 201, sampleRun.body);
    const sampleExecution = (sampleRun.json() as { execution: { id: string } }).execution.id;

    const workflows = await install({
      integration: 'osprey-self',
      siem_integration: 'splunk-hec',
      log: 'activity',
      settle_seconds: 0,
      page_size: 50,
      max_pages: 100,
    });
    const own = new Set(workflows.map((w) => w.id));
    const exporter = workflows[1]!;
    const ex = await run(exporter.id);
    assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error));
    const out = ex.output as ExportOutput;
    assert.equal(out.more, false);
    assert.ok(out.pages >= 2, `several pages of 50 (${out.pages})`);
    const sent = hec.events.slice(sentBefore);
    assert.ok(sent.every((e) => e.sourcetype === 'osprey:activity'));
    const entries = sent.map((e) => e.event as ActivityEntry);
    assert.deepEqual(
      entries
        .filter((e) => e.execution_id === sampleExecution)
        .map((e) => e.type)
        .sort(),
      ['step_execution', 'workflow_run'],
      'the sample run and its step',
    );
    assert.ok(!entries.some((e) => own.has(e.workflow_id ?? '')), "the exporter's own runs are left out");

    // Every entry up to the checkpoint, but the exporter's own, was sent once, oldest first.
    const cp = (await checkpoint('siem_export_checkpoint_activity'))!;
    const expected = (await activityLog()).filter(
      (e) => e.timestamp <= cp.after && !own.has(e.workflow_id ?? ''),
    );
    assert.deepEqual(
      entries.map((e) => e.id),
      expected.map((e) => e.id),
    );

    const again = await run(exporter.id);
    assert.equal(again.status, 'succeeded', JSON.stringify(again.error));
    const later = hec.events.slice(sentBefore + sent.length).map((e) => e.event as ActivityEntry);
    assert.ok(!later.some((l) => entries.some((e) => e.id === l.id)), 'the second run sent nothing again');
    assert.ok(!later.some((e) => own.has(e.workflow_id ?? '')));
  });
});

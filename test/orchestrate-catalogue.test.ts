import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { writePackage } from '../src/integrations/apps/package.js';
import { OSPREY_VERSION } from '../src/version.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { sign } from './helpers/orchestrate.js';
import {
  ACTION,
  APP,
  CATALOGUE_ITEM,
  EVENT_CONCISE,
  EVENT_DETAIL,
  EVENT_LIST_ITEM,
  EXECUTE,
  FILE_URL,
  INSTANCE,
  INSTANCE_TEST,
  METRIC_POINT,
  METRIC_RATIO,
  NODE_RESULT,
  PERSISTENT_LIST,
  PERSISTENT_LIST_DETAIL,
  PLAYBOOK_EXPORT,
  PLAYBOOK_NODE,
  PLAYBOOK_SUMMARY,
  PREDEFINED_ACTION,
  RUN_LOG_DETAIL,
  RUN_LOG_SUMMARY,
  TAG,
  TRIGGER,
  conform,
} from './helpers/orchestrate-shapes.js';
import {
  OpenApiClient,
  assertOpenError,
  created,
  freePort,
  http,
  native,
  publish,
  sendJson,
  type Obj,
  type Paged,
  type Reply,
} from './helpers/orchestrate-client.js';

const o = (v: unknown): Obj => v as Obj;

/** A fixed vector: the seed's Python sample run with time.time() = 1700000000.75 and its example key. */
const SEED_VECTOR = {
  key: {
    client_id: '7e4e6a9c-11ca-40f4-95af-edae017358d0',
    client_secret: 'e61e92fb-bfd9-4cef-9b21-6f1e8211b77b',
  },
  nowMs: 1_700_000_000_750,
  expires: '1700000030',
  signature: 'J2Brf6OnvagMXtioE2MaW4dmAJE=',
};

const WORKFLOWS = {
  child: `name: Catalogue child
trigger:
  type: nested
  inputs: { type: object, properties: { ip: { type: string } } }
steps:
  - id: score
    kind: exit
    output: { ip: "{{ $.event.ip }}", score: 90 }
`,
  enrich: `name: Catalogue enrich
description: Remembers an IP, scores it in a sub-playbook and gives a verdict
tags: [triage]
trigger: { type: on_demand }
steps:
  - id: remember
    kind: action
    action: lists.put
    with: { list: catalogue_ips, key: last, value: "{{ $.event.ip }}" }
  - id: score
    kind: call_workflow
    workflow: Catalogue child
    inputs: { ip: "{{ $.event.ip }}" }
  - id: verdict
    kind: if
    condition: "{{ $.event.ip = '203.0.113.9' }}"
    then:
      - id: bad
        kind: transform
        value: malicious
`,
  labelled: `name: Catalogue on event
trigger:
  type: event
  labels: [catalogue-label]
steps:
  - id: pick
    kind: transform
    value: "{{ $.event.data.ip }}"
`,
  waits: `name: Catalogue waits
trigger: { type: on_demand }
steps:
  - id: hold
    kind: wait
    duration: 1h
`,
};

/**
 * The whole Orchestrate Open API catalogue (A1–W3 in the reference), over a real HTTP listener,
 * signed as the reference's Python sample signs: every endpoint once or more, `link.next` followed
 * after signing again, and every response field the reference lists checked for presence and type.
 * Field problems are collected per group and asserted at its end, so one missing field does not
 * hide the rest of the walk.
 */
describe('Orchestrate Open API: the whole catalogue, signed as the reference signs', () => {
  let t: TestApp;
  let worker: Worker;
  let base = '';
  let api: OpenApiClient;
  const started = Math.floor(Date.now() / 1000) - 5;
  const ids = {
    child: '',
    enrich: '',
    labelled: '',
    waits: '',
    tag: '',
    snippet: '',
    template: '',
    list: '',
    token: '',
    seedEvent: '',
  };
  const snippetCode = "return inputs.url.replaceAll('.', '[.]');";
  const templateBody = '<p>Hello {{user}}, please look at {{ticket}}.</p>';

  /** A webhook URL (§5.10): `events/` answers detailed events, `v2/events/` concise ones. */
  const hookUrl = (prefix: string, path: string, token = ids.token): string =>
    `${base}/soarapi/webhooks_auth/${prefix}${path}?token=${encodeURIComponent(token)}`;

  /** Follows an export's file_url as given (it is presigned: no signature added) to its JSON content. */
  async function download(exported: Reply): Promise<unknown> {
    const fileUrl = String(o(exported.body).file_url);
    assert.ok(fileUrl.startsWith(`${base}/`), `file_url is on this server: ${fileUrl}`);
    const file = await http(fileUrl);
    assert.equal(file.status, 200, file.text);
    assert.match(file.headers.get('content-disposition') ?? '', /^attachment/);
    return JSON.parse(file.text);
  }

  const noProblems = (problems: string[]): void => {
    const unique = [...new Set(problems)];
    assert.equal(unique.length, 0, `fields the reference lists:\n${unique.join('\n')}`);
  };

  before(async () => {
    // Export links (P9, P10, E6) are built on OSPREY_PUBLIC_URL: the listener's own address here.
    const port = await freePort();
    t = await startTestApp({
      env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8', OSPREY_PUBLIC_URL: `http://127.0.0.1:${port}` },
    });
    worker = new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
      pollMs: 20,
      concurrency: 10,
    });
    await worker.start();
    base = await t.app.listen({ port, host: '127.0.0.1' });
    api = new OpenApiClient(base, t.owner);

    ids.list = await created(t, '/v1/lists', 'list', { title: 'Catalogue IPs', slug: 'catalogue_ips' });
    const tag = { title: 'triage', description: 'Tier 1 triage', color: '#1E88E5' };
    ids.tag = await created(t, '/v1/tags', 'tag', tag);
    await created(t, '/v1/tags', 'tag', { title: 'containment', description: 'Blocks', color: '#E53935' });
    const snippet = {
      title: 'Defang URL',
      description: 'Defangs',
      code: snippetCode,
      language: 'javascript',
    };
    ids.snippet = await created(t, '/v1/code-snippets', 'snippet', snippet);
    await created(t, '/v1/code-snippets', 'snippet', { title: 'Noop', code: 'return null;' });
    const template = {
      title: 'Escalation',
      description: 'To tier 2',
      subject: 'Escalation',
      body: templateBody,
    };
    ids.template = await created(t, '/v1/email-templates', 'template', template);
    await created(t, '/v1/email-templates', 'template', { title: 'Closure', body: '<p>Closed</p>' });
    ids.child = await publish(t, WORKFLOWS.child);
    ids.enrich = await publish(t, WORKFLOWS.enrich);
    ids.labelled = await publish(t, WORKFLOWS.labelled);
    ids.waits = await publish(t, WORKFLOWS.waits);
    ids.token = String(o((await native(t, 'POST', '/v1/event-webhooks', { title: 'CTIX' })).webhook).token);
    // A run and an event from the start, so no group depends on another having run. The run is
    // not awaited here: a run stuck on its sub-playbook fails the P group, not every group.
    await native(t, 'POST', `/v1/workflows/${ids.enrich}/executions`, { inputs: { ip: '192.0.2.1' } });
    const seedEvent = { title: 'Seed event', app_identifier: 'splunk', action_identifier: 'notable' };
    ids.seedEvent = await created(t, '/v1/events', 'event', { ...seedEvent, data: { ip: '192.0.2.2' } });
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  it('A1–A2: signs as the Python sample, checks connectivity and the release version', async () => {
    // The helper reproduces the seed's generate_signature() byte for byte.
    const q = new URLSearchParams(sign(SEED_VECTOR.key, 30, SEED_VECTOR.nowMs));
    assert.equal(q.get('AccessID'), SEED_VECTOR.key.client_id);
    assert.equal(q.get('Expires'), SEED_VECTOR.expires);
    assert.equal(q.get('Signature'), SEED_VECTOR.signature);
    assert.match(sign(SEED_VECTOR.key, 30, SEED_VECTOR.nowMs), /Signature=J2Brf6OnvagMXtioE2MaW4dmAJE%3D$/);

    const ping = await api.get('v1/test_connectivity/');
    assert.equal(ping.status, 200, ping.text);
    assert.deepEqual(ping.body, { status: 'ok' });
    const version = await api.get('v1/release_version/');
    assert.equal(version.status, 200, version.text);
    assert.deepEqual(version.body, { release_version: OSPREY_VERSION });
  });

  it('I1–I11: apps, instances, actions, execute, download and import', async () => {
    const problems: string[] = [];
    const apps = await api.walk('v1/integrations/apps/', { page_size: '5' }, APP, problems);
    assert.ok(apps.pages > 1, 'the app list spans pages');
    const httpApp = apps.results.find((a) => a.app_identifier === 'http');
    assert.ok(httpApp, 'the http app is listed');
    const appId = String(httpApp.unique_id);

    const detail = await api.get(`v1/integrations/apps/${appId}/`);
    assert.equal(detail.status, 200, detail.text);
    conform(detail.body, { ...APP, actions_data: [ACTION], appinstance_set_data: 'array' }, 'I2', problems);

    const made = await api.post('v1/integrations/app-instances/', {
      title: 'Catalogue Instance',
      app_unique_id: appId,
      description: 'for the catalogue walk',
      is_default: true,
    });
    assert.equal(made.status, 201, made.text);
    conform(made.body, INSTANCE, 'I4', problems);
    const instance = o(made.body);
    assert.equal(instance.slug, 'catalogue_instance');
    assert.equal(instance.connectivity_status, 'UNTESTED');

    const instances = await api.walk(
      'v1/integrations/app-instances/',
      { app_unique_id: appId },
      INSTANCE,
      problems,
    );
    assert.deepEqual(
      instances.results.map((i) => i.unique_id),
      [instance.unique_id],
    );
    const one = await api.get(`v1/integrations/apps-instances/${String(instance.unique_id)}/`);
    assert.equal(one.status, 200, one.text);
    conform(one.body, INSTANCE, 'I5', problems);
    const tested = await api.get(
      `v1/integrations/apps-instances/test-connectivity/${String(instance.unique_id)}/`,
    );
    assert.equal(tested.status, 200, tested.text);
    conform(tested.body, INSTANCE_TEST, 'I6', problems);
    assert.ok(['SUCCESS', 'FAIL'].includes(String(o(tested.body).connectivity_status)));

    const actions = await api.walk(
      'v1/integrations/app-actions/',
      { app_unique_id: appId, page_size: '1' },
      ACTION,
      problems,
    );
    const request = actions.results.find((a) => a.action_identifier === 'request');
    assert.ok(request, 'the http app has a request action');
    const action = await api.get(`v1/integrations/app-actions/${String(request.unique_id)}/`);
    assert.equal(action.status, 200, action.text);
    conform(action.body, ACTION, 'I8', problems);
    assert.equal(o(action.body).action_identifier, 'request');

    const executed = await api.post('v1/integrations/actions/execute/', {
      app_identifier: 'http',
      action_identifier: 'request',
      action_params: { url: `${base}/healthz` },
      app_instance_slug: 'catalogue_instance',
    });
    assert.equal(executed.status, 200, executed.text);
    conform(executed.body, EXECUTE, 'I9', problems);
    assert.equal(o(executed.body).execution_status, 'SUCCESS', executed.text);
    assert.deepEqual(o(o(o(executed.body).result).result).api_object, { status: 'ok' });

    const download = await api.get(`v1/integrations/apps/download/${String(httpApp.app_slug)}/`);
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'application/zip');
    assert.equal(download.raw.subarray(0, 2).toString(), 'PK');

    const manifest = `manifest_version: 1
identifier: catalogue_feed
version: 1.2.3
title: Catalogue feed
configuration: { base_url: { title: URL, type: url, required: true } }
base_url: "{{ $config.base_url }}"
actions:
  check:
    title: Check
    parameters: { type: object, required: [ip], properties: { ip: { type: string } } }
    request: { path: /check, query: { ip: "{{ $params.ip }}" } }
`;
    const zip = writePackage(new Map([['manifest.yaml', manifest]]));
    const form = new FormData();
    form.append('module', new Blob([zip], { type: 'application/zip' }), 'catalogue.zip');
    const imported = await http(api.url('v1/integrations/apps/import/'), { method: 'POST', body: form });
    assert.equal(imported.status, 200, imported.text);
    conform(imported.body, { ...APP, actions_data: [ACTION], connector_code: 'string' }, 'I11', problems);
    const app = o(imported.body);
    assert.equal(app.app_identifier, 'catalogue_feed');
    assert.equal(app.is_system, false);
    const back = await api.get(`v1/integrations/apps/download/${String(app.app_slug)}/`);
    assert.equal(back.status, 200);
    assert.ok(back.raw.equals(zip), 'the package downloads back unchanged');
    noProblems(problems);
  });

  it('T1–T2: custom email templates', async () => {
    const problems: string[] = [];
    const all = await api.walk('v1/custom-templates/', { page_size: '1' }, CATALOGUE_ITEM, problems);
    assert.equal(all.count, 2);
    assert.ok(
      all.results.every((r) => !('template_body' in r)),
      'list items carry no body',
    );
    const found = await api.get('v1/custom-templates/', { q: 'Escalation' });
    assert.deepEqual(
      (found.body as Paged).results.map((r) => r.unique_id),
      [ids.template],
    );
    const detail = await api.get(`v1/custom-templates/${ids.template}/`);
    assert.equal(detail.status, 200, detail.text);
    conform(detail.body, { ...CATALOGUE_ITEM, template_body: 'string' }, 'T2', problems);
    assert.equal(o(detail.body).template_body, templateBody);
    noProblems(problems);
  });

  it('C1–C2: code snippets with their code', async () => {
    const problems: string[] = [];
    const all = await api.walk('v1/code-snippets/', { page_size: '1' }, CATALOGUE_ITEM, problems);
    assert.equal(all.count, 2);
    const found = await api.get('v1/code-snippets/', { q: 'Defang' });
    assert.deepEqual(
      (found.body as Paged).results.map((r) => r.unique_id),
      [ids.snippet],
    );
    const detail = await api.get(`v1/code-snippets/${ids.snippet}/`);
    assert.equal(detail.status, 200, detail.text);
    conform(detail.body, { ...CATALOGUE_ITEM, code: 'string' }, 'C2', problems);
    assert.equal(o(detail.body).code, snippetCode);
    noProblems(problems);
  });

  it('G1–G2: tags with playbook_count', async () => {
    const problems: string[] = [];
    const all = await api.walk('v1/tags/', { page_size: '1', ordering: 'title' }, TAG, problems);
    assert.deepEqual(
      all.results.map((r) => r.title),
      ['containment', 'triage'],
    );
    const reversed = await api.get('v1/tags/', { ordering: '-title' });
    assert.deepEqual(
      (reversed.body as Paged).results.map((r) => r.title),
      ['triage', 'containment'],
    );
    const recent = await api.get('v1/tags/', { modified__gte: String(started) });
    assert.equal((recent.body as Paged).count, 2);
    const detail = await api.get(`v1/tags/${ids.tag}/`);
    assert.equal(detail.status, 200, detail.text);
    conform(detail.body, TAG, 'G2', problems);
    assert.equal(o(detail.body).playbook_count, 1, 'Catalogue enrich carries the tag');
    assert.equal(all.results.find((r) => r.title === 'containment')?.playbook_count, 0);
    noProblems(problems);
  });

  it('S1–S7: persistent lists: list, create, read, update, slugs, playbooks, count, delete', async () => {
    const problems: string[] = [];
    const made = await api.post('v1/storage-manager/', {
      title: 'Catalogue domains',
      storage_manager_data: { data: { bad: ['evil.example'] } },
    });
    assert.equal(made.status, 201, made.text);
    conform(made.body, PERSISTENT_LIST_DETAIL, 'S2', problems);
    const listId = String(o(made.body).unique_id);
    assert.match(String(o(made.body).readable_id), /^PL\d+$/);

    const all = await api.walk('v1/storage-manager/', { page_size: '1' }, PERSISTENT_LIST, problems);
    assert.equal(all.count, 2);
    assert.ok(
      all.results.every((r) => !('storage_manager_data' in r)),
      'list items carry no data',
    );
    const detail = await api.get(`v1/storage-manager/${listId}/`);
    assert.equal(detail.status, 200, detail.text);
    conform(detail.body, PERSISTENT_LIST_DETAIL, 'S3', problems);
    assert.deepEqual(o(o(detail.body).storage_manager_data).data, { bad: ['evil.example'] });

    const updated = await api.send('PUT', `v1/storage-manager/${listId}/`, {
      title: 'Catalogue bad domains',
      storage_manager_data: { data: { bad: ['evil.example', 'worse.example'] } },
    });
    assert.equal(updated.status, 200, updated.text);
    conform(updated.body, PERSISTENT_LIST, 'S4 update', problems);
    assert.equal(o(updated.body).title, 'Catalogue bad domains');

    const slugs = await api.walk(
      'v1/storage-manager/slugs/',
      { page_size: '1' },
      { title: 'string', unique_id: 'string', slug: 'string' },
      problems,
    );
    assert.deepEqual(slugs.results.map((s) => s.slug).sort(), ['catalogue_domains', 'catalogue_ips']);

    const used = await api.walk(
      `v1/storage-manager/${ids.list}/playbooks/`,
      {},
      {
        unique_id: 'string',
        title: 'string',
        readable_id: 'string',
        description: 'string',
        schedule_info: 'any',
      },
      problems,
    );
    assert.deepEqual(
      used.results.map((w) => w.unique_id),
      [ids.enrich],
    );
    const count = await api.get(`v1/storage-manager/${ids.list}/playbook-count/`);
    assert.equal(count.status, 200, count.text);
    assert.deepEqual(count.body, { result: { count: 1 } });

    const refused = await api.send('PUT', `v1/storage-manager/${ids.list}/`, { is_removed: true });
    assert.equal(refused.status, 400, refused.text);
    assert.deepEqual(refused.body, {
      result: { non_field_error: 'This persistent list has associated playbooks' },
      status_code: 400,
    });
    const removed = await api.send('PUT', `v1/storage-manager/${listId}/`, { is_removed: 'true' });
    assert.equal(removed.status, 200, removed.text);
    assertOpenError(await api.get(`v1/storage-manager/${listId}/`), 404, /_NOT_FOUND$/);
    noProblems(problems);
  });

  it('P1–P11: playbooks, export, runs with data, event and runLog, run logs and their filters, exports, terminate', async () => {
    const problems: string[] = [];
    // P1 and P2.
    const active = await api.walk(
      'v1/playbook/',
      { page_size: '2' },
      { ...PLAYBOOK_SUMMARY, priority: 'string' },
      problems,
    );
    assert.equal(active.count, 4);
    const titles = async (query: Record<string, string>): Promise<unknown[]> =>
      ((await api.get('v1/playbook/', query)).body as Paged).results.map((r) => r.title);
    assert.deepEqual(await titles({ labels: 'catalogue-label' }), ['Catalogue on event']);
    assert.deepEqual(await titles({ tags: ids.tag }), ['Catalogue enrich']);
    assert.deepEqual(await titles({ apps: 'lists' }), ['Catalogue enrich']);
    const enrichSummary = active.results.find((r) => r.unique_id === ids.enrich)!;
    assert.match(String(enrichSummary.readable_id), /^PLB\d+$/);
    assert.deepEqual(o(enrichSummary).tags_data, [
      { unique_id: ids.tag, title: 'triage', description: 'Tier 1 triage', color: '#1E88E5' },
    ]);
    const filtered = await api.walk(
      'v1/playbook/filter/',
      { unique_id: ids.enrich },
      PLAYBOOK_SUMMARY,
      problems,
    );
    assert.deepEqual(
      filtered.results.map((r) => r.unique_id),
      [ids.enrich],
    );

    // P3: the playbook model.
    const exported = await api.get(`v1/playbook/export/${ids.enrich}/`);
    assert.equal(exported.status, 200, exported.text);
    conform(exported.body, PLAYBOOK_EXPORT, 'P3', problems);
    const pb = exported.body as {
      start_node: string;
      nodes: Record<string, { type: string; internal_id: string; sub_type: string; actions: Obj[] }>;
      edges: { source_node: string; destination_node: string; label: string }[];
    };
    for (const [key, node] of Object.entries(pb.nodes)) {
      conform(node, PLAYBOOK_NODE, `P3 nodes.${key}`, problems);
      assert.equal(node.internal_id, key, 'nodes are keyed by internal_id');
    }
    assert.equal(pb.nodes[pb.start_node]?.type, 'START');
    const bySubType = (s: string) => Object.values(pb.nodes).filter((n) => n.sub_type === s);
    const storage = bySubType('STORAGE');
    assert.equal(storage.length, 1, 'the lists.put step is a STORAGE node');
    conform(storage[0]!.actions[0], PREDEFINED_ACTION, 'P3 STORAGE node actions[0]', problems);
    assert.equal(o(storage[0]!.actions[0]).action, 'put');
    assert.equal(o(o(storage[0]!.actions[0]).action_data).app, 'lists');
    assert.equal(bySubType('PLAYBOOK').length, 1, 'the call_workflow step is a PLAYBOOK node');
    const [condition] = bySubType('EXPRESSION_BASED');
    assert.ok(condition, 'the if step is an EXPRESSION_BASED node');
    assert.equal(Object.values(pb.nodes).filter((n) => n.type === 'REGULAR').length, 4);
    for (const e of pb.edges) {
      assert.ok(e.source_node in pb.nodes && e.destination_node in pb.nodes, JSON.stringify(e));
    }
    assert.ok(pb.edges.some((e) => e.source_node === 'start' && e.label === 'DEFAULT_LABEL'));
    assert.ok(pb.edges.some((e) => e.source_node === condition.internal_id && e.label === 'TRUE'));

    // P4 with data, then with runLog (the first run's input), then with a stored event.
    const run = await api.post('v1/playbook/run/', {
      playbook_unique_id: ids.enrich,
      data: { ip: '203.0.113.9' },
    });
    assert.equal(run.status, 200, run.text);
    conform(run.body, { playbook_result_unique_id: 'string' }, 'P4', problems);
    const runId = String(o(run.body).playbook_result_unique_id);
    const detail = await api.runLog(runId);
    assert.equal(detail.status, 'SUCCESS', JSON.stringify(detail));
    conform(detail, RUN_LOG_DETAIL, 'P7', problems);
    assert.match(String(detail.readable_id), /^RL/);
    assert.equal(detail.source, 'User');
    assert.deepEqual(detail.initial_params, { ip: '203.0.113.9' });
    assert.equal(o(detail.playbook_data).unique_id, ids.enrich);
    if ((detail.playbook_summary as unknown[]).length === 0)
      problems.push('P7.playbook_summary: empty for a run of a playbook that uses the lists app');
    const nodes = detail.nodes_results as (Obj & { node_data: Obj })[];
    assert.equal(nodes[0]!.node_data.type, 'START');
    const bad = nodes.find((n) => n.result === 'malicious');
    const remember = nodes.find((n) => n.node_data.sub_type === 'STORAGE');
    assert.ok(bad && remember, JSON.stringify(nodes));

    const rerun = await api.post('v1/playbook/run/', { playbook_unique_id: ids.enrich, runLog: runId });
    assert.equal(rerun.status, 200, rerun.text);
    const rerunDetail = await api.runLog(String(o(rerun.body).playbook_result_unique_id));
    assert.equal(rerunDetail.status, 'SUCCESS');
    assert.deepEqual(rerunDetail.initial_params, { ip: '203.0.113.9' }, 'runLog reuses the input');

    const byEvent = await api.post('v1/playbook/run/', {
      playbook_unique_id: ids.labelled,
      event: ids.seedEvent,
    });
    assert.equal(byEvent.status, 200, byEvent.text);
    const eventDetail = await api.runLog(String(o(byEvent.body).playbook_result_unique_id));
    assert.equal(eventDetail.status, 'SUCCESS', JSON.stringify(eventDetail));
    assert.equal(o(eventDetail.event_data).unique_id, ids.seedEvent);
    assert.ok((eventDetail.nodes_results as Obj[]).some((n) => n.result === '192.0.2.2'));

    // P5 and its filters; P6.
    const logs = await api.walk(
      'v1/playbook/playbook-result/',
      { page_size: '2' },
      { ...RUN_LOG_SUMMARY, playbook_title: 'string' },
      problems,
    );
    assert.ok(logs.count >= 7, `seed, three runs, three sub-playbook runs: ${logs.count}`);
    const page = async (query: Record<string, string>): Promise<Paged> => {
      const r = await api.get('v1/playbook/playbook-result/', { page_size: '100', ...query });
      assert.equal(r.status, 200, r.text);
      return r.body as Paged;
    };
    const succeeded = await page({ status: 'SUCCESS' });
    assert.ok(succeeded.count >= 7 && succeeded.results.every((r) => r.status === 'SUCCESS'));
    const ofEnrich = await page({ playbook: ids.enrich });
    assert.equal(ofEnrich.count, 3, 'the seed run, the run and the re-run');
    assert.ok(ofEnrich.results.every((r) => o(r.playbook_data).unique_id === ids.enrich));
    const top = await page({ source_playbook_result__is_null: 'true' });
    const subs = await page({ source_playbook_result__is_null: 'false' });
    assert.equal(top.count + subs.count, logs.count);
    assert.ok(top.results.every((r) => Object.keys(o(r.source_playbook_result_data)).length === 0));
    assert.equal(subs.count, 3);
    assert.ok(
      subs.results.every((r) => r.source === 'Playbook' && o(r.playbook_data).unique_id === ids.child),
    );
    assert.ok(subs.results.some((r) => o(r.source_playbook_result_data).unique_id === runId));
    assert.equal((await page({ run_at__gte: String(started + 3600) })).count, 0);
    assert.equal((await page({ run_at__gte: String(started) })).count, logs.count);
    const createdTimes = (p: Paged): number[] => p.results.map((r) => Date.parse(String(r.created)));
    const ascending = createdTimes(await page({ ordering: 'created' }));
    assert.deepEqual(
      ascending,
      [...ascending].sort((a, b) => a - b),
    );
    const descending = createdTimes(await page({ ordering: '-created' }));
    assert.deepEqual(
      descending,
      [...descending].sort((a, b) => b - a),
    );
    const p6 = await api.walk(
      'v1/playbook/playbook-result/filter/',
      { playbook: ids.enrich, page_size: '1' },
      RUN_LOG_SUMMARY,
      problems,
    );
    assert.deepEqual(
      p6.results.map((r) => r.unique_id).sort(),
      ofEnrich.results.map((r) => r.unique_id).sort(),
    );

    // P8, P9, P10: a node result, and presigned-style exports that download the content.
    const node = await api.get(`v1/playbook/node-results/${String(bad.unique_id)}/`);
    assert.equal(node.status, 200, node.text);
    conform(node.body, NODE_RESULT, 'P8', problems);
    assert.equal(o(node.body).result, 'malicious');
    const runExport = await api.get(`v1/playbook/playbook-result/export/${runId}/`, {
      field: 'initial_params',
    });
    assert.equal(runExport.status, 200, runExport.text);
    conform(runExport.body, FILE_URL, 'P9', problems);
    assert.deepEqual(await download(runExport), { ip: '203.0.113.9' });
    const nodeExport = await api.get(`v1/playbook/node-results/export/${String(remember.unique_id)}/`, {
      field: 'result',
    });
    assert.equal(nodeExport.status, 200, nodeExport.text);
    conform(nodeExport.body, FILE_URL, 'P10', problems);
    assert.deepEqual(await download(nodeExport), remember.result);

    // P11.
    const waiting: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await api.post('v1/playbook/run/', { playbook_unique_id: ids.waits, data: { n: i } });
      assert.equal(r.status, 200, r.text);
      waiting.push(String(o(r.body).playbook_result_unique_id));
    }
    for (const id of waiting) await api.runLog(id, (r) => r.status === 'WAITING');
    const terminated = await api.post('v1/playbook/playbook-result/bulk-terminate/', {
      playbook_result_unique_ids: waiting,
    });
    assert.equal(terminated.status, 200, terminated.text);
    for (const id of waiting) await api.runLog(id, (r) => r.status === 'TERMINATED');
    noProblems(problems);
  });

  it('E1–E6: configured triggers (201, then 200), detailed and concise events, list, detail, export', async () => {
    const problems: string[] = [];
    const trigger = {
      labels: ['catalogue-label'],
      app_identifier: 'CTIX',
      action_identifier: 'ctix_submission',
    };
    const configured = await api.post('v1/webhooks/data-labels/', trigger);
    assert.equal(configured.status, 201, configured.text);
    conform(configured.body, TRIGGER, 'E5', problems);
    assert.deepEqual(o(configured.body).labels, ['catalogue-label']);
    const again = await api.post('v1/webhooks/data-labels/', trigger);
    assert.equal(again.status, 200, again.text);
    assert.equal(o(again.body).unique_id, o(configured.body).unique_id);

    const body = {
      title: 'IP submitted',
      app_identifier: 'CTIX',
      action_identifier: 'ctix_submission',
      data: { ip: '198.51.100.4' },
      extra_data: { analyst: 'tier1' },
    };
    const detailed = await api.post('v1/events/', body);
    assert.equal(detailed.status, 201, detailed.text);
    conform(detailed.body, EVENT_DETAIL, 'E1', problems);
    const event = detailed.body as Obj & { playbook_result_unique_ids: string[] };
    assert.match(String(event.readable_id), /^TE/);
    assert.equal(event.source, 'Openapi');
    assert.deepEqual(event.labels, ['catalogue-label']);
    assert.equal(event.processed, true);
    assert.deepEqual(event.data, body.data);
    const ran = await api.runLog(event.playbook_result_unique_ids[0]!);
    assert.equal(ran.status, 'SUCCESS');
    assert.equal(o(ran.event_data).unique_id, event.unique_id);

    const concise = await api.post('v2/events/', { ...body, title: 'IP submitted (v2)' });
    assert.equal(concise.status, 201, concise.text);
    conform(concise.body, EVENT_CONCISE, 'E2', problems);
    assert.ok(!('data' in o(concise.body)), 'v2 answers the concise event');

    const all = await api.walk('v1/events/', { page_size: '1' }, EVENT_LIST_ITEM, problems);
    assert.equal(all.count, 3, 'the seed event, v1 and v2');
    const labelled = await api.get('v1/events/', { labels: 'catalogue-label' });
    assert.deepEqual(
      (labelled.body as Paged).results.map((r) => r.unique_id).sort(),
      [event.unique_id, o(concise.body).unique_id].sort(),
    );
    const searched = await api.get('v1/events/', { q: 'IP submitted (v2)' });
    assert.equal((searched.body as Paged).count, 1);

    const one = await api.get(`v1/events/${String(event.unique_id)}/`);
    assert.equal(one.status, 200, one.text);
    conform(one.body, EVENT_DETAIL, 'E4', problems);
    assert.deepEqual(o(one.body).extra_data, body.extra_data);

    for (const field of ['data', 'extra_data'] as const) {
      const exported = await api.get(`v1/events/export/${String(event.unique_id)}/`, { field });
      assert.equal(exported.status, 200, exported.text);
      conform(exported.body, FILE_URL, `E6 ${field}`, problems);
      assert.deepEqual(await download(exported), body[field]);
    }
    noProblems(problems);
  });

  it('W1–W3: webhook URLs with a token, v1 (detailed) and v2 (concise)', async () => {
    const problems: string[] = [];
    for (const [version, prefix, shape] of [
      ['v1', 'events/', EVENT_DETAIL],
      ['v2', 'v2/events/', EVENT_CONCISE],
    ] as const) {
      const ping = await http(hookUrl(prefix, 'test_connectivity/'));
      assert.equal(ping.status, 200, ping.text);
      assert.deepEqual(ping.body, { status: 'ok' });

      const w2 = await sendJson(hookUrl(prefix, 'CTIX/ctix_submission/'), {
        title: `W2 ${version}`,
        data: { ip: '203.0.113.50' },
      });
      assert.equal(w2.status, 201, w2.text);
      conform(w2.body, shape, `W2 ${version}`, problems);
      assert.equal(o(w2.body).source, 'Webhooks');
      assert.equal(o(w2.body).app_identifier, 'CTIX');
      assert.equal(o(w2.body).action_identifier, 'ctix_submission');

      const w3 = await sendJson(hookUrl(prefix, ''), {
        title: `W3 ${version}`,
        app_identifier: 'splunk',
        action_identifier: 'notable',
        data: { ip: '203.0.113.51' },
      });
      assert.equal(w3.status, 201, w3.text);
      conform(w3.body, shape, `W3 ${version}`, problems);
      assert.equal(o(w3.body).app_identifier, 'splunk');
      assert.equal('data' in o(w3.body), version === 'v1', `${version}: detailed or concise`);
      const stored = await api.get(`v1/events/${String(o(w3.body).unique_id)}/`);
      assert.deepEqual(o(stored.body).data, { ip: '203.0.113.51' });
    }
    const refused = await http(hookUrl('events/', 'test_connectivity/', 'not-a-token'));
    assertOpenError(refused, 401, /^(UNAUTHENTICATED|WEBHOOK_UNAUTHORIZED)$/);
    noProblems(problems);
  });

  it('N1: all thirteen categorize_by values, with the right shape', async () => {
    const problems: string[] = [];
    const range = {
      created__gte: String(started - 60),
      created__lte: String(Math.ceil(Date.now() / 1000) + 60),
    };
    const series = [
      'playbook_run_count',
      'most_active_playbooks',
      'playbook_avg_execution_time',
      'most_used_instances',
      'most_used_apps',
      'most_used_actions',
      'most_active_actions',
      'most_active_apps',
      'most_active_instances',
      'event_count',
      'incoming_source_of_events',
    ];
    for (const metric of series) {
      const r = await api.get('v1/analytics/data-source/', { categorize_by: metric, ...range });
      assert.equal(r.status, 200, `${metric}: ${r.text}`);
      conform(r.body, { data: [METRIC_POINT] }, `N1 ${metric}`, problems);
      assert.ok(
        ((r.body as { data: unknown[] }).data ?? []).length > 0,
        `${metric} has data after runs and events: ${r.text}`,
      );
    }
    const runCount = (
      await api.get('v1/analytics/data-source/', { categorize_by: 'playbook_run_count', ...range })
    ).body as {
      data: { label: string; value: number }[];
    };
    assert.match(runCount.data[0]!.label, /^[A-Z][a-z]{2} \d{1,2}, \d{4}$/, 'a day, as "Dec 22, 2021"');
    const apps = (await api.get('v1/analytics/data-source/', { categorize_by: 'most_used_apps', ...range }))
      .body as {
      data: { label: string }[];
    };
    assert.ok(
      apps.data.some((d) => d.label === 'Persistent lists 1.0.0'),
      `the lists app, as "<title> <version>": ${JSON.stringify(apps.data)}`,
    );
    for (const metric of ['unprocessed_events', 'events_with_error']) {
      const r = await api.get('v1/analytics/data-source/', { categorize_by: metric, ...range });
      assert.equal(r.status, 200, `${metric}: ${r.text}`);
      conform(r.body, { data: METRIC_RATIO }, `N1 ${metric}`, problems);
      const d = o(o(r.body).data);
      assert.ok(Number(d.value) <= Number(d.total_value));
      assert.ok(Number(d.total_value) >= 1);
    }
    noProblems(problems);
  });
});

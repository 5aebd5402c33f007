import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { AUDIT_ACTIONS } from '../src/domain/audit-actions.js';
import type { ActorType } from '../src/domain/audit-actions.js';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
}

interface AuditEntry {
  id: string;
  timestamp: string;
  email: string;
  actor_type: string;
  action: string;
  resource_id: string;
  resource_name: string;
  ip: string;
}

interface ActivityEntry {
  id: string;
  timestamp: string;
  execution_id: string | null;
}

interface Window {
  start_time: string;
  end_time: string;
}

const SEEDED = 3100;
const ACTIONS = [
  AUDIT_ACTIONS.workflowCreated,
  AUDIT_ACTIONS.workflowPublished,
  AUDIT_ACTIONS.secretUpdated,
  AUDIT_ACTIONS.variableCreated,
  AUDIT_ACTIONS.apiKeyEnabled,
  AUDIT_ACTIONS.integrationUpdated,
  AUDIT_ACTIONS.userLoggedIn,
] as const;
const ACTOR_TYPES: ActorType[] = ['api_key', 'web_app', 'system'];
const RESOURCE_IDS = [
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0001',
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0002',
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0003',
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0004',
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0005',
  '0b6f5a0e-7d55-4a43-9a35-1c2f8e6e0006',
];

/** The nth seeded entry's actor and resource: varied so that each search filter picks a different set. */
function seedFields(i: number): {
  actor: { type: ActorType; email: string; name: string; ip: string; userAgent: string };
  event: { action: (typeof ACTIONS)[number]; resourceId: string; resourceName: string };
} {
  const who = i % 4;
  return {
    actor: {
      type: ACTOR_TYPES[i % 3]!,
      // One spelling in capitals: the email filter is case-insensitive.
      email: who === 1 && i % 2 === 0 ? 'Analyst1@Example.COM' : `analyst${who}@example.com`,
      name: `Analyst ${who}`,
      ip: `198.51.100.${i % 5}`,
      userAgent: 'seed',
    },
    event: {
      action: ACTIONS[i % 7]!,
      resourceId: RESOURCE_IDS[i % 6]!,
      resourceName: i === 777 ? 'the-only-one' : `resource-${i % 9}`,
    },
  };
}

/**
 * The shipped "Collect audit logs" and "Search audit logs" templates, installed through the API and
 * run by a worker; their osprey integration calls this same server over a real port, so every page
 * goes through the audit and activity log APIs and their page tokens.
 */
describe('templates: collect audit logs, search audit logs', () => {
  let t: TestApp;
  let worker: Worker;
  let base: string;
  let collectId: string;
  let searchId: string;
  /** The window holding exactly the seeded audit entries, and their ids in order. */
  let auditWindow: Window;
  let seededIds: string[];
  /** The listing of that window straight from the API: what the workflows must return. */
  let auditListing: AuditEntry[];

  async function integration(name: string, key: KeyPair, as?: KeyPair): Promise<void> {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: {
        name,
        app: 'osprey',
        configuration: { base_url: base, client_id: key.client_id, client_secret: key.client_secret },
      },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
  }

  async function install(
    name: string,
    parameters: Record<string, unknown>,
    as?: KeyPair,
  ): Promise<{ id: string; name: string }[]> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/templates/${name}/install`,
      payload: { parameters },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json() as {
      workflows: { id: string; name: string; published_revision_id: string | null }[];
    };
    for (const w of body.workflows) assert.ok(w.published_revision_id, `${w.name} is published`);
    return body.workflows;
  }

  async function createWorkflow(yaml: string, as?: KeyPair): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: { yaml },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { workflow: { id: string } }).workflow.id;
  }

  /** Starts a run (the published revision when there is one) and waits for it to end. */
  async function run(workflowId: string, inputs: unknown, as?: KeyPair): Promise<Execution> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflowId}/executions`,
      payload: { inputs },
      ...(as && { as }),
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
    const id = (res.json() as { execution: { id: string } }).execution.id;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const got = await t.request({ method: 'GET', url: `/v1/executions/${id}`, ...(as && { as }) });
      const ex = (got.json() as { execution: Execution }).execution;
      if (['succeeded', 'failed', 'cancelled'].includes(ex.status)) return ex;
      assert.ok(Date.now() < deadline, `execution ${id} still ${ex.status}`);
      await sleep(50);
    }
  }

  function succeeded(ex: Execution): unknown {
    assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error));
    return ex.output;
  }

  /** Every entry of a window straight from the API, oldest first, following page tokens. */
  async function listAll<T>(log: 'audit' | 'activity', w: Window, as?: KeyPair): Promise<T[]> {
    const url = log === 'audit' ? '/v1/audit-logs' : '/v1/activity-logs';
    const field = log === 'audit' ? 'audit_logs' : 'activity_logs';
    const out: T[] = [];
    let query = `start_time=${encodeURIComponent(w.start_time)}&end_time=${encodeURIComponent(w.end_time)}&order=asc`;
    for (;;) {
      const res = await t.request({ method: 'GET', url: `${url}?${query}&page_size=500`, ...(as && { as }) });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as Record<string, unknown>;
      out.push(...(body[field] as T[]));
      if (typeof body.next_page_token !== 'string') return out;
      query = `page_token=${encodeURIComponent(body.next_page_token)}`;
    }
  }

  /** From `beforeTs` (exclusive) to 1 ms after `lastTs`, so the entry at `lastTs` is the last inside. */
  function windowOf(beforeTs: string, lastTs: string): Window {
    return { start_time: beforeTs, end_time: new Date(Date.parse(lastTs) + 1).toISOString() };
  }

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    worker = testWorker(t, { pollMs: 20, concurrency: 4 });
    await worker.start();

    await integration('osprey', t.owner);
    const collect = await install('collect-audit-logs', { integration: 'osprey' });
    assert.deepEqual(
      collect.map((w) => w.name),
      ['Collect audit logs'],
    );
    collectId = collect[0]!.id;
    const search = await install('search-audit-logs', { integration: 'osprey' });
    assert.deepEqual(
      search.map((w) => w.name),
      ['Search audit logs (collector)', 'Search audit logs'],
    );
    searchId = search[1]!.id;

    // The newest entry before the seed opens the window (start_time is exclusive).
    const newest = await t.request({ method: 'GET', url: '/v1/audit-logs?order=desc&page_size=1' });
    const beforeSeed = (newest.json() as { audit_logs: AuditEntry[] }).audit_logs[0]!.timestamp;
    await t.db.transaction(async (tx) => {
      for (let i = 0; i < SEEDED; i++) {
        const { actor, event } = seedFields(i);
        await t.services.audit.record(
          tx,
          { workspaceId: t.workspaceId, workspaceName: 'default', actor },
          event,
        );
      }
    });
    const rows = await t.db.rows<{ id: string; ts: string }>(
      `SELECT id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts
         FROM audit_logs WHERE workspace_id = $1 AND ts > $2::timestamptz ORDER BY seq`,
      [t.workspaceId, beforeSeed],
    );
    seededIds = rows.map((r) => r.id);
    assert.equal(seededIds.length, SEEDED);
    auditWindow = windowOf(beforeSeed, rows.at(-1)!.ts);
    await sleep(5); // later entries fall after the window's end
    auditListing = await listAll<AuditEntry>('audit', auditWindow);
    assert.deepEqual(
      auditListing.map((e) => e.id),
      seededIds,
    );
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  it('lists both templates with their parameters', async () => {
    const res = await t.request({ method: 'GET', url: '/v1/templates' });
    const templates = (res.json() as { templates: { name: string; parameters: Record<string, unknown> }[] })
      .templates;
    const collect = templates.find((x) => x.name === 'collect-audit-logs');
    assert.deepEqual(Object.keys(collect?.parameters ?? {}).sort(), ['integration', 'log']);
    const search = templates.find((x) => x.name === 'search-audit-logs');
    assert.deepEqual(Object.keys(search?.parameters ?? {}), ['integration']);
  });

  it('collects every audit entry of the time frame, oldest first, across pages and a nested call', async () => {
    // 3,100 entries: 7 pages of 500, so the first run reads 6 and calls itself for the 7th.
    const collected = succeeded(await run(collectId, auditWindow)) as AuditEntry[];
    assert.equal(collected.length, SEEDED);
    assert.deepEqual(
      collected.map((e) => e.id),
      seededIds,
    );
    assert.deepEqual(collected, auditListing);
    // The log parameter's default (audit) is the same as saying so.
    const explicit = succeeded(await run(collectId, { ...auditWindow, log: 'audit' })) as AuditEntry[];
    assert.deepEqual(explicit, auditListing);
  });

  it('continues from a page token, and pages through nested runs at a small page size', async () => {
    const first = await t.request({
      method: 'GET',
      url: `/v1/audit-logs?start_time=${encodeURIComponent(auditWindow.start_time)}&end_time=${encodeURIComponent(auditWindow.end_time)}&order=asc&page_size=500`,
    });
    const token = (first.json() as { next_page_token: string }).next_page_token;
    const rest = succeeded(await run(collectId, { ...auditWindow, page_token: token })) as AuditEntry[];
    assert.deepEqual(rest, auditListing.slice(500));

    // 100 per page: 31 pages, six runs deep.
    const small = succeeded(await run(collectId, { ...auditWindow, page_size: 100 })) as AuditEntry[];
    assert.deepEqual(small, auditListing);
  });

  it('collects at most 56 pages when run by hand, and fails clearly beyond rather than returning part', async () => {
    // One entry per page: a window of exactly n seeded entries needs n pages.
    const slice = (from: number, n: number): Window => ({
      start_time: auditListing[from - 1]!.timestamp,
      end_time: auditListing[from + n]!.timestamp,
    });
    const fits = succeeded(await run(collectId, { ...slice(100, 56), page_size: 1 })) as AuditEntry[];
    assert.deepEqual(
      fits.map((e) => e.id),
      seededIds.slice(100, 156),
    );
    const runs = await t.db.rows<{ depth: number | null }>(
      `SELECT (trigger->>'depth')::int AS depth FROM executions WHERE workflow_id = $1
         AND input->>'page_size' = '1' AND input->>'start_time' = $2 ORDER BY created_at`,
      [collectId, auditListing[99]!.timestamp],
    );
    assert.deepEqual(
      runs.map((r) => r.depth ?? 0),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      'eleven runs: the one started by hand and ten nested calls',
    );

    const tooMany = await run(collectId, { ...slice(100, 57), page_size: 1 });
    assert.equal(tooMany.status, 'failed');
    assert.equal(tooMany.error?.code, 'CHILD_FAILED');
    assert.equal(tooMany.error?.step_id, 'rest');
    assert.match(tooMany.error!.message, /workflows may nest at most 10 deep/);
  });

  it('is called by name from another workflow, which gets the array back', async () => {
    const caller = await createWorkflow(`name: Count audit entries
trigger: { type: on_demand }
steps:
  - id: logs
    kind: call_workflow
    workflow: Collect audit logs
    inputs: { start_time: "{{ $.event.start_time }}", end_time: "{{ $.event.end_time }}" }
  - id: done
    kind: exit
    output: { count: "{{ $count($.logs) }}", first: "{{ $.logs[0].id }}", last: "{{ $.logs[-1].id }}" }
`);
    const out = succeeded(await run(caller, auditWindow));
    assert.deepEqual(out, { count: SEEDED, first: seededIds[0], last: seededIds.at(-1) });
    // An empty time frame is an empty array, not null.
    const empty = succeeded(
      await run(collectId, { start_time: auditWindow.start_time, end_time: auditListing[0]!.timestamp }),
    );
    assert.deepEqual(empty, []);
  });

  it('collects the activity log, across pages', async () => {
    const seed = await createWorkflow(`name: Activity seed
trigger: { type: on_demand }
steps:
  - id: each
    kind: loop
    over: "{{ [1..650] }}"
    steps:
      - { id: touch, kind: transform, value: "{{ $item * 2 }}" }
  - { id: done, kind: exit, output: done }
`);
    await sleep(10);
    const start = new Date().toISOString();
    await sleep(10);
    const seedRun = await run(seed, {});
    succeeded(seedRun);
    await sleep(10);
    const w = { start_time: start, end_time: new Date().toISOString() };
    await sleep(10);
    const listing = await listAll<ActivityEntry>('activity', w);
    assert.ok(listing.length > 650, `the seed run wrote ${listing.length} activity entries`);
    assert.ok(
      listing.every((e) => e.execution_id === seedRun.id),
      'the window holds the seed run only',
    );

    const collected = succeeded(await run(collectId, { ...w, log: 'activity' })) as ActivityEntry[];
    assert.deepEqual(collected, listing);
    // 100 per page: 7 pages, the 7th from a nested run.
    const small = succeeded(await run(collectId, { ...w, log: 'activity', page_size: 100 }));
    assert.deepEqual(small, listing);
  });

  // A finished if/switch/parallel must restore its nested steps' outputs on replay (after a resume,
  // here from a nested call), or they read as null and a later if takes the other branch.
  it('keeps the outputs of steps nested in an if after the run resumes from a nested call', async () => {
    await createWorkflow(`name: Resume child
trigger: { type: nested }
steps:
  - { id: done, kind: exit, output: child }
`);
    const parent = await createWorkflow(`name: Resume parent
trigger: { type: on_demand }
steps:
  - id: wrap
    kind: if
    condition: "{{ true }}"
    then:
      - { id: inner, kind: transform, value: { token: abc } }
  - id: rest
    kind: if
    condition: "{{ $exists($.inner.token) }}"
    then:
      - { id: call, kind: call_workflow, workflow: Resume child }
  - id: done
    kind: exit
    output: { token: "{{ $.inner.token }}", child: "{{ $.call }}", branch: "{{ $.rest.branch }}" }
`);
    const ex = await run(parent, {});
    assert.deepEqual(succeeded(ex), { token: 'abc', child: 'child', branch: 'then' });
  });

  describe('search', () => {
    type Filters = Partial<Record<'action' | 'email' | 'actor_type' | 'ip' | 'resource', string>>;
    const same = (a: string, b: string | undefined): boolean =>
      b === undefined || a.toLowerCase() === b.toLowerCase();
    const matches = (e: AuditEntry, f: Filters): boolean =>
      same(e.action, f.action) &&
      same(e.email, f.email) &&
      same(e.actor_type, f.actor_type) &&
      same(e.ip, f.ip) &&
      (same(e.resource_id, f.resource) || same(e.resource_name, f.resource));

    const cases: [string, Filters][] = [
      ['action', { action: AUDIT_ACTIONS.workflowPublished }],
      ['email, in any case', { email: 'ANALYST1@example.com' }],
      ['actor type', { actor_type: 'system' }],
      ['source IP', { ip: '198.51.100.3' }],
      ['resource id', { resource: RESOURCE_IDS[2]! }],
      ['resource name', { resource: 'resource-4' }],
      [
        'several filters at once',
        { action: AUDIT_ACTIONS.secretUpdated, actor_type: 'web_app', ip: '198.51.100.1' },
      ],
    ];
    for (const [what, filters] of cases) {
      it(`filters by ${what}`, async () => {
        const expected = auditListing.filter((e) => matches(e, filters));
        assert.ok(expected.length > 0 && expected.length < auditListing.length, `${expected.length} match`);
        const found = succeeded(await run(searchId, { ...auditWindow, ...filters }));
        assert.deepEqual(found, expected);
      });
    }

    it('answers one match as a list of one, no match as an empty list, no filter as everything', async () => {
      const one = succeeded(
        await run(searchId, { ...auditWindow, resource: 'the-only-one' }),
      ) as AuditEntry[];
      assert.deepEqual(
        one.map((e) => e.id),
        [seededIds[777]],
      );
      assert.deepEqual(succeeded(await run(searchId, { ...auditWindow, action: 'Nothing like this' })), []);
      assert.deepEqual(succeeded(await run(searchId, auditWindow)), auditListing);
    });
  });

  describe('bad input', () => {
    async function refused(workflowId: string, inputs: unknown, field: string): Promise<void> {
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${workflowId}/executions`,
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

    it('refuses a run without start_time, with a bad log kind or a bad filter', async () => {
      await refused(collectId, { end_time: auditWindow.end_time }, 'inputs.start_time');
      await refused(collectId, { ...auditWindow, log: 'syslog' }, 'inputs.log');
      await refused(collectId, { ...auditWindow, start_time: 'yesterday' }, 'inputs.start_time');
      await refused(searchId, { end_time: auditWindow.end_time, action: 'x' }, 'inputs.start_time');
      await refused(searchId, { ...auditWindow, actor_type: 'robot' }, 'inputs.actor_type');
      // An unknown filter is refused too, rather than ignored.
      await refused(searchId, { ...auditWindow, user: 'someone' }, 'inputs');
    });

    it('fails the calling step when a workflow passes a bad log kind', async () => {
      const caller = await createWorkflow(`name: Ask for syslog
trigger: { type: on_demand }
steps:
  - id: logs
    kind: call_workflow
    workflow: Collect audit logs
    inputs: { log: syslog, start_time: "{{ $.event.start_time }}", end_time: "{{ $.event.end_time }}" }
`);
      const ex = await run(caller, auditWindow);
      assert.equal(ex.status, 'failed');
      assert.equal(ex.error?.code, 'INPUTS_INVALID');
      assert.match(ex.error!.message, /inputs\.log/);
    });

    it('fails the run with the API answer when the time frame ends before it starts', async () => {
      const ex = await run(collectId, { start_time: auditWindow.end_time, end_time: auditWindow.start_time });
      assert.equal(ex.status, 'failed');
      assert.equal(ex.error?.step_id, 'list_audit_0');
      assert.match(ex.error!.message, /400/);
    });

    it('refuses to install with a bad log kind or without the integration', async () => {
      for (const [parameters, field] of [
        [{ integration: 'osprey', log: 'syslog' }, 'parameters.log'],
        [{ log: 'audit' }, 'parameters.integration'],
      ] as const) {
        const res = await t.request({
          method: 'POST',
          url: '/v1/templates/collect-audit-logs/install',
          payload: { parameters },
        });
        assert.equal(res.statusCode, 400, res.body);
        const body = res.json() as { code: string; details: { field: string }[] };
        assert.ok(
          body.details.some((d) => d.field === field),
          res.body,
        );
      }
    });
  });

  describe('with a contributor key (no audit_logs.read), in another workspace', () => {
    let ownerB: KeyPair;
    let collectB: string;
    let searchB: string;

    before(async () => {
      const ws = await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'audit-b' } });
      assert.equal(ws.statusCode, 201, ws.body);
      ownerB = (ws.json() as { api_key: KeyPair }).api_key;
      const contributor = await t.keyWithRole('contributor', ownerB);
      await integration('osprey-contributor', contributor, ownerB);
      // The default log here is the activity log, which a contributor may read.
      collectB = (
        await install('collect-audit-logs', { integration: 'osprey-contributor', log: 'activity' }, ownerB)
      )[0]!.id;
      searchB = (await install('search-audit-logs', { integration: 'osprey-contributor' }, ownerB))[1]!.id;
    });

    it('collects the activity log by default (the log parameter)', async () => {
      const start = new Date(Date.now() - 60_000).toISOString();
      const seed = await createWorkflow(
        `name: Small seed
trigger: { type: on_demand }
steps:
  - { id: one, kind: transform, value: 1 }
  - { id: done, kind: exit, output: "{{ $.one }}" }
`,
        ownerB,
      );
      succeeded(await run(seed, {}, ownerB));
      await sleep(10);
      const w = { start_time: start, end_time: new Date().toISOString() };
      await sleep(10);
      const listing = await listAll<ActivityEntry>('activity', w, ownerB);
      assert.equal(listing.length, 3, 'the run and its two steps');
      assert.deepEqual(succeeded(await run(collectB, w, ownerB)), listing);
    });

    it('fails the run clearly when the key may not read the audit log', async () => {
      const ex = await run(collectB, { ...auditWindow, log: 'audit' }, ownerB);
      assert.equal(ex.status, 'failed');
      assert.equal(ex.error?.code, 'AUTH_FAILED');
      assert.equal(ex.error?.step_id, 'list_audit_0');
      assert.match(ex.error!.message, /403/);

      const searched = await run(searchB, auditWindow, ownerB);
      assert.equal(searched.status, 'failed');
      assert.equal(searched.error?.code, 'CHILD_FAILED');
      assert.match(searched.error!.message, /403/);
    });
  });
});

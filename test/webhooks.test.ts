import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { validateDefinition } from '../src/domain/workflow/validate.js';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { assertError, auditLog, eventually, sleep } from './helpers/api.js';

interface Execution {
  id: string;
  workflow_id: string;
  revision_id: string;
  status: string;
  trigger: Record<string, unknown>;
  input: unknown;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
}

interface Hook {
  url: string;
  sync_url: string;
  /** The URL's path, for inject(). */
  path: string;
  token: string;
}

interface ActivityEntry {
  id: string;
  type: string;
  workflow_id: string | null;
  workflow_name: string;
  execution_id: string | null;
  status: string;
  reason?: string;
  event: { id: string; type: string; body?: string };
}

const PUBLIC_URL = 'https://osprey.example.test';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Exits with whatever arrived, so a /sync call shows `$.event` as the workflow saw it. */
const ECHO = `name: Echo
trigger: { type: webhook }
steps:
  - id: done
    kind: exit
    output: "{{ $.event }}"
`;

function versioned(version: number, extraTrigger = ''): string {
  return `name: Versioned
trigger: { type: webhook${extraTrigger} }
steps:
  - id: done
    kind: exit
    output: { version: ${version}, got: "{{ $.event.n }}" }
`;
}

/** The value of a raw-mode header, whatever the spelling of its name. */
function rawHeader(headers: Record<string, string[]>, name: string): string[] | undefined {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : headers[key];
}

/** Shared helpers over one test app: workflows, webhook URLs, deliveries and what they left behind. */
function helpers(get: () => TestApp) {
  const h = {
    async create(yaml: string, options: { publish?: boolean; as?: KeyPair } = {}): Promise<string> {
      const t = get();
      const as = options.as ? { as: options.as } : {};
      const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml }, ...as });
      assert.equal(res.statusCode, 201, res.body);
      const id = (res.json() as { workflow: { id: string } }).workflow.id;
      if (options.publish ?? true) await h.publish(id, options.as);
      return id;
    },
    async publish(id: string, as?: KeyPair): Promise<string> {
      const res = await get().request({
        method: 'POST',
        url: `/v1/workflows/${id}/publish`,
        ...(as ? { as } : {}),
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { workflow: { published_revision_id: string } }).workflow.published_revision_id;
    },
    async hook(id: string, as?: KeyPair): Promise<Hook> {
      const res = await get().request({
        method: 'GET',
        url: `/v1/workflows/${id}/webhook`,
        ...(as ? { as } : {}),
      });
      assert.equal(res.statusCode, 200, res.body);
      return h.toHook(res.json() as { url: string; sync_url: string });
    },
    toHook(body: { url: string; sync_url: string }): Hook {
      const path = new URL(body.url).pathname;
      return { url: body.url, sync_url: body.sync_url, path, token: path.split('/').pop()! };
    },
    /** A delivery with no credentials at all, as a third party sends it. */
    deliver(
      path: string,
      options: Omit<InjectOptions, 'url' | 'path'> & { query?: string } = {},
    ): Promise<LightMyRequestResponse> {
      const { query, ...rest } = options;
      return get().app.inject({ method: 'POST', ...rest, url: path + (query ?? '') } as InjectOptions);
    },
    async execution(id: string, as?: KeyPair): Promise<Execution> {
      const res = await get().request({ method: 'GET', url: `/v1/executions/${id}`, ...(as ? { as } : {}) });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { execution: Execution }).execution;
    },
    /** The execution once it has ended. */
    async settled(id: string): Promise<Execution> {
      let last: Execution | undefined;
      const done = await eventually(
        async () => {
          last = await h.execution(id);
          return TERMINAL.has(last.status);
        },
        15_000,
        25,
      );
      assert.ok(done, `execution ${id} did not end: ${JSON.stringify(last)}`);
      return last!;
    },
    async executionsOf(workflowId: string): Promise<Execution[]> {
      const res = await get().request({ method: 'GET', url: `/v1/executions?workflow_id=${workflowId}` });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { executions: Execution[] }).executions;
    },
    async triggerEvents(workflowId: string, as?: KeyPair): Promise<ActivityEntry[]> {
      const res = await get().request({
        method: 'GET',
        url: `/v1/activity-logs?activity_type=trigger_events&workflow_id=${workflowId}`,
        ...(as ? { as } : {}),
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { activity_logs: ActivityEntry[] }).activity_logs;
    },
    async secret(name: string, value: string): Promise<void> {
      const res = await get().request({ method: 'POST', url: '/v1/secrets', payload: { name, value } });
      assert.equal(res.statusCode, 201, res.body);
    },
  };
  return h;
}

describe('webhook triggers', () => {
  let t: TestApp;
  let worker: Worker;
  const h = helpers(() => t);

  before(async () => {
    t = await startTestApp({
      env: { OSPREY_PUBLIC_URL: `${PUBLIC_URL}/`, OSPREY_WEBHOOK_SYNC_TIMEOUT_MS: '20000' },
    });
    worker = new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
      leaseMs: 2000,
      pollMs: 20,
    });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  describe('the webhook URL', () => {
    it('is made with the workflow, built on OSPREY_PUBLIC_URL, and the same on every read', async () => {
      const id = await h.create(ECHO, { publish: false });
      const res = await t.request({ method: 'GET', url: `/v1/workflows/${id}/webhook` });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { url: string; sync_url: string };
      assert.deepEqual(Object.keys(body).sort(), ['sync_url', 'url']);
      assert.match(body.url, /^https:\/\/osprey\.example\.test\/v1\/webhooks\/[A-Za-z0-9_-]{20,}$/);
      assert.equal(body.sync_url, `${body.url}/sync`);
      const again = await h.hook(id);
      assert.equal(again.url, body.url, 'reading the URL does not change it');
      const other = await h.hook(await h.create(ECHO, { publish: false }));
      assert.notEqual(other.token, again.token, 'each workflow has its own token');
    });

    it('exists only for webhook triggers; changing the trigger to webhook makes one', async () => {
      const onDemand = await h.create(
        'name: Manual\ntrigger: { type: on_demand }\nsteps:\n  - { id: done, kind: exit }\n',
        { publish: false },
      );
      const refused = await t.request({ method: 'GET', url: `/v1/workflows/${onDemand}/webhook` });
      assertError(refused, 409, 'CONFLICT', 'trigger.type', { messageNamesField: false });
      assertError(
        await t.request({ method: 'POST', url: `/v1/workflows/${onDemand}/webhook/rotate` }),
        409,
        'CONFLICT',
        'trigger.type',
        { messageNamesField: false },
      );
      const patched = await t.request({
        method: 'PATCH',
        url: `/v1/workflows/${onDemand}`,
        payload: { yaml: ECHO },
      });
      assert.equal(patched.statusCode, 200, patched.body);
      const hook = await h.hook(onDemand);
      assert.match(hook.url, /\/v1\/webhooks\/[A-Za-z0-9_-]{20,}$/);

      assertError(
        await t.request({ method: 'GET', url: '/v1/workflows/00000000-0000-4000-8000-00000000abcd/webhook' }),
        404,
        'WORKFLOW_NOT_FOUND',
      );
      const anonymous = await t.app.inject({ method: 'GET', url: `/v1/workflows/${onDemand}/webhook` });
      assertError(anonymous, 401, 'UNAUTHENTICATED');
      assertError(
        await t.app.inject({ method: 'POST', url: `/v1/workflows/${onDemand}/webhook/rotate` }),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('is shown only to roles with workflows.edit (owner, contributor, creator)', async () => {
      const id = await h.create(ECHO, { publish: false });
      const url = (await h.hook(id)).url;
      for (const role of ['contributor', 'creator']) {
        const key = await t.keyWithRole(role);
        assert.equal((await h.hook(id, key)).url, url, role);
      }
      for (const role of ['operator', 'viewer']) {
        const key = await t.keyWithRole(role);
        assertError(
          await t.request({ method: 'GET', url: `/v1/workflows/${id}/webhook`, as: key }),
          403,
          'PERMISSION_DENIED',
        );
        assertError(
          await t.request({ method: 'POST', url: `/v1/workflows/${id}/webhook/rotate`, as: key }),
          403,
          'PERMISSION_DENIED',
        );
        // Reading the workflow itself is allowed; only the credential is withheld.
        const read = await t.request({ method: 'GET', url: `/v1/workflows/${id}`, as: key });
        assert.equal(read.statusCode, 200, read.body);
        assert.ok(!read.body.includes(url.split('/').pop()!), 'the workflow view does not carry the token');
      }
      assert.equal((await h.hook(id)).url, url, 'the refused rotations changed nothing');
    });

    it('rotates: a new URL, the old one answers 404, and an audit entry without either token', async () => {
      const id = await h.create(ECHO);
      const old = await h.hook(id);
      assert.equal((await h.deliver(old.path, { payload: { n: 1 } })).statusCode, 200);

      const res = await t.request({ method: 'POST', url: `/v1/workflows/${id}/webhook/rotate` });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { url: string; sync_url: string };
      assert.deepEqual(Object.keys(body).sort(), ['sync_url', 'url']);
      const fresh = h.toHook(body);
      assert.notEqual(fresh.token, old.token);
      assert.equal(fresh.sync_url, `${fresh.url}/sync`);
      assert.ok(fresh.url.startsWith(`${PUBLIC_URL}/v1/webhooks/`), fresh.url);
      assert.equal((await h.hook(id)).url, fresh.url, 'GET …/webhook shows the new URL');

      for (const path of [old.path, `${old.path}/sync`]) {
        assertError(await h.deliver(path, { payload: { n: 2 } }), 404, 'WEBHOOK_NOT_FOUND');
        assertError(await h.deliver(path, { method: 'GET' }), 404, 'WEBHOOK_NOT_FOUND');
      }
      const ok = await h.deliver(`${fresh.path}/sync`, { payload: { n: 3 } });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.deepEqual(ok.json(), { n: 3 });

      const entries = (await auditLog(t)).filter(
        (e) => e.action === 'Workflow webhook rotated' && e.resource_id === id,
      );
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.resource_name, 'Echo');
      const text = JSON.stringify(entries[0]);
      assert.ok(!text.includes(old.token) && !text.includes(fresh.token), 'no token in the audit log');
      assertError(
        await t.request({
          method: 'POST',
          url: '/v1/workflows/00000000-0000-4000-8000-00000000abcd/webhook/rotate',
        }),
        404,
        'WORKFLOW_NOT_FOUND',
      );
    });

    it('another workspace can neither read nor rotate it, and a token only runs its own workflow', async () => {
      const made = await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'beta' } });
      assert.equal(made.statusCode, 200, made.body);
      const beta = (made.json() as { api_key: KeyPair }).api_key;
      const marker = (ws: string) =>
        `name: Marker\ntrigger: { type: webhook }\nsteps:\n  - { id: done, kind: exit, output: { workspace: ${ws}, n: "{{ $.event.n }}" } }\n`;
      const alphaId = await h.create(marker('alpha'));
      const betaId = await h.create(marker('beta'), { as: beta });
      const alpha = await h.hook(alphaId);
      const betaHook = await h.hook(betaId, beta);
      assert.notEqual(alpha.token, betaHook.token);

      assertError(
        await t.request({ method: 'GET', url: `/v1/workflows/${alphaId}/webhook`, as: beta }),
        404,
        'WORKFLOW_NOT_FOUND',
      );
      assertError(
        await t.request({ method: 'POST', url: `/v1/workflows/${alphaId}/webhook/rotate`, as: beta }),
        404,
        'WORKFLOW_NOT_FOUND',
      );
      assert.equal((await h.hook(alphaId)).url, alpha.url, "beta's attempt did not rotate alpha's URL");

      const a = await h.deliver(`${alpha.path}/sync`, { payload: { n: 1 } });
      assert.equal(a.statusCode, 200, a.body);
      assert.deepEqual(a.json(), { workspace: 'alpha', n: 1 });
      const b = await h.deliver(`${betaHook.path}/sync`, { payload: { n: 2 } });
      assert.equal(b.statusCode, 200, b.body);
      assert.deepEqual(b.json(), { workspace: 'beta', n: 2 });

      const alphaRun = a.headers['x-osprey-execution-id'] as string;
      assert.equal((await h.execution(alphaRun)).workflow_id, alphaId);
      assertError(
        await t.request({ method: 'GET', url: `/v1/executions/${alphaRun}`, as: beta }),
        404,
        'EXECUTION_NOT_FOUND',
      );
      const betaRun = b.headers['x-osprey-execution-id'] as string;
      assertError(
        await t.request({ method: 'GET', url: `/v1/executions/${betaRun}` }),
        404,
        'EXECUTION_NOT_FOUND',
      );
    });
  });

  describe('deliveries', () => {
    it('POST queues a run of the published revision with no credentials and answers {execution_id, status: "ok"}', async () => {
      const id = await h.create(`name: Alert intake
trigger: { type: webhook }
steps:
  - id: done
    kind: exit
    output: { id: "{{ $.event.alert.id }}", severity: "{{ $.event.alert.severity }}", count: "{{ $count($.event.iocs) }}" }
`);
      const published = (
        (await t.request({ method: 'GET', url: `/v1/workflows/${id}` })).json() as {
          workflow: { published_revision_id: string };
        }
      ).workflow.published_revision_id;
      const hook = await h.hook(id);
      const payload = { alert: { id: 'A-17', severity: 'high' }, iocs: ['203.0.113.9', 'evil.example'] };
      const res = await h.deliver(hook.path, {
        payload: JSON.stringify(payload),
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const body = res.json() as { execution_id: string; status: string };
      assert.deepEqual(Object.keys(body).sort(), ['execution_id', 'status']);
      assert.equal(body.status, 'ok');
      assert.match(body.execution_id, /^[0-9a-f-]{36}$/);

      const run = await h.settled(body.execution_id);
      assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
      assert.equal(run.workflow_id, id);
      assert.equal(run.revision_id, published);
      assert.deepEqual(run.input, payload, 'the stored input is the parsed body');
      assert.deepEqual(run.output, { id: 'A-17', severity: 'high', count: 2 });
      assert.equal(run.trigger.type, 'webhook');
      assert.equal(run.trigger.http_method, 'POST');
      assert.equal(run.trigger.content_type, 'application/json');
      assert.equal(run.trigger.sync, false);
      assert.equal(run.trigger.revision, 'published');

      // A bearer token (even a bogus one) is neither needed nor checked.
      const withJunk = await h.deliver(hook.path, {
        payload: { alert: { id: 'A-18', severity: 'low' }, iocs: [] },
        headers: { authorization: 'Bearer not-a-token' },
      });
      assert.equal(withJunk.statusCode, 200, withJunk.body);
      const second = await h.settled((withJunk.json() as { execution_id: string }).execution_id);
      assert.deepEqual(second.output, { id: 'A-18', severity: 'low', count: 0 });
    });

    it("Torq's per-workflow URL shapes work with the token's own workflow id, and 404 with another", async () => {
      const id = await h.create(ECHO);
      const other = await h.create(ECHO);
      const hook = await h.hook(id);
      const asyncRes = await h.deliver(`${hook.path}/workflows/${id}`, { payload: { torq: 'async' } });
      assert.equal(asyncRes.statusCode, 200, asyncRes.body);
      const run = await h.settled((asyncRes.json() as { execution_id: string }).execution_id);
      assert.equal(run.workflow_id, id);
      assert.deepEqual(run.input, { torq: 'async' });
      const syncRes = await h.deliver(`${hook.path}/workflows/${id}/sync`, { payload: { torq: 'sync' } });
      assert.equal(syncRes.statusCode, 200, syncRes.body);
      const wrong = await h.deliver(`${hook.path}/workflows/${other}`, { payload: { torq: 'x' } });
      assert.equal(wrong.statusCode, 404, wrong.body);
      assert.equal((wrong.json() as { code: string }).code, 'WEBHOOK_NOT_FOUND');
    });

    it('/sync answers with the exit output as the JSON body and the execution id in a header', async () => {
      const id = await h.create(`name: Verdict
trigger: { type: webhook }
steps:
  - id: risky
    kind: if
    condition: "{{ $.event.score > 50 }}"
    then:
      - { id: block, kind: exit, output: { verdict: block, ip: "{{ $.event.ip }}" } }
  - { id: allow, kind: exit, output: { verdict: allow, score: "{{ $.event.score }}" } }
`);
      const hook = await h.hook(id);
      const high = await h.deliver(`${hook.path}/sync`, { payload: { ip: '203.0.113.9', score: 90 } });
      assert.equal(high.statusCode, 200, high.body);
      assert.match(String(high.headers['content-type']), /^application\/json/);
      assert.deepEqual(high.json(), { verdict: 'block', ip: '203.0.113.9' });
      const runId = high.headers['x-osprey-execution-id'] as string;
      assert.match(runId, /^[0-9a-f-]{36}$/);
      const run = await h.execution(runId);
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(run.output, { verdict: 'block', ip: '203.0.113.9' });
      assert.deepEqual(run.input, { ip: '203.0.113.9', score: 90 });
      assert.equal(run.trigger.sync, true);

      const low = await h.deliver(`${hook.path}/sync`, { payload: { ip: '198.51.100.1', score: 10 } });
      assert.equal(low.statusCode, 200, low.body);
      assert.deepEqual(low.json(), { verdict: 'allow', score: 10 });

      const silent = await h.create(
        'name: Silent\ntrigger: { type: webhook }\nsteps:\n  - { id: done, kind: exit }\n',
      );
      const none = await h.deliver(`${(await h.hook(silent)).path}/sync`, { payload: {} });
      assert.equal(none.statusCode, 200, none.body);
      assert.equal(none.json(), null, 'no exit output is JSON null');
    });

    it('concurrent /sync deliveries each answer with their own run', async () => {
      const hook = await h.hook(await h.create(ECHO));
      const answers = await Promise.all(
        Array.from({ length: 8 }, (_, i) => h.deliver(`${hook.path}/sync`, { payload: { i } })),
      );
      assert.deepEqual(
        answers.map((a): [number, unknown] => [a.statusCode, a.json()]),
        Array.from({ length: 8 }, (_, i) => [200, { i }]),
      );
      assert.equal(new Set(answers.map((a) => a.headers['x-osprey-execution-id'])).size, 8);
    });

    it('an exit output {status_code, body, headers} sets the /sync status, body and headers', async () => {
      const id = await h.create(`name: Shaped
trigger: { type: webhook }
steps:
  - id: kind
    kind: switch
    cases:
      - name: object
        when: "{{ $.event.kind = 'object' }}"
        steps:
          - id: as_object
            kind: exit
            output: { status_code: 201, body: { created: "{{ $.event.name }}" }, headers: { X-Request-Verdict: accepted, X-Run-Id: "{{ $execution.id }}" } }
      - name: text
        when: "{{ $.event.kind = 'text' }}"
        steps:
          - id: as_text
            kind: exit
            output: { status_code: "{{ $.event.code }}", body: "id,verdict\\n7,block", headers: { Content-Type: text/csv } }
      - name: not_shaped
        when: "{{ $.event.kind = 'plain' }}"
        steps:
          - id: plain
            kind: exit
            output: { status_code: 202, note: no body field }
    default:
      - id: out_of_range
        kind: exit
        output: { status_code: 99, body: ignored }
`);
      const hook = await h.hook(id);
      const sync = `${hook.path}/sync`;

      const object = await h.deliver(sync, { payload: { kind: 'object', name: 'case-9' } });
      assert.equal(object.statusCode, 201, object.body);
      assert.equal(object.headers['x-request-verdict'], 'accepted');
      assert.deepEqual(JSON.parse(object.body), { created: 'case-9' });
      const shapedRun = await h.execution(object.headers['x-run-id'] as string);
      assert.equal(shapedRun.workflow_id, id, 'a header can carry $execution.id');
      assert.deepEqual((shapedRun.output as { body: unknown }).body, { created: 'case-9' });

      const text = await h.deliver(sync, { payload: { kind: 'text', code: 418 } });
      assert.equal(text.statusCode, 418, text.body);
      assert.equal(text.body, 'id,verdict\n7,block', 'a string body is sent as it is');
      assert.match(String(text.headers['content-type']), /^text\/csv/);

      // Without a body field, or with a status outside 200–599, the output is just the body.
      const plain = await h.deliver(sync, { payload: { kind: 'plain' } });
      assert.equal(plain.statusCode, 200, plain.body);
      assert.deepEqual(plain.json(), { status_code: 202, note: 'no body field' });
      const odd = await h.deliver(sync, { payload: { kind: 'other' } });
      assert.equal(odd.statusCode, 200, odd.body);
      assert.deepEqual(odd.json(), { status_code: 99, body: 'ignored' });
    });

    it('a shaped /sync body that is not a string is sent as application/json', async () => {
      const id = await h.create(`name: Shaped JSON
trigger: { type: webhook }
steps:
  - { id: done, kind: exit, output: { status_code: 201, body: { ok: true } } }
`);
      const res = await h.deliver(`${(await h.hook(id)).path}/sync`, { payload: {} });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual(JSON.parse(res.body), { ok: true });
      assert.match(
        String(res.headers['content-type']),
        /^application\/json/,
        'an object body is JSON, so it should be labelled as JSON',
      );
    });

    it('/sync answers 500 EXECUTION_FAILED with the execution id, error and output when the run fails', async () => {
      const id = await h.create(`name: Refuser
trigger: { type: webhook }
steps:
  - { id: refuse, kind: exit, status: failure, output: { reason: "no {{ $.event.what }}" } }
`);
      const refused = await h.deliver(`${(await h.hook(id)).path}/sync`, { payload: { what: 'ticket' } });
      assert.equal(refused.statusCode, 500, refused.body);
      const body = refused.json() as {
        code: string;
        message: string;
        execution_id: string;
        error: { code: string; step_id?: string };
        output: unknown;
      };
      assert.equal(body.code, 'EXECUTION_FAILED');
      assert.equal(typeof body.message, 'string');
      assert.equal(body.error.code, 'EXIT_FAILURE');
      assert.deepEqual(body.output, { reason: 'no ticket' });
      const run = await h.execution(body.execution_id);
      assert.equal(run.status, 'failed');
      assert.equal(run.error?.code, 'EXIT_FAILURE');
      assert.deepEqual(run.output, { reason: 'no ticket' });
      assert.doesNotMatch(refused.body, /\.ts:\d+|node_modules/);

      // A failing step (the loopback address is blocked) names its code and step.
      const fetcher = await h.create(`name: Fetcher
trigger: { type: webhook }
steps:
  - { id: fetch, kind: action, action: http.request, with: { url: "http://127.0.0.1:9/internal" } }
  - { id: done, kind: exit, output: fetched }
`);
      const blocked = await h.deliver(`${(await h.hook(fetcher)).path}/sync`, { payload: {} });
      assert.equal(blocked.statusCode, 500, blocked.body);
      const b = blocked.json() as typeof body;
      assert.equal(b.code, 'EXECUTION_FAILED');
      assert.equal(b.error.code, 'ADDRESS_BLOCKED');
      assert.equal(b.error.step_id, 'fetch');
      assert.equal(b.output, null);
      assert.equal((await h.execution(b.execution_id)).error?.code, 'ADDRESS_BLOCKED');
    });

    it('GET delivers the query string as $.event, on both URLs', async () => {
      const id = await h.create(ECHO);
      const hook = await h.hook(id);
      const res = await h.deliver(hook.path, {
        method: 'GET',
        query: '?ip=203.0.113.9&tag=phish&tag=urgent&empty=',
      });
      assert.equal(res.statusCode, 200, res.body);
      const run = await h.settled((res.json() as { execution_id: string }).execution_id);
      assert.deepEqual(run.input, { ip: '203.0.113.9', tag: ['phish', 'urgent'], empty: '' });
      assert.equal(run.trigger.http_method, 'GET');

      const sync = await h.deliver(`${hook.path}/sync`, {
        method: 'GET',
        query: '?user=alice%40example.test',
      });
      assert.equal(sync.statusCode, 200, sync.body);
      assert.deepEqual(sync.json(), { user: 'alice@example.test' });
      const bare = await h.deliver(`${hook.path}/sync`, { method: 'GET' });
      assert.equal(bare.statusCode, 200, bare.body);
      assert.deepEqual(bare.json(), {});
    });

    it('OPTIONS answers 204 with Allow; PUT, PATCH and DELETE answer 405 with Allow; none starts a run', async () => {
      const id = await h.create(ECHO);
      const hook = await h.hook(id);
      for (const path of [hook.path, `${hook.path}/sync`]) {
        const options = await h.deliver(path, { method: 'OPTIONS' });
        assert.equal(options.statusCode, 204, options.body);
        assert.equal(options.body, '');
        assert.deepEqual(
          String(options.headers.allow)
            .split(',')
            .map((m) => m.trim())
            .sort(),
          ['GET', 'OPTIONS', 'POST'],
        );
        for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
          const res = await h.deliver(path, {
            method,
            payload: { n: 1 },
          });
          assertError(res, 405, 'METHOD_NOT_ALLOWED');
          assert.match((res.json() as { message: string }).message, new RegExp(method));
          assert.deepEqual(
            String(res.headers.allow)
              .split(',')
              .map((m) => m.trim())
              .sort(),
            ['GET', 'OPTIONS', 'POST'],
            `${method} ${path}`,
          );
        }
      }
      assert.deepEqual(await h.executionsOf(id), [], 'no run was started');
    });

    it("an unknown token, or a deleted workflow's, answers 404 WEBHOOK_NOT_FOUND", async () => {
      for (const path of ['/v1/webhooks/no-such-token-0123456789abcdef', '/v1/webhooks/x/sync']) {
        assertError(await h.deliver(path, { payload: { n: 1 } }), 404, 'WEBHOOK_NOT_FOUND');
        assertError(await h.deliver(path, { method: 'GET' }), 404, 'WEBHOOK_NOT_FOUND');
      }
      const id = await h.create(ECHO);
      const hook = await h.hook(id);
      assert.equal((await t.request({ method: 'DELETE', url: `/v1/workflows/${id}` })).statusCode, 204);
      assertError(await h.deliver(hook.path, { payload: { n: 1 } }), 404, 'WEBHOOK_NOT_FOUND');
      assertError(await h.deliver(`${hook.path}/sync`, { payload: { n: 1 } }), 404, 'WEBHOOK_NOT_FOUND');
    });

    it('an over-long token is just an unknown token: 404 WEBHOOK_NOT_FOUND in the error shape', async () => {
      for (const length of [150, 250]) {
        const res = await h.deliver(`/v1/webhooks/${'a'.repeat(length)}`, { payload: { n: 1 } });
        assertError(res, 404, 'WEBHOOK_NOT_FOUND');
      }
    });
  });

  describe('bodies', () => {
    let sync: string;
    let workflowId: string;
    before(async () => {
      workflowId = await h.create(ECHO);
      sync = `${(await h.hook(workflowId)).path}/sync`;
    });

    async function echo(payload: string | undefined, contentType?: string): Promise<unknown> {
      const res = await h.deliver(sync, {
        ...(payload === undefined ? {} : { payload }),
        headers: contentType ? { 'content-type': contentType } : {},
      });
      assert.equal(res.statusCode, 200, res.body);
      const run = await h.execution(res.headers['x-osprey-execution-id'] as string);
      assert.deepEqual(run.input, res.json(), 'the stored input is what the workflow saw');
      return res.json();
    }

    it('JSON: objects, arrays and scalars as sent, any JSON media type, and an empty body as {}', async () => {
      assert.deepEqual(await echo('{"a":{"b":[1,true,null]}}', 'application/json'), {
        a: { b: [1, true, null] },
      });
      assert.deepEqual(await echo('[1,"two"]', 'application/json; charset=utf-8'), [1, 'two']);
      assert.deepEqual(await echo('{"data":{"type":"alert"}}', 'application/vnd.api+json'), {
        data: { type: 'alert' },
      });
      assert.equal(await echo('42', 'application/json'), 42);
      assert.deepEqual(await echo(undefined), {});
      assert.deepEqual(await echo('', 'application/json'), {});
    });

    it('malformed JSON or XML answers 400 MALFORMED_BODY naming body, and starts no run', async () => {
      const before = (await h.executionsOf(workflowId)).length;
      for (const [payload, type, what] of [
        ['{"a":', 'application/json', 'JSON'],
        ['{bad}', 'application/problem+json', 'JSON'],
        ['<alert><id>7</alert>', 'application/xml', 'XML'],
        ['not xml at all', 'text/xml', 'XML'],
      ] as const) {
        const res = await h.deliver(sync, { payload, headers: { 'content-type': type } });
        const body = assertError(res, 400, 'MALFORMED_BODY', 'body');
        assert.match(body.message, new RegExp(what), `${type}: ${body.message}`);
      }
      assert.equal((await h.executionsOf(workflowId)).length, before);
    });

    it('form bodies become an object of strings; a repeated field becomes a list', async () => {
      assert.deepEqual(
        await echo(
          'user=alice%40example.test&action=login+failed&tag=a&tag=b&tag=c&empty=',
          'application/x-www-form-urlencoded',
        ),
        { user: 'alice@example.test', action: 'login failed', tag: ['a', 'b', 'c'], empty: '' },
      );
    });

    it('form fields named like Object.prototype members are kept as sent', async () => {
      assert.deepEqual(
        await echo(
          'toString=a&constructor=b&valueOf=c&hasOwnProperty=d',
          'application/x-www-form-urlencoded',
        ),
        { toString: 'a', constructor: 'b', valueOf: 'c', hasOwnProperty: 'd' },
      );
    });

    it('XML (application/xml, text/xml, +xml) becomes JSON: attributes as @name, repeated elements as lists', async () => {
      const xml =
        '<?xml version="1.0"?><alert id="7"><severity>high</severity><score>91</score><ioc>203.0.113.9</ioc><ioc>evil.example</ioc></alert>';
      const expected = {
        alert: { '@id': '7', severity: 'high', score: 91, ioc: ['203.0.113.9', 'evil.example'] },
      };
      for (const type of ['application/xml', 'text/xml; charset=utf-8', 'application/atom+xml']) {
        const got = (await echo(xml, type)) as Record<string, unknown>;
        assert.deepEqual(got.alert, expected.alert, type);
      }
    });

    it('other content types arrive as {body: "<text>"}', async () => {
      assert.deepEqual(await echo('user alice failed login', 'text/plain'), {
        body: 'user alice failed login',
      });
      assert.deepEqual(await echo('a,b\n1,2', 'text/csv'), { body: 'a,b\n1,2' });
      assert.deepEqual(await echo('{"looks":"like json"}', 'application/octet-stream'), {
        body: '{"looks":"like json"}',
      });
    });
  });

  describe('raw mode', () => {
    const SECRET = 'rawhook-7f3a9c1e55';
    let hook: Hook;
    before(async () => {
      await h.secret('raw_hook_token', SECRET);
      hook = await h.hook(
        await h.create(`name: Raw intake
trigger: { type: webhook, raw: true, required_header: { name: X-Hook-Token, secret: raw_hook_token } }
steps:
  - id: done
    kind: exit
    output: "{{ $.event }}"
`),
      );
    });

    it('delivers {body, headers, http_method} with the required header, authorization and cookie hidden', async () => {
      const res = await h.deliver(`${hook.path}/sync`, {
        payload: '{"alert":{"id":9}}',
        headers: {
          'content-type': 'application/json',
          'x-hook-token': SECRET,
          authorization: 'Bearer caller-token-5512',
          cookie: 'sid=cookie-value-8841',
          'x-vendor-signature': 'sig-123',
        },
      });
      assert.equal(res.statusCode, 200, res.body);
      const event = res.json() as { body: unknown; headers: Record<string, string[]>; http_method: string };
      assert.deepEqual(Object.keys(event).sort(), ['body', 'headers', 'http_method']);
      assert.deepEqual(event.body, { alert: { id: 9 } });
      assert.equal(event.http_method, 'POST');
      assert.deepEqual(rawHeader(event.headers, 'X-Hook-Token'), ['[secret]']);
      assert.deepEqual(rawHeader(event.headers, 'Authorization'), ['[secret]']);
      assert.deepEqual(rawHeader(event.headers, 'Cookie'), ['[secret]']);
      assert.deepEqual(rawHeader(event.headers, 'X-Vendor-Signature'), ['sig-123']);
      assert.deepEqual(rawHeader(event.headers, 'Content-Type'), ['application/json']);
      for (const values of Object.values(event.headers)) assert.ok(Array.isArray(values));

      const run = await h.execution(res.headers['x-osprey-execution-id'] as string);
      assert.deepEqual(run.input, event, 'the stored input is the raw event');
      const stored = JSON.stringify(run);
      for (const value of [SECRET, 'caller-token-5512', 'cookie-value-8841'])
        assert.ok(!stored.includes(value), `${value} is not stored`);
    });

    it('passes bodies it cannot parse as text, parses forms, and gives GET its query as body', async () => {
      const auth = { 'x-hook-token': SECRET };
      const bad = await h.deliver(`${hook.path}/sync`, {
        payload: '{"broken": ',
        headers: { ...auth, 'content-type': 'application/json' },
      });
      assert.equal(bad.statusCode, 200, bad.body);
      assert.equal((bad.json() as { body: unknown }).body, '{"broken": ');

      const text = await h.deliver(`${hook.path}/sync`, {
        payload: 'plain words',
        headers: { ...auth, 'content-type': 'text/plain' },
      });
      assert.equal(
        (text.json() as { body: unknown }).body,
        'plain words',
        'no {body: …} wrapper in raw mode',
      );

      const form = await h.deliver(`${hook.path}/sync`, {
        payload: 'a=1&a=2',
        headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.deepEqual((form.json() as { body: unknown }).body, { a: ['1', '2'] });

      const get = await h.deliver(`${hook.path}/sync`, { method: 'GET', query: '?q=1', headers: auth });
      assert.equal(get.statusCode, 200, get.body);
      const event = get.json() as { body: unknown; http_method: string };
      assert.deepEqual(event.body, { q: '1' });
      assert.equal(event.http_method, 'GET');
    });

    it('spells header names as Torq does (Content-Type, X-Vendor-Signature)', async () => {
      const res = await h.deliver(`${hook.path}/sync`, {
        payload: '{}',
        headers: { 'content-type': 'application/json', 'x-hook-token': SECRET, 'x-vendor-signature': 's' },
      });
      assert.equal(res.statusCode, 200, res.body);
      const names = Object.keys((res.json() as { headers: Record<string, string[]> }).headers);
      assert.ok(names.includes('Content-Type'), `Torq's raw events use canonical names: ${names.join(', ')}`);
      assert.ok(names.includes('X-Vendor-Signature'), names.join(', '));
      assert.ok(names.includes('X-Hook-Token'), names.join(', '));
    });
  });

  describe('required header', () => {
    const SECRET = 'hk-2b7d4e9f0c61';
    let id: string;
    let hook: Hook;
    before(async () => {
      await h.secret('alert_hook_token', SECRET);
      id = await h.create(`name: Guarded
trigger: { type: webhook, required_header: { name: X-Osprey-Token, secret: alert_hook_token } }
steps:
  - { id: done, kind: exit, output: { accepted: "{{ $.event.n }}" } }
`);
      hook = await h.hook(id);
    });

    it('missing or wrong: 401 WEBHOOK_UNAUTHORIZED, no run, and a trigger_event naming the reason but not the value', async () => {
      const missing = await h.deliver(`${hook.path}/sync`, { payload: { n: 1 } });
      assertError(missing, 401, 'WEBHOOK_UNAUTHORIZED');
      assert.match((missing.json() as { message: string }).message, /X-Osprey-Token/);
      const wrong = await h.deliver(hook.path, {
        payload: { n: 2 },
        headers: { 'x-osprey-token': 'guess-31337' },
      });
      assertError(wrong, 401, 'WEBHOOK_UNAUTHORIZED');
      const prefix = await h.deliver(hook.path, {
        payload: { n: 3 },
        headers: { 'x-osprey-token': SECRET.slice(0, -1) },
      });
      assertError(prefix, 401, 'WEBHOOK_UNAUTHORIZED');
      assert.ok(![missing, wrong, prefix].some((r) => r.body.includes(SECRET)));
      assert.deepEqual(await h.executionsOf(id), [], 'refused deliveries start no run');

      const events = await h.triggerEvents(id);
      assert.equal(events.length, 3, JSON.stringify(events));
      for (const e of events) {
        assert.equal(e.type, 'trigger_event');
        assert.equal(e.status, 'NOT_STARTED');
        assert.equal(e.execution_id, null);
        assert.equal(e.workflow_id, id);
        assert.equal(e.workflow_name, 'Guarded');
        assert.equal(e.event.type, 'webhook');
      }
      const reasons = events.map((e) => e.reason).sort();
      assert.deepEqual(reasons, [
        'the X-Osprey-Token header is missing',
        'the X-Osprey-Token header is wrong',
        'the X-Osprey-Token header is wrong',
      ]);
      const text = JSON.stringify(events);
      for (const value of ['guess-31337', SECRET.slice(0, -1), SECRET])
        assert.ok(!text.includes(value), `the activity log does not hold ${value}`);
    });

    it('right (the name in any case): the run starts', async () => {
      const res = await h.deliver(`${hook.path}/sync`, {
        payload: { n: 4 },
        headers: { 'X-OSPREY-TOKEN': SECRET },
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { accepted: 4 });
      const run = await h.execution(res.headers['x-osprey-execution-id'] as string);
      assert.deepEqual(run.input, { n: 4 });
      assert.ok(!JSON.stringify(run).includes(SECRET));
      const asGet = await h.deliver(`${hook.path}/sync`, {
        method: 'GET',
        query: '?n=5',
        headers: { 'x-osprey-token': SECRET },
      });
      assert.equal(asGet.statusCode, 200, asGet.body);
      assert.deepEqual(asGet.json(), { accepted: '5' });
    });

    it('is checked before the body is read: a bad body without the header is still 401', async () => {
      const res = await h.deliver(hook.path, {
        payload: '<not-closed>',
        headers: { 'content-type': 'application/xml' },
      });
      assertError(res, 401, 'WEBHOOK_UNAUTHORIZED');
    });

    it('naming a secret that does not exist refuses every delivery', async () => {
      const orphan = await h.create(`name: Orphan
trigger: { type: webhook, required_header: { name: X-Token, secret: no_such_secret } }
steps:
  - { id: done, kind: exit }
`);
      const path = (await h.hook(orphan)).path;
      for (const headers of [{}, { 'x-token': '' }, { 'x-token': 'anything' }]) {
        assertError(await h.deliver(path, { payload: {}, headers }), 401, 'WEBHOOK_UNAUTHORIZED');
      }
      assert.deepEqual(await h.executionsOf(orphan), []);
    });
  });

  describe('which revision runs', () => {
    it('an unpublished or disabled workflow answers 409 WEBHOOK_INACTIVE and logs a trigger_event', async () => {
      const id = await h.create(ECHO, { publish: false });
      const hook = await h.hook(id);
      const draft = await h.deliver(hook.path, { payload: { n: 'draft' } });
      assertError(draft, 409, 'WEBHOOK_INACTIVE');
      assert.match((draft.json() as { message: string }).message, /publish/);

      await h.publish(id);
      const live = await h.deliver(`${hook.path}/sync`, { payload: { n: 'live' } });
      assert.equal(live.statusCode, 200, live.body);

      const disabled = await t.request({ method: 'POST', url: `/v1/workflows/${id}/disable` });
      assert.equal(disabled.statusCode, 200, disabled.body);
      assertError(await h.deliver(`${hook.path}/sync`, { payload: { n: 'off' } }), 409, 'WEBHOOK_INACTIVE');
      assert.equal((await t.request({ method: 'POST', url: `/v1/workflows/${id}/enable` })).statusCode, 200);
      const back = await h.deliver(`${hook.path}/sync`, { payload: { n: 'on' } });
      assert.equal(back.statusCode, 200, back.body);
      assert.deepEqual(back.json(), { n: 'on' });

      assert.equal(
        (await t.request({ method: 'POST', url: `/v1/workflows/${id}/unpublish` })).statusCode,
        200,
      );
      assertError(await h.deliver(hook.path, { payload: { n: 'gone' } }), 409, 'WEBHOOK_INACTIVE');

      const events = await h.triggerEvents(id);
      assert.deepEqual(
        events.map((e): [string | undefined, unknown] => [e.reason, JSON.parse(e.event.body!)]).reverse(),
        [
          ['the workflow is not published', { n: 'draft' }],
          ['the trigger is disabled', { n: 'off' }],
          ['the workflow is not published', { n: 'gone' }],
        ],
        'each refused delivery is logged with its body, oldest first',
      );
      for (const e of events) {
        assert.equal(e.status, 'NOT_STARTED');
        assert.equal(e.execution_id, null);
      }
      const runs = await h.executionsOf(id);
      assert.deepEqual(runs.map((r) => r.input).reverse(), [{ n: 'live' }, { n: 'on' }]);
    });

    it('runs the published revision; draft edits (body and required header) apply only once published', async () => {
      const id = await h.create(versioned(1));
      const first = (
        (await t.request({ method: 'GET', url: `/v1/workflows/${id}` })).json() as {
          workflow: { published_revision_id: string };
        }
      ).workflow.published_revision_id;
      const hook = await h.hook(id);
      await h.secret('versioned_token', 'vt-0a1b2c3d');
      const edited = await t.request({
        method: 'PATCH',
        url: `/v1/workflows/${id}`,
        payload: {
          yaml: versioned(2, ', required_header: { name: X-Token, secret: versioned_token }'),
        },
      });
      assert.equal(edited.statusCode, 200, edited.body);

      const stillOne = await h.deliver(`${hook.path}/sync`, { payload: { n: 'a' } });
      assert.equal(stillOne.statusCode, 200, stillOne.body);
      assert.deepEqual(stillOne.json(), { version: 1, got: 'a' });
      const run = await h.execution(stillOne.headers['x-osprey-execution-id'] as string);
      assert.equal(run.revision_id, first);
      assert.equal((await h.hook(id)).url, hook.url, 'editing keeps the URL');

      const second = await h.publish(id);
      assert.notEqual(second, first);
      assertError(await h.deliver(`${hook.path}/sync`, { payload: { n: 'b' } }), 401, 'WEBHOOK_UNAUTHORIZED');
      const two = await h.deliver(`${hook.path}/sync`, {
        payload: { n: 'c' },
        headers: { 'x-token': 'vt-0a1b2c3d' },
      });
      assert.equal(two.statusCode, 200, two.body);
      assert.deepEqual(two.json(), { version: 2, got: 'c' });
      assert.equal((await h.execution(two.headers['x-osprey-execution-id'] as string)).revision_id, second);
    });

    it('a draft that changes the trigger type leaves the published webhook working until it is published', async () => {
      const id = await h.create(versioned(1));
      const hook = await h.hook(id);
      const edited = await t.request({
        method: 'PATCH',
        url: `/v1/workflows/${id}`,
        payload: {
          yaml: 'name: Versioned\ntrigger: { type: on_demand }\nsteps:\n  - { id: done, kind: exit }\n',
        },
      });
      assert.equal(edited.statusCode, 200, edited.body);
      const res = await h.deliver(`${hook.path}/sync`, { payload: { n: 'x' } });
      assert.equal(res.statusCode, 200, `the published revision is still a webhook: ${res.body}`);
      assert.deepEqual(res.json(), { version: 1, got: 'x' });

      await h.publish(id);
      assertError(await h.deliver(hook.path, { payload: { n: 'y' } }), 404, 'WEBHOOK_NOT_FOUND');
    });
  });

  describe('over real HTTP', () => {
    let base: string;
    before(async () => {
      base = await t.app.listen({ host: '127.0.0.1', port: 0 });
    });

    it('/sync works with JSON, form and XML bodies (also chunked), with no credentials', async () => {
      const id = await h.create(ECHO);
      const hook = await h.hook(id);
      const url = `${base}${hook.path}/sync`;

      const json = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ alert: { id: 'R-1' }, list: [1, 2] }),
      });
      assert.equal(json.status, 200, await json.clone().text());
      assert.match(json.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await json.json(), { alert: { id: 'R-1' }, list: [1, 2] });
      const runId = json.headers.get('x-osprey-execution-id')!;
      const run = await h.execution(runId);
      assert.equal(run.trigger.source_ip, '127.0.0.1');
      assert.deepEqual(run.input, { alert: { id: 'R-1' }, list: [1, 2] });

      const form = await fetch(url, { method: 'POST', body: new URLSearchParams('a=1&a=2&b=x y') });
      assert.equal(form.status, 200);
      assert.deepEqual(await form.json(), { a: ['1', '2'], b: 'x y' });

      const xml = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'text/xml' },
        body: '<event><kind>login</kind></event>',
      });
      assert.equal(xml.status, 200);
      assert.deepEqual(await xml.json(), { event: { kind: 'login' } });

      const encoder = new TextEncoder();
      const chunks = ['{"chunked":', ' true, "n":', ' 3}'];
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const c of chunks) controller.enqueue(encoder.encode(c));
          controller.close();
        },
      });
      const chunked = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      assert.equal(chunked.status, 200, await chunked.clone().text());
      assert.deepEqual(await chunked.json(), { chunked: true, n: 3 });

      const async = await fetch(`${base}${hook.path}?from=fetch`);
      assert.equal(async.status, 200);
      const queued = (await async.json()) as { execution_id: string; status: string };
      assert.equal(queued.status, 'ok');
      assert.deepEqual((await h.settled(queued.execution_id)).input, { from: 'fetch' });
    });
  });
});

describe('webhook limits', () => {
  let t: TestApp;
  let worker: Worker;
  /** When set, the services' clock stands still at this time (the rate limit's one-second window). */
  let frozen: number | undefined;
  const h = helpers(() => t);

  before(async () => {
    t = await startTestApp({
      env: {
        OSPREY_WEBHOOK_RATE_LIMIT: '3',
        OSPREY_WEBHOOK_SYNC_TIMEOUT_MS: '300',
        OSPREY_BODY_LIMIT: '2048',
      },
      clock: { now: () => frozen ?? Date.now() },
    });
    worker = new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
      leaseMs: 2000,
      pollMs: 20,
    });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  it('more than OSPREY_WEBHOOK_RATE_LIMIT deliveries a second to one workflow answer 429 with Retry-After', async () => {
    const first = await h.create(ECHO);
    const second = await h.create(ECHO);
    const a = await h.hook(first);
    const b = await h.hook(second);
    frozen = Date.now();
    try {
      for (let i = 0; i < 3; i++) {
        const ok = await h.deliver(i === 2 ? `${a.path}/sync` : a.path, { payload: { i } });
        assert.equal(ok.statusCode, 200, `delivery ${i}: ${ok.body}`);
      }
      for (const path of [a.path, `${a.path}/sync`]) {
        const limited = await h.deliver(path, { payload: { i: 'over' } });
        const body = assertError(limited, 429, 'RATE_LIMITED');
        assert.match(body.message, /3/);
        assert.equal(limited.headers['retry-after'], '1');
      }
      const other = await h.deliver(b.path, { payload: { i: 'other workflow' } });
      assert.equal(other.statusCode, 200, 'the limit is per workflow');
      frozen += 1000;
      const later = await h.deliver(a.path, { payload: { i: 'next second' } });
      assert.equal(later.statusCode, 200, later.body);
    } finally {
      frozen = undefined;
    }
    const inputs = (await h.executionsOf(first)).map((r) => r.input);
    assert.equal(inputs.length, 4, JSON.stringify(inputs));
    assert.ok(!inputs.some((i) => (i as { i: unknown }).i === 'over'), 'refused deliveries started no run');
  });

  it('/sync answers 202 {execution_id, status: "running"} after OSPREY_WEBHOOK_SYNC_TIMEOUT_MS', async () => {
    const id = await h.create(`name: Slow
trigger: { type: webhook }
steps:
  - { id: pause, kind: wait, duration: 30s }
  - { id: done, kind: exit, output: { finished: true } }
`);
    const hook = await h.hook(id);
    const started = Date.now();
    const res = await h.deliver(`${hook.path}/sync`, { payload: { slow: true } });
    const took = Date.now() - started;
    assert.equal(res.statusCode, 202, res.body);
    const body = res.json() as { execution_id: string; status: string };
    assert.deepEqual(Object.keys(body).sort(), ['execution_id', 'status']);
    assert.equal(body.status, 'running');
    assert.ok(took >= 300, `waited ${took} ms, at least the timeout`);
    assert.ok(took < 5000, `answered after ${took} ms, soon after the timeout`);
    const run = await h.execution(body.execution_id);
    assert.ok(['queued', 'running', 'waiting'].includes(run.status), run.status);
    assert.deepEqual(run.input, { slow: true });
    const cancel = await t.request({ method: 'POST', url: `/v1/executions/${body.execution_id}/cancel` });
    assert.equal(cancel.statusCode, 200, cancel.body);
  });

  it('a body over OSPREY_BODY_LIMIT answers 413 PAYLOAD_TOO_LARGE and starts no run', async () => {
    const id = await h.create(ECHO);
    const hook = await h.hook(id);
    const big = 'x'.repeat(3000);
    for (const [payload, type] of [
      [JSON.stringify({ big }), 'application/json'],
      [big, 'text/plain'],
      [`a=${big}`, 'application/x-www-form-urlencoded'],
    ] as const) {
      const res = await h.deliver(`${hook.path}/sync`, { payload, headers: { 'content-type': type } });
      assertError(res, 413, 'PAYLOAD_TOO_LARGE', 'body', { messageNamesField: false });
    }
    const fits = await h.deliver(`${hook.path}/sync`, { payload: { small: 'x'.repeat(1000) } });
    assert.equal(fits.statusCode, 200, fits.body);
    assert.equal((await h.executionsOf(id)).length, 1);
  });
});

describe('webhooks and the API rate limit', () => {
  let t: TestApp;
  const h = helpers(() => t);

  before(async () => {
    t = await startTestApp({ env: { OSPREY_RATE_LIMIT: '3' } });
  });
  after(() => t.close());

  /** Setup calls under a 3-a-second limit: wait out a 429 and try again. */
  async function patient<T>(call: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      try {
        return await call();
      } catch (error) {
        if (i >= 5 || !String(error).includes('429')) throw error;
        await sleep(1100);
      }
    }
  }

  it('does not apply to webhook deliveries', async () => {
    await patient(() => t.token());
    const id = await patient(() => h.create(ECHO));
    const hook = await patient(() => h.hook(id));
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.deliver(hook.path, { payload: { i } })),
    );
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      Array(12).fill(200),
      answers.map((a) => a.body).join('\n'),
    );
    // The limit itself is on: the same burst of API calls is cut off.
    const api = await Promise.all(
      Array.from({ length: 12 }, () => t.request({ method: 'GET', url: '/v1/auth/me' })),
    );
    assert.ok(
      api.some((r) => r.statusCode === 429),
      api.map((r) => r.statusCode).join(','),
    );
  });
});

describe('docs/webhooks.md', () => {
  it('has only valid workflows in its YAML examples, and documents every webhook error code', async () => {
    const text = await readFile('docs/webhooks.md', 'utf8');
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length > 0, 'docs/webhooks.md has YAML examples');
    for (const block of blocks) assert.deepEqual(validateDefinition(block).problems, [], block);
    for (const code of [
      'WEBHOOK_NOT_FOUND',
      'WEBHOOK_UNAUTHORIZED',
      'WEBHOOK_INACTIVE',
      'METHOD_NOT_ALLOWED',
      'MALFORMED_BODY',
      'PAYLOAD_TOO_LARGE',
      'RATE_LIMITED',
      'EXECUTION_FAILED',
    ])
      assert.ok(text.includes(`\`${code}\``), code);
    for (const name of [
      'OSPREY_WEBHOOK_RATE_LIMIT',
      'OSPREY_WEBHOOK_SYNC_TIMEOUT_MS',
      'OSPREY_BODY_LIMIT',
      'OSPREY_PUBLIC_URL',
    ])
      assert.ok(text.includes(name), name);
  });
});

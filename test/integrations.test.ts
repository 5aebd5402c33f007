// The /v1/integrations API: configured instances of apps with sealed secret configuration, the
// default integration of an app, expiry, rate limits, retries, connectivity tests, roles, workspace
// isolation, the audit trail, and GET /v1alpha/integrations.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { writePackage } from '../src/integrations/apps/package.js';
import { rotateEncryptionKey } from '../src/services/key-rotation.js';
import { assertError, eventually, sleep, type AuditEntry, type ErrorBody } from './helpers/api.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import {
  integrationHelpers,
  type Connectivity,
  type Integration as IntegrationView,
  type Outcome,
} from './helpers/integrations.js';
import { standIn, type RecordedRequest, type StandIn } from './vendors/stand-in.js';

const VIEW_KEYS = [
  'allowed_networks',
  'app',
  'app_version',
  'configuration',
  'connectivity',
  'created_at',
  'created_by',
  'description',
  'display_name',
  'expired',
  'expires_at',
  'id',
  'is_default',
  'last_used_at',
  'name',
  'rate_limit',
  'retries',
  'timeout_seconds',
  'updated_at',
  'verify_tls',
];

/** Distinctive secret values: none of them may ever show in an answer or an audit entry. */
const KEY_ONE = 'vx-key-ONE-7d1f0c2a9b';
const KEY_TWO = 'vx-key-TWO-4e8a61b3c5';
const KEY_WRONG = 'vx-key-WRONG-000000bad';
const EXTRA_TOKEN = 'vx-extra-token-91ac33';

/** A custom app whose integrations hold an API key (secret), a base URL and optional fields. */
const VENDORX = `manifest_version: 1
identifier: vendorx
version: 1.0.0
title: Vendor X
description: A stand-in vendor for the integration tests.
categories: [Testing]
configuration:
  base_url: { title: API URL, type: url, required: true }
  api_key: { title: API key, type: string, secret: true, required: true }
  extra_token: { title: Extra token, type: string, secret: true }
  region: { title: Region, type: string, enum: [eu, us] }
  page_limit: { title: Page limit, type: integer, default: 10 }
  tags: { title: Tags, type: string_list }
base_url: '{{ $config.base_url }}'
authentication:
  type: api_key
  in: header
  name: X-Api-Key
  value: '{{ $config.api_key }}'
test:
  request: { method: GET, path: /check }
actions:
  get_item:
    title: Get item
    parameters:
      type: object
      required: [id]
      additionalProperties: false
      properties:
        id: { type: string }
        count: { type: integer, minimum: 1 }
    request:
      method: GET
      path: '/items/{{ $encodeUrlComponent($params.id) }}'
      query: { count: '{{ $params.count }}' }
  post_item:
    title: Post item
    parameters:
      type: object
      properties:
        value: { type: string }
    request:
      method: POST
      path: /items
      json: { value: '{{ $params.value }}' }
  retry_post:
    title: Post that a 503 with Retry-After may retry
    request:
      method: POST
      path: /retry-post
      json: {}
`;

/** An app that needs an integration (a required field without default) and never gets one. */
const NEEDY = `manifest_version: 1
identifier: needy
version: 1.0.0
title: Needy
configuration:
  token: { title: Token, type: string, secret: true, required: true }
base_url: http://127.0.0.1:9
actions:
  ping:
    title: Ping
    request: { path: /ping }
`;

let t: TestApp;
let worker: Worker;
let vendor: StandIn;
/** The API keys the stand-in accepts. */
const accepted = new Set<string>([KEY_ONE]);

function authorized(r: RecordedRequest): boolean {
  return accepted.has(String(r.headers['x-api-key']));
}

function unauthorized(r: RecordedRequest) {
  // Like many vendors, the error repeats the key it refused.
  return { status: 401, json: { error: { message: `invalid API key ${String(r.headers['x-api-key'])}` } } };
}

before(async () => {
  vendor = await standIn({
    'GET /check': (r) => (authorized(r) ? { json: { ok: true } } : unauthorized(r)),
    'GET /items/:id': (r) =>
      authorized(r)
        ? { json: { id: decodeURIComponent(r.path.split('/').pop()!), count: r.query.get('count') } }
        : unauthorized(r),
    'POST /items': (r) => (authorized(r) ? { status: 201, json: { created: r.json } } : unauthorized(r)),
    'POST /retry-post': () => ({ json: { ok: true } }),
  });
  t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
  worker = new Worker({ db: t.db, executor: t.services.executor, logger: pino({ level: 'silent' }) });
  for (const manifest of [VENDORX, NEEDY]) {
    const res = await t.request({
      method: 'POST',
      url: '/v1/apps',
      payload: writePackage(new Map([['manifest.yaml', manifest]])),
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(res.statusCode, 201, res.body);
  }
});
after(async () => {
  await t.close();
  await vendor.close();
});

const {
  createIntegration: create,
  executeRaw,
  execute,
  succeeded,
  failed,
  connectivityTest,
  runWorkflow,
} = integrationHelpers(
  () => t,
  () => worker,
  { failedMessage: 'non-empty', checkExecutionRead: true },
);

function vendorx(name: string, extra: Record<string, unknown> = {}, key = KEY_ONE): Record<string, unknown> {
  const { configuration, ...rest } = extra;
  return {
    name,
    app: 'vendorx',
    configuration: { base_url: vendor.url, api_key: key, ...(configuration as object) },
    ...rest,
  };
}

async function get(ref: string, as?: KeyPair): Promise<IntegrationView> {
  const res = await t.request({ method: 'GET', url: `/v1/integrations/${ref}`, ...(as && { as }) });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { integration: IntegrationView }).integration;
}

function patch(ref: string, payload: Record<string, unknown>, as?: KeyPair): Promise<LightMyRequestResponse> {
  return t.request({ method: 'PATCH', url: `/v1/integrations/${ref}`, payload, ...(as && { as }) });
}

function lastKey(): string | undefined {
  const h = vendor.requests.at(-1)?.headers['x-api-key'];
  return typeof h === 'string' ? h : undefined;
}

async function auditEntries(): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let token: string | undefined;
  do {
    const res = await t.request({
      method: 'GET',
      url: `/v1/audit-logs?page_size=500${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
    });
    assert.equal(res.statusCode, 200, res.body);
    const page = res.json() as { audit_logs: AuditEntry[]; next_page_token?: string };
    out.push(...page.audit_logs);
    token = page.next_page_token;
  } while (token);
  return out;
}

describe('creating and reading integrations', () => {
  it('creates an integration of the http app with no configuration, answering 201 and the view', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: { name: 'plain-http', app: 'http' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json() as { integration: IntegrationView };
    assert.deepEqual(Object.keys(body), ['integration']);
    const i = body.integration;
    assert.deepEqual(Object.keys(i).sort(), VIEW_KEYS);
    assert.match(i.id, /^[0-9a-f-]{36}$/);
    assert.equal(i.name, 'plain-http');
    assert.equal(i.display_name, 'plain-http', 'the display name defaults to the name');
    assert.equal(i.description, '');
    assert.equal(i.app, 'http');
    assert.equal(i.app_version, null);
    assert.deepEqual(i.configuration, {});
    assert.equal(i.is_default, false);
    assert.equal(i.expires_at, null);
    assert.equal(i.expired, false);
    assert.deepEqual(i.allowed_networks, []);
    assert.equal(i.verify_tls, true);
    assert.equal(i.timeout_seconds, 30);
    assert.equal(i.retries, 2);
    assert.equal(i.rate_limit, null);
    assert.deepEqual(i.connectivity, { status: 'untested', message: '', tested_at: null });
    assert.equal(i.last_used_at, null);
    assert.equal(i.created_by, 'owner@example.com');
    assert.ok(!Number.isNaN(Date.parse(i.created_at)));
    assert.ok(!Number.isNaN(Date.parse(i.updated_at)));
  });

  it('keeps every setting it is given', async () => {
    const expires = new Date(Date.now() + 86_400_000).toISOString();
    const i = await create({
      name: 'tuned-http',
      display_name: 'Tuned HTTP',
      description: 'with every setting',
      app: 'http',
      app_version: '1.0.0',
      expires_at: expires,
      allowed_networks: ['10.20.0.0/16', '2001:db8::/32', '192.0.2.1'],
      verify_tls: false,
      timeout_seconds: 7,
      retries: 0,
      rate_limit: { requests: 5, per_seconds: 60 },
    });
    assert.equal(i.display_name, 'Tuned HTTP');
    assert.equal(i.description, 'with every setting');
    assert.equal(i.app_version, '1.0.0');
    assert.equal(Date.parse(i.expires_at!), Date.parse(expires));
    assert.equal(i.expired, false);
    assert.deepEqual(i.allowed_networks, ['10.20.0.0/16', '2001:db8::/32', '192.0.2.1']);
    assert.equal(i.verify_tls, false);
    assert.equal(i.timeout_seconds, 7);
    assert.equal(i.retries, 0);
    assert.deepEqual(i.rate_limit, { requests: 5, per_seconds: 60 });
    assert.deepEqual(await get(i.id), i);
  });

  it('takes the name from the display name when none is given', async () => {
    const i = await create({ display_name: 'My Web Calls!', app: 'http' });
    assert.equal(i.name, 'my_web_calls');
  });

  it('masks secret fields as ******** and never answers their values', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: vendorx('vx-main', { configuration: { region: 'eu', tags: ['a', 'b'] } }),
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.ok(!res.body.includes(KEY_ONE), 'the key is not in the answer');
    const i = (res.json() as { integration: IntegrationView }).integration;
    assert.equal(i.configuration.api_key, '********');
    assert.equal(i.configuration.base_url, vendor.url);
    assert.equal(i.configuration.region, 'eu');
    assert.deepEqual(i.configuration.tags, ['a', 'b']);
    for (const url of ['/v1/integrations/vx-main', `/v1/integrations/${i.id}`, '/v1/integrations']) {
      const r = await t.request({ method: 'GET', url });
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(!r.body.includes(KEY_ONE), `${url} does not show the key`);
      assert.ok(r.body.includes('********'), `${url} shows the mask`);
    }
    assert.equal(((await succeeded('vx-main', 'get_item', { id: 'a1' })) as { id: string }).id, 'a1');
    assert.equal(lastKey(), KEY_ONE, 'the request carried the real key');
  });

  it('shows a secret field that was never set as absent, not as set', async () => {
    // extra_token is an optional secret: vx-main never set it.
    const i = await get('vx-main');
    // Regression: at c5d1874 every secret field read "********" as soon as any secret was set.
    assert.ok(!('extra_token' in i.configuration), JSON.stringify(i.configuration));
  });

  it('keeps a secret when ******** is sent back, and replaces it when a new value is sent', async () => {
    const kept = await patch('vx-main', {
      description: 'edited in the UI',
      configuration: { api_key: '********', base_url: vendor.url },
    });
    assert.equal(kept.statusCode, 200, kept.body);
    const view = (kept.json() as { integration: IntegrationView }).integration;
    assert.equal(view.description, 'edited in the UI');
    assert.equal(view.configuration.api_key, '********');
    await succeeded('vx-main', 'get_item', { id: 'still-works' });
    assert.equal(lastKey(), KEY_ONE, 'the stored key was kept');

    accepted.add(KEY_TWO);
    const replaced = await patch('vx-main', { configuration: { api_key: KEY_TWO } });
    assert.equal(replaced.statusCode, 200, replaced.body);
    assert.ok(!replaced.body.includes(KEY_TWO));
    assert.equal(
      (replaced.json() as { integration: IntegrationView }).integration.configuration.api_key,
      '********',
    );
    await succeeded('vx-main', 'get_item', { id: 'new-key' });
    assert.equal(lastKey(), KEY_TWO, 'the next call uses the new key at once');
    // Fields not sent keep their values.
    const now = await get('vx-main');
    assert.equal(now.configuration.region, 'eu');
    assert.equal(now.configuration.base_url, vendor.url);
  });

  it('removes a non-required field with null, but refuses to remove a required one', async () => {
    const res = await patch('vx-main', { configuration: { region: null, tags: null } });
    assert.equal(res.statusCode, 200, res.body);
    const i = (res.json() as { integration: IntegrationView }).integration;
    assert.ok(!('region' in i.configuration), JSON.stringify(i.configuration));
    assert.ok(!('tags' in i.configuration), JSON.stringify(i.configuration));
    const noKey = assertError(
      await patch('vx-main', { configuration: { api_key: null } }),
      400,
      'INVALID_ARGUMENT',
      'configuration.api_key',
      { messageNamesField: false },
    );
    assert.match(noKey.message, /api_key/);
    const noUrl = assertError(
      await patch('vx-main', { configuration: { base_url: null } }),
      400,
      'INVALID_ARGUMENT',
      'configuration.base_url',
      { messageNamesField: false },
    );
    assert.match(noUrl.message, /base_url/);
    assert.equal(
      (await get('vx-main')).configuration.api_key,
      '********',
      'a refused change changes nothing',
    );
    await succeeded('vx-main', 'get_item', { id: 'after-refusal' });
  });

  it('sets and removes an optional secret', async () => {
    const set = await patch('vx-main', { configuration: { extra_token: EXTRA_TOKEN } });
    assert.equal(set.statusCode, 200, set.body);
    assert.equal(
      (set.json() as { integration: IntegrationView }).integration.configuration.extra_token,
      '********',
    );
    const removed = await patch('vx-main', { configuration: { extra_token: null } });
    assert.equal(removed.statusCode, 200, removed.body);
    const i = (removed.json() as { integration: IntegrationView }).integration;
    // Regression (c5d1874): the removed optional secret still read "********" while api_key was set.
    assert.ok(!('extra_token' in i.configuration), JSON.stringify(i.configuration));
    assert.equal(i.configuration.api_key, '********');
    await succeeded('vx-main', 'get_item', { id: 'after-removal' });
    assert.equal(lastKey(), KEY_TWO, 'removing one secret keeps the others');
  });

  it('answers 409 INTEGRATION_NAME_TAKEN for a name in use, on create and on rename', async () => {
    assertError(
      await t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: { name: 'plain-http', app: 'http' },
      }),
      409,
      'INTEGRATION_NAME_TAKEN',
      'name',
      { messageNamesField: false },
    );
    assertError(await patch('tuned-http', { name: 'plain-http' }), 409, 'INTEGRATION_NAME_TAKEN', 'name', {
      messageNamesField: false,
    });
  });

  it('refuses configuration that does not fit the app, naming the field', async () => {
    const post = (payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/v1/integrations', payload });
    assertError(
      await post(vendorx('bad-1', { configuration: { bogus: 1 } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.bogus',
      { messageNamesField: false },
    );
    let body = assertError(
      await post(vendorx('bad-2', { configuration: { page_limit: 'ten' } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.page_limit',
      { messageNamesField: false },
    );
    assert.match(body.message, /page_limit/);
    body = assertError(
      await post(vendorx('bad-3', { configuration: { base_url: 'ftp://files.example' } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.base_url',
      { messageNamesField: false },
    );
    assert.match(body.message, /base_url/);
    assertError(
      await post(vendorx('bad-4', { configuration: { region: 'mars' } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.region',
      { messageNamesField: false },
    );
    assertError(
      await post(vendorx('bad-5', { configuration: { tags: ['a', 2] } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.tags',
      { messageNamesField: false },
    );
    assertError(
      await post(vendorx('bad-6', { configuration: { api_key: 42 } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.api_key',
      { messageNamesField: false },
    );
    body = assertError(
      await post({ name: 'bad-7', app: 'vendorx', configuration: { base_url: vendor.url } }),
      400,
      'INVALID_ARGUMENT',
      'configuration.api_key',
      { messageNamesField: false },
    );
    assert.match(body.message, /api_key/);
    assertError(
      await post(vendorx('bad-8', { configuration: { api_key: '' } })),
      400,
      'INVALID_ARGUMENT',
      'configuration.api_key',
      { messageNamesField: false },
    );
    // The same rules on an update.
    assertError(
      await patch('vx-main', { configuration: { bogus: true } }),
      400,
      'INVALID_ARGUMENT',
      'configuration.bogus',
      { messageNamesField: false },
    );
    assertError(
      await patch('vx-main', { configuration: { page_limit: 2.5 } }),
      400,
      'INVALID_ARGUMENT',
      'configuration.page_limit',
      { messageNamesField: false },
    );
    // Nothing was created.
    const list = (await t.request({ method: 'GET', url: '/v1/integrations?app=vendorx' })).json() as {
      integrations: IntegrationView[];
    };
    assert.ok(!list.integrations.some((i) => i.name.startsWith('bad-')), JSON.stringify(list));
  });

  it('refuses bad names, unknown apps and versions, and an expiry in the past', async () => {
    const post = (payload: Record<string, unknown>) =>
      t.request({ method: 'POST', url: '/v1/integrations', payload });
    for (const name of [
      'Bad Name',
      'UPPER',
      '-leading',
      'with.dot',
      'sp ace',
      'a'.repeat(64),
      // an id-shaped name would be ambiguous where integrations are found by id or name
      '0f0e19f8-a660-4b40-ac28-419d8f86576d',
    ]) {
      const res = await post({ name, app: 'http' });
      assert.equal(res.statusCode, 400, `${name}: ${res.body}`);
      const body = res.json() as ErrorBody;
      assert.ok(
        body.details.some((d) => d.field === 'name'),
        `${name}: ${res.body}`,
      );
    }
    assertError(await post({ display_name: '!!!', app: 'http' }), 400, 'INVALID_ARGUMENT', 'name');
    assertError(await patch('plain-http', { name: 'Not Valid' }), 400, 'INVALID_ARGUMENT', 'name');
    const unknown = assertError(
      await post({ name: 'ghost', app: 'no_such_app' }),
      400,
      'APP_NOT_FOUND',
      'app',
      {
        messageNamesField: false,
      },
    );
    assert.match(unknown.message, /no_such_app/);
    assertError(
      await post({ name: 'ghost-2', app: 'http', app_version: '9.9.9' }),
      400,
      'INVALID_ARGUMENT',
      'app_version',
      {
        messageNamesField: false,
      },
    );
    const past = new Date(Date.now() - 60_000).toISOString();
    assertError(
      await post({ name: 'stale', app: 'http', expires_at: past }),
      400,
      'INVALID_ARGUMENT',
      'expires_at',
    );
    assertError(await patch('plain-http', { expires_at: past }), 400, 'INVALID_ARGUMENT', 'expires_at');
    assertError(
      await post({ name: 'when', app: 'http', expires_at: 'tomorrow' }),
      400,
      'INVALID_ARGUMENT',
      'expires_at',
      {
        messageNamesField: false,
      },
    );
    assertError(await post({ name: 'no-app' }), 400, 'INVALID_ARGUMENT', 'app', { messageNamesField: false });
    assertError(await patch('plain-http', { app: 'email' }), 400, 'UNKNOWN_FIELD', 'app', {
      messageNamesField: false,
    });
  });

  it('finds an integration by id and by name, and answers 404 INTEGRATION_NOT_FOUND otherwise', async () => {
    const byName = await get('plain-http');
    const byId = await get(byName.id);
    assert.deepEqual(byId, byName);
    assertError(
      await t.request({ method: 'GET', url: '/v1/integrations/nope' }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
    assertError(
      await t.request({ method: 'GET', url: '/v1/integrations/00000000-0000-4000-8000-00000000abcd' }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
  });

  it('lists by name, filters by app, and pages with page_size and next_page_token', async () => {
    for (const n of ['page-a', 'page-b', 'page-c', 'page-d', 'page-e'])
      await create({ name: n, app: 'http' });
    const all = (await t.request({ method: 'GET', url: '/v1/integrations' })).json() as {
      integrations: IntegrationView[];
      next_page_token?: string;
    };
    const names = all.integrations.map((i) => i.name);
    assert.deepEqual(names, [...names].sort(), 'ordered by name');
    assert.equal(all.next_page_token, undefined);

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const res = await t.request({
        method: 'GET',
        url: `/v1/integrations?app=http&page_size=2${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as { integrations: IntegrationView[]; next_page_token?: string };
      assert.ok(page.integrations.length <= 2);
      for (const i of page.integrations) assert.equal(i.app, 'http');
      seen.push(...page.integrations.map((i) => i.name));
      token = page.next_page_token;
      pages++;
    } while (token && pages < 50);
    const httpNames = all.integrations.filter((i) => i.app === 'http').map((i) => i.name);
    assert.deepEqual(seen, httpNames, 'the pages hold every http integration once, in order');
    assert.ok(pages >= 4);

    const vx = (await t.request({ method: 'GET', url: '/v1/integrations?app=vendorx' })).json() as {
      integrations: IntegrationView[];
    };
    assert.ok(vx.integrations.length >= 1);
    assert.ok(vx.integrations.every((i) => i.app === 'vendorx'));
    const none = (await t.request({ method: 'GET', url: '/v1/integrations?app=email' })).json() as {
      integrations: IntegrationView[];
    };
    assert.deepEqual(none.integrations, []);
    // A token from one filter does not page another.
    const first = (
      await t.request({ method: 'GET', url: '/v1/integrations?app=http&page_size=1' })
    ).json() as {
      next_page_token: string;
    };
    assertError(
      await t.request({
        method: 'GET',
        url: `/v1/integrations?app=vendorx&page_token=${encodeURIComponent(first.next_page_token)}`,
      }),
      400,
      'INVALID_PAGE_TOKEN',
    );
  });

  it('deletes with 204, then answers 404 INTEGRATION_NOT_FOUND', async () => {
    const i = await create({ name: 'short-lived', app: 'http' });
    const del = await t.request({ method: 'DELETE', url: `/v1/integrations/${i.id}` });
    assert.equal(del.statusCode, 204, del.body);
    assert.equal(del.body, '');
    assertError(
      await t.request({ method: 'GET', url: `/v1/integrations/${i.id}` }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
    assertError(
      await t.request({ method: 'GET', url: '/v1/integrations/short-lived' }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
    assertError(
      await t.request({ method: 'DELETE', url: `/v1/integrations/${i.id}` }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
    assertError(await patch('short-lived', { description: 'x' }), 404, 'INTEGRATION_NOT_FOUND');
    assertError(
      await executeRaw('short-lived', 'request', { url: 'http://127.0.0.1/' }),
      404,
      'INTEGRATION_NOT_FOUND',
    );
    // The name is free again.
    await create({ name: 'short-lived', app: 'http' });
  });
});

describe('the audit trail of integrations', () => {
  it('records created, updated and deleted with the integration name, and never a secret value', async () => {
    const i = await create(vendorx('audited', { configuration: { extra_token: EXTRA_TOKEN } }));
    assert.equal(
      (await patch('audited', { configuration: { api_key: KEY_TWO }, description: 'rotated' })).statusCode,
      200,
    );
    assert.equal((await t.request({ method: 'DELETE', url: `/v1/integrations/${i.id}` })).statusCode, 204);
    const entries = (await auditEntries()).filter((e) => e.resource_id === i.id);
    const created = entries.find((e) => e.action === 'Integration created');
    const updated = entries.find((e) => e.action === 'Integration updated');
    const deleted = entries.find((e) => e.action === 'Integration deleted');
    assert.ok(created && updated && deleted, JSON.stringify(entries));
    for (const e of [created, updated, deleted]) assert.equal(e.resource_name, 'audited');
    assert.equal(created.extra_data.app, 'vendorx');
    assert.deepEqual(updated.extra_data.changed_configuration, ['api_key']);
    assert.ok((updated.extra_data.changed_fields as string[]).includes('configuration'));
    const all = JSON.stringify(await auditEntries());
    for (const secret of [KEY_ONE, KEY_TWO, EXTRA_TOKEN])
      assert.ok(!all.includes(secret), `no audit entry holds ${secret}`);
    // The Torq surface's view of the same log.
    const alpha = await t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=500' });
    assert.equal(alpha.statusCode, 200);
    for (const secret of [KEY_ONE, KEY_TWO, EXTRA_TOKEN]) assert.ok(!alpha.body.includes(secret));
  });
});

describe('roles and workspaces', () => {
  let viewer: KeyPair;
  let operator: KeyPair;
  let creator: KeyPair;
  let contributor: KeyPair;
  before(async () => {
    viewer = await t.keyWithRole('viewer');
    operator = await t.keyWithRole('operator');
    creator = await t.keyWithRole('creator');
    contributor = await t.keyWithRole('contributor');
  });

  it('lets a viewer read but not create, change, delete, execute or test', async () => {
    const i = await get('vx-main', viewer);
    assert.equal(i.configuration.api_key, '********');
    assert.equal((await t.request({ method: 'GET', url: '/v1/integrations', as: viewer })).statusCode, 200);
    assert.equal(
      (await t.request({ method: 'GET', url: '/v1alpha/integrations', as: viewer })).statusCode,
      200,
    );
    for (const as of [viewer, operator]) {
      assertError(
        await t.request({
          method: 'POST',
          url: '/v1/integrations',
          payload: { name: 'by-viewer', app: 'http' },
          as,
        }),
        403,
        'PERMISSION_DENIED',
      );
      assertError(await patch('vx-main', { description: 'viewer was here' }, as), 403, 'PERMISSION_DENIED');
      assertError(
        await t.request({ method: 'DELETE', url: '/v1/integrations/vx-main', as }),
        403,
        'PERMISSION_DENIED',
      );
      assertError(await executeRaw('vx-main', 'get_item', { id: 'x' }, as), 403, 'PERMISSION_DENIED');
      assertError(
        await t.request({ method: 'POST', url: '/v1/integrations/vx-main/test', as }),
        403,
        'PERMISSION_DENIED',
      );
    }
    assert.equal((await get('vx-main')).description, 'edited in the UI');
  });

  it('lets a creator execute and test but not create, change or delete', async () => {
    const run = await executeRaw('vx-main', 'get_item', { id: 'by-creator' }, creator);
    assert.equal(run.statusCode, 200, run.body);
    assert.equal((run.json() as Outcome).status, 'succeeded');
    const test = await t.request({ method: 'POST', url: '/v1/integrations/vx-main/test', as: creator });
    assert.equal(test.statusCode, 200, test.body);
    assertError(
      await t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: { name: 'by-creator', app: 'http' },
        as: creator,
      }),
      403,
      'PERMISSION_DENIED',
    );
    assertError(await patch('vx-main', { description: 'creator' }, creator), 403, 'PERMISSION_DENIED');
    assertError(
      await t.request({ method: 'DELETE', url: '/v1/integrations/vx-main', as: creator }),
      403,
      'PERMISSION_DENIED',
    );
  });

  it('lets a contributor create, change, execute and delete', async () => {
    const i = await create({ name: 'by-contributor', app: 'http' }, contributor);
    assert.ok(i.created_by.length > 0);
    assert.equal((await patch(i.id, { description: 'mine' }, contributor)).statusCode, 200);
    const run = await executeRaw(i.id, 'request', { url: `${vendor.url}/check` }, contributor);
    assert.equal(run.statusCode, 200, run.body);
    assert.equal(
      (await t.request({ method: 'DELETE', url: `/v1/integrations/${i.id}`, as: contributor })).statusCode,
      204,
    );
  });

  it("keeps each workspace's integrations to itself", async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/workspaces',
      payload: { name: 'integrations-b' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const other = (res.json() as { api_key: KeyPair }).api_key;
    const mine = await get('vx-main');
    for (const ref of [mine.id, mine.name]) {
      assertError(
        await t.request({ method: 'GET', url: `/v1/integrations/${ref}`, as: other }),
        404,
        'INTEGRATION_NOT_FOUND',
      );
      assertError(await patch(ref, { description: 'stolen' }, other), 404, 'INTEGRATION_NOT_FOUND');
      assertError(await executeRaw(ref, 'get_item', { id: 'x' }, other), 404, 'INTEGRATION_NOT_FOUND');
      assertError(
        await t.request({ method: 'POST', url: `/v1/integrations/${ref}/test`, as: other }),
        404,
        'INTEGRATION_NOT_FOUND',
      );
      assertError(
        await t.request({ method: 'DELETE', url: `/v1/integrations/${ref}`, as: other }),
        404,
        'INTEGRATION_NOT_FOUND',
      );
    }
    const list = await t.request({ method: 'GET', url: '/v1/integrations', as: other });
    assert.deepEqual((list.json() as { integrations: unknown[] }).integrations, []);
    const alpha = await t.request({ method: 'GET', url: '/v1alpha/integrations', as: other });
    assert.deepEqual((alpha.json() as { integrations: unknown[] }).integrations, []);
    // The custom app is not installed there either, and names are per workspace.
    assertError(
      await t.request({ method: 'POST', url: '/v1/integrations', payload: vendorx('vx-main'), as: other }),
      400,
      'APP_NOT_FOUND',
      'app',
      { messageNamesField: false },
    );
    const same = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: { name: 'vx-main', app: 'http' },
      as: other,
    });
    assert.equal(same.statusCode, 201, same.body);
    assert.equal((await get('vx-main')).app, 'vendorx', 'the first workspace is untouched');
  });
});

describe('POST /v1/integrations/{id}/execute', () => {
  it('answers {status: "succeeded", output} and accepts the action as "app.action"', async () => {
    const res = await executeRaw('vx-main', 'get_item', { id: 'a b/c', count: 3 });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as Outcome;
    assert.deepEqual(Object.keys(o).sort(), ['duration_ms', 'output', 'status']);
    assert.equal(o.status, 'succeeded');
    assert.deepEqual(o.output, { id: 'a b/c', count: '3' });
    assert.ok(Number.isInteger(o.duration_ms) && o.duration_ms >= 0);
    assert.deepEqual(await succeeded('vx-main', 'vendorx.get_item', { id: 'dotted' }), {
      id: 'dotted',
      count: null,
    });
    const created = await succeeded('vx-main', 'post_item', { value: 'v1' });
    assert.deepEqual(created, { created: { value: 'v1' } });
  });

  it('answers 404 ACTION_NOT_FOUND for an action the app does not have', async () => {
    for (const action of ['nope', 'vendorx.nope', 'http.request', 'email.send_email']) {
      const body = assertError(await executeRaw('vx-main', action, {}), 404, 'ACTION_NOT_FOUND', 'action', {
        messageNamesField: false,
      });
      assert.ok(body.message.includes(action), body.message);
    }
  });

  it('answers 400 naming params.<field> for invalid parameters, and sends nothing', async () => {
    const before = vendor.requests.length;
    assertError(await executeRaw('vx-main', 'get_item', {}), 400, 'INVALID_ARGUMENT', 'params.id', {
      messageNamesField: false,
    });
    assertError(await executeRaw('vx-main', 'get_item', { id: 7 }), 400, 'INVALID_ARGUMENT', 'params.id', {
      messageNamesField: false,
    });
    assertError(
      await executeRaw('vx-main', 'get_item', { id: 'x', count: 0 }),
      400,
      'INVALID_ARGUMENT',
      'params.count',
      {
        messageNamesField: false,
      },
    );
    assertError(
      await executeRaw('vx-main', 'get_item', { id: 'x', colour: 'red' }),
      400,
      'INVALID_ARGUMENT',
      'params.colour',
      {
        messageNamesField: false,
      },
    );
    assertError(
      await executeRaw('plain-http', 'request', { method: 'FETCH', url: 'http://x.test/' }),
      400,
      'INVALID_ARGUMENT',
      'params.method',
      {
        messageNamesField: false,
      },
    );
    assert.equal(vendor.requests.length, before, 'invalid parameters never reach the vendor');
  });

  it('answers 200 {status: "failed", error: {code, message}} when the vendor fails', async () => {
    const o = await execute('vx-main', 'get_item', { id: 'x' });
    assert.equal(o.status, 'succeeded');
    vendor.failNext({ status: 404, json: { message: 'no item x' } });
    const res = await executeRaw('vx-main', 'get_item', { id: 'x' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as Outcome;
    assert.deepEqual(Object.keys(body).sort(), ['duration_ms', 'error', 'status']);
    assert.equal(body.status, 'failed');
    assert.deepEqual(Object.keys(body.error!).sort(), ['code', 'message']);
    assert.equal(body.error!.code, 'NOT_FOUND');
    assert.match(body.error!.message, /Vendor X/, 'the message names the app');
    assert.match(body.error!.message, /GET \/items\/x/, 'the method and path');
    assert.match(body.error!.message, /no item x/, "the vendor's own words");
    assert.doesNotMatch(body.error!.message, /count=/, 'never the query');

    vendor.failNext({ status: 400, json: { errors: [{ detail: 'bad id' }] } });
    assert.match(await failed('vx-main', 'get_item', { id: 'x' }, 'REMOTE_REJECTED'), /bad id/);
    vendor.failNext({ status: 403, json: { error: 'forbidden' } });
    await failed('vx-main', 'get_item', { id: 'x' }, 'AUTH_FAILED');
  });

  it('fails with AUTH_FAILED for a wrong key, without showing the key the vendor echoed', async () => {
    await create(vendorx('vx-wrong', {}, KEY_WRONG));
    const res = await executeRaw('vx-wrong', 'get_item', { id: 'x' });
    assert.equal(res.statusCode, 200, res.body);
    const o = res.json() as Outcome;
    assert.equal(o.error?.code, 'AUTH_FAILED', res.body);
    assert.match(o.error!.message, /401/);
    assert.ok(!res.body.includes(KEY_WRONG), res.body);
    assert.match(o.error!.message, /\[secret\]/, 'the echoed key is replaced');
  });

  it('records last_used_at', async () => {
    await succeeded('plain-http', 'request', { url: `${vendor.url}/check` }).catch(() => undefined);
    assert.ok(
      await eventually(async () => (await get('plain-http')).last_used_at !== null),
      'last_used_at is set after a run',
    );
  });
});

describe('the default integration of an app', () => {
  it('runs a step that names no integration with the default, and moves the flag', async () => {
    accepted.add(KEY_ONE);
    accepted.add(KEY_TWO);
    const a = await create(vendorx('vx-default-a', { is_default: true }, KEY_ONE));
    const b = await create(vendorx('vx-default-b', {}, KEY_TWO));
    assert.equal(a.is_default, true);
    assert.equal(b.is_default, false);
    const yaml = `name: Default integration
trigger: { type: on_demand }
steps:
  - id: lookup
    kind: action
    action: vendorx.get_item
    with: { id: "{{ $.event.id }}" }
  - id: done
    kind: exit
    output: "{{ $.lookup }}"
`;
    let x = await runWorkflow(yaml, { id: 'dflt-1' });
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { id: 'dflt-1', count: null });
    assert.equal(lastKey(), KEY_ONE, 'the default (a) was used');

    const moved = await patch('vx-default-b', { is_default: true });
    assert.equal(moved.statusCode, 200, moved.body);
    assert.equal((moved.json() as { integration: IntegrationView }).integration.is_default, true);
    assert.equal((await get('vx-default-a')).is_default, false, 'the flag moved off a');
    const defaults = (
      (await t.request({ method: 'GET', url: '/v1/integrations?app=vendorx' })).json() as {
        integrations: IntegrationView[];
      }
    ).integrations.filter((i) => i.is_default);
    assert.deepEqual(
      defaults.map((i) => i.name),
      ['vx-default-b'],
      'one default per app',
    );
    x = await runWorkflow(yaml, { id: 'dflt-2' });
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.equal(lastKey(), KEY_TWO, 'the new default (b) was used');

    // Creating another default moves it again.
    const c = await create(vendorx('vx-default-c', { is_default: true }, KEY_ONE));
    assert.equal(c.is_default, true);
    assert.equal((await get('vx-default-b')).is_default, false);
    // A default http integration does not take vendorx's flag.
    const h = await create({ name: 'http-default', app: 'http', is_default: true });
    assert.equal(h.is_default, true);
    assert.equal((await get('vx-default-c')).is_default, true);
  });

  it('keeps one default when two are created at the same time', async () => {
    const [r1, r2] = await Promise.all([
      t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: vendorx('vx-race-1', { is_default: true }),
      }),
      t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: vendorx('vx-race-2', { is_default: true }),
      }),
    ]);
    // Regression: at c5d1874 the second save hit the partial unique index integrations_default_idx
    // and answered 409 INTEGRATION_NAME_TAKEN for a name nobody used.
    assert.equal(r1.statusCode, 201, r1.body);
    assert.equal(r2.statusCode, 201, r2.body);
    const defaults = (
      (await t.request({ method: 'GET', url: '/v1/integrations?app=vendorx' })).json() as {
        integrations: IntegrationView[];
      }
    ).integrations.filter((i) => i.is_default);
    assert.equal(defaults.length, 1, JSON.stringify(defaults));
  });

  it('fails steps with INTEGRATION_REQUIRED, INTEGRATION_MISMATCH and INTEGRATION_NOT_FOUND', async () => {
    const required = await runWorkflow(`name: Needs one
trigger: { type: on_demand }
steps: [{ id: ping, kind: action, action: needy.ping }]
`);
    assert.equal(required.status, 'failed');
    assert.equal(required.error?.code, 'INTEGRATION_REQUIRED', JSON.stringify(required.error));
    assert.match(required.error!.message, /needy/);

    const mismatch = await runWorkflow(`name: Wrong app
trigger: { type: on_demand }
steps: [{ id: lookup, kind: action, action: vendorx.get_item, integration: plain-http, with: { id: x } }]
`);
    assert.equal(mismatch.status, 'failed');
    assert.equal(mismatch.error?.code, 'INTEGRATION_MISMATCH', JSON.stringify(mismatch.error));
    assert.match(mismatch.error!.message, /plain-http/);

    const missing = await runWorkflow(`name: No such integration
trigger: { type: on_demand }
steps: [{ id: lookup, kind: action, action: vendorx.get_item, integration: nobody-has-this, with: { id: x } }]
`);
    assert.equal(missing.status, 'failed');
    assert.equal(missing.error?.code, 'INTEGRATION_NOT_FOUND', JSON.stringify(missing.error));
    assert.match(missing.error!.message, /nobody-has-this/);

    // A named integration is used even when another is the default.
    const named = await runWorkflow(`name: Named
trigger: { type: on_demand }
steps:
  - { id: lookup, kind: action, action: vendorx.get_item, integration: vx-main, with: { id: named } }
  - { id: done, kind: exit, output: "{{ $.lookup.id }}" }
`);
    assert.equal(named.status, 'succeeded', JSON.stringify(named.error));
    assert.equal(named.output, 'named');
    assert.equal(lastKey(), KEY_TWO, 'vx-main holds KEY_TWO since it was rotated');

    // The http app needs no integration.
    const plain = await runWorkflow(`name: Plain http
trigger: { type: on_demand }
steps:
  - { id: get, kind: action, action: http.request, with: { url: "${vendor.url}/check", headers: { X-Api-Key: "${KEY_ONE}" } } }
  - { id: done, kind: exit, output: "{{ $.get.status_code }}" }
`);
    assert.equal(plain.status, 'succeeded', JSON.stringify(plain.error));
    assert.equal(plain.output, 200);
  });
});

describe('expiry', () => {
  it('fails actions of an expired integration with INTEGRATION_EXPIRED and shows expired: true', async () => {
    const expires = new Date(Date.now() + 2000).toISOString();
    const i = await create(vendorx('vx-expiring', { expires_at: expires }, KEY_ONE));
    assert.equal(i.expired, false);
    await succeeded(i.id, 'get_item', { id: 'before' });
    await sleep(Math.max(0, Date.parse(expires) - Date.now()) + 300);
    const message = await failed(i.id, 'get_item', { id: 'after' }, 'INTEGRATION_EXPIRED');
    assert.match(message, /vx-expiring/);
    const view = await get(i.id);
    assert.equal(view.expired, true);
    const x = await runWorkflow(`name: Expired
trigger: { type: on_demand }
steps: [{ id: lookup, kind: action, action: vendorx.get_item, integration: vx-expiring, with: { id: x } }]
`);
    assert.equal(x.error?.code, 'INTEGRATION_EXPIRED', JSON.stringify(x.error));
    // Regression: at c5d1874 the INTEGRATION_EXPIRED error escaped the connectivity test as a 500.
    const res = await t.request({ method: 'POST', url: `/v1/integrations/${i.id}/test` });
    assert.equal(res.statusCode, 200, res.body);
    const c = (res.json() as { connectivity: Connectivity }).connectivity;
    assert.equal(c.status, 'failed');
    assert.equal(c.error_code, 'INTEGRATION_EXPIRED');
  });

  it('comes back to life when expires_at is moved or removed', async () => {
    const moved = await patch('vx-expiring', { expires_at: null });
    assert.equal(moved.statusCode, 200, moved.body);
    const view = (moved.json() as { integration: IntegrationView }).integration;
    assert.equal(view.expired, false);
    assert.equal(view.expires_at, null);
    await succeeded('vx-expiring', 'get_item', { id: 'revived' });
  });
});

describe('rate limits', () => {
  it('spaces calls to at most rate_limit.requests per per_seconds, and all succeed', async () => {
    const limited = await create(
      vendorx('vx-limited', { rate_limit: { requests: 2, per_seconds: 1 } }, KEY_ONE),
    );
    const free = await create(vendorx('vx-unlimited', {}, KEY_ONE));
    let started = performance.now();
    for (let i = 0; i < 6; i++) await succeeded(limited.id, 'get_item', { id: `rl-${i}` });
    const limitedMs = performance.now() - started;
    assert.ok(limitedMs >= 1800, `6 calls at 2/s took ${Math.round(limitedMs)} ms, expected >= 1800`);
    started = performance.now();
    for (let i = 0; i < 6; i++) await succeeded(free.id, 'get_item', { id: `free-${i}` });
    const freeMs = performance.now() - started;
    assert.ok(freeMs < 1000, `6 calls without a limit took ${Math.round(freeMs)} ms`);
    // Removing the limit takes effect at once.
    assert.equal((await patch('vx-limited', { rate_limit: null })).statusCode, 200);
    assert.equal((await get('vx-limited')).rate_limit, null);
    started = performance.now();
    for (let i = 0; i < 6; i++) await succeeded(limited.id, 'get_item', { id: `unl-${i}` });
    assert.ok(performance.now() - started < 1000);
  });

  it('counts a rate-limit wait in the integration timeout', async () => {
    // docs/integrations.md: timeout_seconds is "the most one action may take, its retries and
    // rate-limit waits included".
    const i = await create(
      vendorx(
        'vx-slow-limit',
        { rate_limit: { requests: 1, per_seconds: 10 }, timeout_seconds: 1, retries: 0 },
        KEY_ONE,
      ),
    );
    await succeeded(i.id, 'get_item', { id: 'first' });
    const started = performance.now();
    const o = await execute(i.id, 'get_item', { id: 'second' });
    const took = performance.now() - started;
    // Regression (failed at d05a628, fixed in the working tree since): the rate-limit wait sleeps on the caller's signal only (IntegrationService.run), not the
    // integration's timeout: the execute waits ~6 s (its own outer bound) and then fails with the
    // raw code ABORT_ERR "The operation was aborted" instead of STEP_TIMEOUT after about 1 s.
    assert.equal(o.error?.code, 'STEP_TIMEOUT', JSON.stringify(o));
    assert.ok(took < 2500, `gave up after ${Math.round(took)} ms`);
  });

  it('refuses a rate limit that is not positive', async () => {
    for (const rate_limit of [
      { requests: 0, per_seconds: 1 },
      { requests: 1, per_seconds: 0 },
      { requests: 1 },
    ]) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: { name: 'bad-rate', app: 'http', rate_limit },
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.ok(
        (res.json() as ErrorBody).details.some((d) => d.field?.startsWith('rate_limit')),
        res.body,
      );
    }
  });
});

describe('retries', () => {
  it('retries a 429 after its Retry-After and succeeds', async () => {
    const before = vendor.requests.length;
    vendor.failNext({ status: 429, headers: { 'retry-after': '1' }, json: { error: 'slow down' } });
    const started = Date.now();
    assert.deepEqual(await succeeded('vx-main', 'get_item', { id: 'after-429' }), {
      id: 'after-429',
      count: null,
    });
    assert.ok(Date.now() - started >= 900, 'waited for Retry-After');
    assert.equal(vendor.requests.length - before, 2, 'the stand-in saw the call and its retry');
  });

  it('fails with RATE_LIMITED when retries is 0', async () => {
    const i = await create(vendorx('vx-no-retry', { retries: 0 }, KEY_TWO));
    const before = vendor.requests.length;
    vendor.failNext({ status: 429, headers: { 'retry-after': '1' }, json: { error: 'slow down' } });
    assert.match(await failed(i.id, 'get_item', { id: 'x' }, 'RATE_LIMITED'), /429/);
    assert.equal(vendor.requests.length - before, 1);
  });

  it('does not wait out a Retry-After longer than 30 s itself', async () => {
    const before = vendor.requests.length;
    vendor.failNext({ status: 429, headers: { 'retry-after': '120' }, json: { error: 'come back later' } });
    const started = Date.now();
    assert.match(await failed('vx-main', 'get_item', { id: 'x' }, 'RATE_LIMITED'), /come back later/);
    assert.ok(Date.now() - started < 2000, 'failed at once, for the step retry to honour');
    assert.equal(vendor.requests.length - before, 1);
  });

  it('retries a 500 on GET, but not on POST', async () => {
    let before = vendor.requests.length;
    vendor.failNext({ status: 500, json: { error: 'oops' } });
    await succeeded('vx-main', 'get_item', { id: 'after-500' });
    assert.equal(vendor.requests.length - before, 2);

    before = vendor.requests.length;
    vendor.failNext({ status: 500, json: { error: 'oops' } });
    const message = await failed('vx-main', 'post_item', { value: 'once' }, 'REMOTE_ERROR');
    assert.match(message, /POST \/items/);
    assert.match(message, /500/);
    assert.equal(vendor.requests.length - before, 1, 'a POST is sent once');

    before = vendor.requests.length;
    vendor.failNext({ status: 500, json: { error: 'still down' } }, 3);
    await failed('vx-main', 'get_item', { id: 'down' }, 'REMOTE_ERROR');
    assert.equal(vendor.requests.length - before, 3, 'retries: 2 means three attempts');
  });

  it('retries a POST that answers 503 with Retry-After', async () => {
    const before = vendor.requests.length;
    vendor.failNext({ status: 503, headers: { 'retry-after': '0' }, json: { error: 'maintenance' } });
    await succeeded('vx-main', 'retry_post');
    assert.equal(vendor.requests.length - before, 2);
  });

  it("retries the http app's requests as its integration's retries say", async () => {
    // apps/http/manifest.yaml: "use [an integration] to give the calls their own ... retries".
    const i = await create({ name: 'http-retrying', app: 'http', retries: 2 });
    const before = vendor.requests.length;
    vendor.failNext({ status: 503, json: { error: 'busy' } });
    const o = await execute(i.id, 'request', {
      url: `${vendor.url}/check`,
      headers: { 'X-Api-Key': KEY_ONE },
    });
    // Regression (failed at d05a628, fixed in the working tree since): the http app runs through a native handler, which the runtime calls once: the
    // integration's retries never apply, so the 503 fails the call with HTTP_ERROR.
    assert.equal(o.status, 'succeeded', JSON.stringify(o));
    assert.equal(vendor.requests.length - before, 2);
  });

  it('fails with INVALID_RESPONSE when a JSON body is malformed', async () => {
    const before = vendor.requests.length;
    vendor.failNext({ status: 200, text: '{"id": "x", ', headers: { 'content-type': 'application/json' } });
    const message = await failed('vx-main', 'get_item', { id: 'x' }, 'INVALID_RESPONSE');
    assert.match(message, /GET \/items\/x/);
    assert.equal(vendor.requests.length - before, 1, 'not retried');
  });
});

describe('GET /v1alpha/integrations', () => {
  it('answers every integration in the reference shape, filtered by type_id', async () => {
    const res = await t.request({ method: 'GET', url: '/v1alpha/integrations' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as { integrations: Record<string, unknown>[] };
    assert.deepEqual(Object.keys(body), ['integrations']);
    const native = (
      (await t.request({ method: 'GET', url: '/v1/integrations?page_size=500' })).json() as {
        integrations: IntegrationView[];
      }
    ).integrations;
    assert.equal(body.integrations.length, native.length);
    for (const i of body.integrations) {
      assert.deepEqual(Object.keys(i).sort(), [
        'created_at',
        'created_by',
        'details',
        'display_name',
        'id',
        'last_used_at',
        'name',
        'sharing_data',
        'type_id',
      ]);
      assert.deepEqual(i.sharing_data, { direction: 'not_shared', workspace_ids: [] });
      const n = native.find((x) => x.id === i.id)!;
      assert.equal(i.name, n.name);
      assert.equal(i.display_name, n.display_name);
      assert.equal(i.type_id, n.app);
      assert.equal(i.created_by, n.created_by);
    }
    assert.ok(!res.body.includes(KEY_ONE) && !res.body.includes(KEY_TWO));
    const filtered = (
      await t.request({ method: 'GET', url: '/v1alpha/integrations?type_id=vendorx' })
    ).json() as {
      integrations: { type_id: string }[];
    };
    assert.ok(filtered.integrations.length > 0);
    assert.ok(filtered.integrations.every((i) => i.type_id === 'vendorx'));
    assert.equal(filtered.integrations.length, native.filter((i) => i.app === 'vendorx').length);
    const none = (await t.request({ method: 'GET', url: '/v1alpha/integrations?type_id=email' })).json() as {
      integrations: unknown[];
    };
    assert.deepEqual(none.integrations, []);
  });
});

describe('POST /v1/integrations/{id}/test', () => {
  it('records a successful test on the integration', async () => {
    const c = await connectivityTest('vx-main');
    assert.equal(c.status, 'success', JSON.stringify(c));
    assert.equal(c.error_code, undefined);
    assert.match(c.message, /200/);
    assert.ok(!Number.isNaN(Date.parse(c.tested_at)));
    assert.equal(vendor.requests.at(-1)?.path, '/check', 'the manifest test request was sent');
    const view = await get('vx-main');
    assert.equal(view.connectivity.status, 'success');
    assert.equal(view.connectivity.tested_at, c.tested_at);
    // An app without a test only checks the configuration.
    assert.equal((await connectivityTest('plain-http')).status, 'success');
  });

  it('records a failed test with the error code, and without the key', async () => {
    const res = await t.request({ method: 'POST', url: '/v1/integrations/vx-wrong/test' });
    assert.equal(res.statusCode, 200, res.body);
    const c = (res.json() as { connectivity: Connectivity }).connectivity;
    assert.equal(c.status, 'failed');
    assert.equal(c.error_code, 'AUTH_FAILED');
    assert.match(c.message, /401/);
    assert.ok(!res.body.includes(KEY_WRONG), res.body);
    const view = await get('vx-wrong');
    assert.equal(view.connectivity.status, 'failed');
    assert.equal(view.connectivity.message, c.message);
    assert.ok(!JSON.stringify(view).includes(KEY_WRONG));
    // Fixing the key resets the result until the next test.
    const fixed = await patch('vx-wrong', { configuration: { api_key: KEY_ONE } });
    assert.equal(
      (fixed.json() as { integration: IntegrationView }).integration.connectivity.status,
      'untested',
    );
    assert.equal((await connectivityTest('vx-wrong')).status, 'success');
  });
});

describe('encryption key rotation', () => {
  it('re-encrypts integration secrets, which keep working and keep being masked', async () => {
    const before = await t.db.one<{ secrets_key_version: number; secrets_encrypted: Buffer }>(
      "SELECT secrets_key_version, secrets_encrypted FROM integrations WHERE workspace_id = $1 AND name = 'vx-main'",
      [t.workspaceId],
    );
    assert.ok(before?.secrets_encrypted);
    const { version, reencrypted } = await rotateEncryptionKey({
      db: t.db,
      keyring: t.services.keyring,
      audit: t.services.audit,
    });
    assert.ok(reencrypted > 0);
    const after = await t.db.one<{ secrets_key_version: number; secrets_encrypted: Buffer }>(
      "SELECT secrets_key_version, secrets_encrypted FROM integrations WHERE workspace_id = $1 AND name = 'vx-main'",
      [t.workspaceId],
    );
    assert.equal(after?.secrets_key_version, version);
    assert.ok(!after!.secrets_encrypted.equals(before.secrets_encrypted), 'sealed again under the new key');
    // A fresh resolution (the connectivity test) decrypts under the new key.
    assert.equal((await connectivityTest('vx-main')).status, 'success');
    // Sending the mask back keeps the re-encrypted value.
    assert.equal((await patch('vx-main', { configuration: { api_key: '********' } })).statusCode, 200);
    await succeeded('vx-main', 'get_item', { id: 'after-rotation' });
    assert.equal(lastKey(), KEY_TWO);
    assert.equal((await get('vx-main')).configuration.api_key, '********');
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { unzipSync } from 'fflate';
import { writePackage } from '../src/integrations/apps/package.js';
import { OSPREY_VERSION } from '../src/version.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { resign, sign } from './helpers/orchestrate.js';
import { standIn, type StandIn } from './vendors/stand-in.js';

interface Paged {
  count: number;
  link: { next: string | null; previous: string | null };
  results: Record<string, unknown>[];
}

describe('Orchestrate Open API: signed requests and integrations', () => {
  let t: TestApp;
  let vendor: StandIn;
  const base = '/soarapi/openapi';

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    vendor = await standIn({ 'GET /check': (r) => ({ json: { ip: r.query.get('ip'), score: 7 } }) });
  });
  after(async () => {
    await t.close();
    await vendor.close();
  });

  const get = (path: string, key: KeyPair = t.owner, query = '') =>
    t.app.inject({ method: 'GET', url: `${base}${path}?${sign(key)}${query}` });

  it('answers test_connectivity and release_version to a correctly signed request', async () => {
    const ok = await get('/v1/test_connectivity/');
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(ok.json(), { status: 'ok' });
    const version = await get('/v1/release_version/');
    assert.deepEqual(version.json(), { release_version: OSPREY_VERSION });
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    assert.equal(OSPREY_VERSION, pkg.version);
  });

  it('answers 401 with a JSON error for a bad, expired, far-future, unknown, disabled or missing signature', async () => {
    const url = `${base}/v1/test_connectivity/`;
    const bad = sign({ ...t.owner, client_secret: 'not-the-secret' });
    const expired = sign(t.owner, -120);
    const future = sign(t.owner, 3600);
    const unknown = sign({ client_id: '00000000-0000-4000-8000-000000000999', client_secret: 'x' });
    for (const query of [bad, expired, future, unknown, '', 'AccessID=a&Expires=soon&Signature=x']) {
      const res = await t.app.inject({ method: 'GET', url: `${url}?${query}` });
      assert.equal(res.statusCode, 401, `${query}: ${res.body}`);
      assert.equal((res.json() as { code: string }).code, 'UNAUTHENTICATED');
    }
    // A small skew is tolerated: a signature that expired 10 s ago still works.
    const skewed = await t.app.inject({ method: 'GET', url: `${url}?${sign(t.owner, -10)}` });
    assert.equal(skewed.statusCode, 200);
    // A disabled key stops working at once.
    const viewer = await t.keyWithRole('viewer');
    assert.equal((await get('/v1/test_connectivity/', viewer)).statusCode, 200);
    const keys = await t.request({ method: 'GET', url: '/v1/api-keys' });
    const id = (keys.json() as { api_keys: { id: string; client_id: string }[] }).api_keys.find(
      (k) => k.client_id === viewer.client_id,
    )!.id;
    await t.request({ method: 'PATCH', url: `/v1/api-keys/${id}`, payload: { enabled: false } });
    assert.equal((await get('/v1/test_connectivity/', viewer)).statusCode, 401);
    // A bearer token is not accepted here.
    const bearer = await t.request({ method: 'GET', url });
    assert.equal(bearer.statusCode, 401);
  });

  it('lists apps page by page, following link.next after signing again', async () => {
    const seen: string[] = [];
    let res = await get('/v1/integrations/apps/', t.owner, '&page_size=4');
    for (;;) {
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as Paged;
      assert.ok(page.count >= 16, String(page.count));
      seen.push(...page.results.map((a) => a.app_identifier as string));
      if (!page.link.next) break;
      assert.match(page.link.next, /^openapi\/v1\/integrations\/apps\/\?.*page=\d+/);
      res = await t.app.inject({ method: 'GET', url: resign(page.link.next, t.owner) });
    }
    assert.ok(seen.includes('virustotal') && seen.includes('http') && seen.includes('osprey'));
    assert.equal(new Set(seen).size, seen.length, 'no app twice across pages');
    const first = (await get('/v1/integrations/apps/', t.owner, '&page_size=4')).json() as Paged;
    for (const field of [
      'unique_id',
      'title',
      'app_identifier',
      'app_slug',
      'connector_version',
      'config_template',
      'categories',
      'actions_count',
      'is_system',
    ])
      assert.ok(field in first.results[0]!, field);
    assert.equal(first.link.previous, null);
  });

  it('creates an instance, reads it, tests it, lists actions and executes one', async () => {
    const apps = (await get('/v1/integrations/apps/', t.owner, '&page_size=100')).json() as Paged;
    const http = apps.results.find((a) => a.app_identifier === 'http')!;
    const detail = await get(`/v1/integrations/apps/${String(http.unique_id)}/`);
    assert.equal(detail.statusCode, 200, detail.body);
    assert.ok(Array.isArray((detail.json() as { actions_data: unknown[] }).actions_data));

    const created = await t.app.inject({
      method: 'POST',
      url: `${base}/v1/integrations/app-instances/?${sign(t.owner)}`,
      payload: { title: 'UAT Instance', app_unique_id: http.unique_id, description: 'for tests' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const instance = created.json() as { unique_id: string; slug: string; connectivity_status: string };
    assert.equal(instance.slug, 'uat_instance');
    assert.equal(instance.connectivity_status, 'UNTESTED');
    assert.equal((await get(`/v1/integrations/apps-instances/${instance.unique_id}/`)).statusCode, 200);
    const listed = (
      await get('/v1/integrations/app-instances/', t.owner, `&app_unique_id=${String(http.unique_id)}`)
    ).json() as Paged;
    assert.deepEqual(
      listed.results.map((i) => i.slug),
      ['uat_instance'],
    );
    const tested = (
      await get(`/v1/integrations/apps-instances/test-connectivity/${instance.unique_id}/`)
    ).json() as {
      connectivity_status: string;
    };
    assert.equal(tested.connectivity_status, 'SUCCESS');

    const actions = (
      await get('/v1/integrations/app-actions/', t.owner, `&app_unique_id=${String(http.unique_id)}`)
    ).json() as Paged;
    const request = actions.results.find((a) => a.action_identifier === 'request')!;
    assert.ok((request.accepted_params as { field_key: string }[]).some((p) => p.field_key === 'url'));
    const one = await get(`/v1/integrations/app-actions/${String(request.unique_id)}/`);
    assert.equal((one.json() as { action_identifier: string }).action_identifier, 'request');

    const run = await t.app.inject({
      method: 'POST',
      url: `${base}/v1/integrations/actions/execute/?${sign(t.owner)}`,
      payload: {
        app_identifier: 'http',
        action_identifier: 'request',
        action_params: { url: `${vendor.url}/check?ip=8.8.8.8` },
        app_instance_slug: 'uat_instance',
      },
    });
    assert.equal(run.statusCode, 200, run.body);
    const body = run.json() as {
      result: { result: { api_object: unknown }; status_code: number };
      execution_status: string;
    };
    assert.equal(body.execution_status, 'SUCCESS');
    assert.deepEqual(body.result.result.api_object, { ip: '8.8.8.8', score: 7 });
    const failed = await t.app.inject({
      method: 'POST',
      url: `${base}/v1/integrations/actions/execute/?${sign(t.owner)}`,
      payload: {
        app_identifier: 'http',
        action_identifier: 'request',
        action_params: { url: 'http://10.0.0.1/' },
        app_instance_slug: 'uat_instance',
      },
    });
    assert.equal((failed.json() as { execution_status: string }).execution_status, 'ERROR');
    const missing = await t.app.inject({
      method: 'POST',
      url: `${base}/v1/integrations/actions/execute/?${sign(t.owner)}`,
      payload: { app_identifier: 'http', action_identifier: 'request', action_params: {} },
    });
    assert.equal(missing.statusCode, 400, missing.body);
    assert.equal(
      (await get('/v1/integrations/apps-instances/00000000-0000-4000-8000-000000000000/')).statusCode,
      404,
    );
  });

  it('imports a custom app package (multipart "module") and downloads it back', async () => {
    const manifest = `manifest_version: 1
identifier: intel_feed
version: 1.0.0
title: Intel feed
configuration: { base_url: { title: URL, type: url, required: true } }
base_url: "{{ $config.base_url }}"
actions:
  check:
    title: Check
    parameters: { type: object, required: [ip], properties: { ip: { type: string } } }
    request: { path: /check, query: { ip: "{{ $params.ip }}" } }
`;
    const zip = writePackage(new Map([['manifest.yaml', manifest]]));
    const boundary = '----osprey-test';
    const payload = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="module"; filename="intel.zip"\r\nContent-Type: application/zip\r\n\r\n`,
      ),
      zip,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await t.app.inject({
      method: 'POST',
      url: `${base}/v1/integrations/apps/import/?${sign(t.owner)}`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload,
    });
    assert.equal(res.statusCode, 200, res.body);
    const app = res.json() as {
      app_identifier: string;
      app_slug: string;
      is_system: boolean;
      actions_data: unknown[];
    };
    assert.equal(app.app_identifier, 'intel_feed');
    assert.equal(app.is_system, false);
    assert.equal(app.actions_data.length, 1);
    const down = await get(`/v1/integrations/apps/download/${app.app_slug}/`);
    assert.equal(down.statusCode, 200);
    assert.equal(down.headers['content-type'], 'application/zip');
    assert.ok(down.rawPayload.equals(zip));
    const builtIn = await get('/v1/integrations/apps/download/slack_1_0_0/');
    assert.ok('manifest.yaml' in unzipSync(builtIn.rawPayload));
  });
});

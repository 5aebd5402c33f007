// Outbound safety through integrations and http.request steps: the SSRF rules (literal addresses,
// names that resolve to private addresses, redirect hops), allow-lists per installation and per
// integration, the response size cap, the redirect limit, timeouts, TLS verification, credentials
// kept to their origin, and credentials never reaching an answer, a log line or a database row.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { buildServer } from '../src/api/server.js';
import { Worker } from '../src/engine/worker.js';
import { writePackage } from '../src/integrations/apps/package.js';
import { assertError, type ErrorBody } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { integrationHelpers, type Execution, type Outcome } from './helpers/integrations.js';
import { standIn, type Answer, type RecordedRequest, type StandIn } from './vendors/stand-in.js';

interface HttpOutput {
  status_code: number;
  headers: Record<string, string>;
  api_object: unknown;
}

/** An app whose requests carry an API key header, for the cross-origin redirect check. */
const KEYED = `manifest_version: 1
identifier: keyed
version: 1.0.0
title: Keyed
configuration:
  base_url: { title: API URL, type: url, required: true }
  api_key: { title: API key, type: string, secret: true, required: true }
base_url: '{{ $config.base_url }}'
authentication: { type: api_key, in: header, name: X-Api-Key, value: '{{ $config.api_key }}' }
actions:
  hop:
    title: A call that is redirected to another origin
    request: { path: /hop }
  hop_bearer:
    title: The same with a bearer token
    request:
      path: /hop
      authentication: { type: bearer, token: '{{ $config.api_key }}' }
`;

async function installApp(t: TestApp, manifest: string): Promise<void> {
  const res = await t.request({
    method: 'POST',
    url: '/v1/apps',
    payload: writePackage(new Map([['manifest.yaml', manifest]])),
    headers: { 'content-type': 'application/zip' },
  });
  assert.equal(res.statusCode, 201, res.body);
}

function httpStep(url: string, extra = ''): string {
  return `name: Fetch ${url.slice(0, 60).replace(/[^\w]+/g, ' ')}
trigger: { type: on_demand }
steps:
  - id: get
    kind: action
    action: http.request
${extra}    with: { url: "${url}" }
  - { id: done, kind: exit, output: "{{ $.get.status_code }}" }
`;
}

const silent = pino({ level: 'silent' });

describe('outbound rules without an allow-list', () => {
  let t: TestApp;
  let worker: Worker;
  let local: StandIn;
  let other: StandIn;
  let tls: HttpsServer;
  let tlsUrl: string;
  let certDir: string;
  const slowTimers = new Set<NodeJS.Timeout>();
  const { createIntegration, execute, failed, runWorkflow } = integrationHelpers(
    () => t,
    () => worker,
    { failedMessage: 'none' },
  );

  before(async () => {
    other = await standIn({ 'GET /echo': (r) => ({ json: { headers: r.headers } }) });
    local = await standIn({
      'GET /ok': () => ({ json: { ok: true } }),
      'GET /to-metadata': () => ({
        status: 302,
        headers: { location: 'http://169.254.169.254/latest/meta-data/' },
      }),
      'GET /to-private': () => ({ status: 301, headers: { location: 'http://10.0.0.1/admin' } }),
      'GET /to-localhost': () => ({ status: 307, headers: { location: '/ok' } }),
      'GET /loop': () => ({ status: 302, headers: { location: '/loop' } }),
      'GET /two-hops': () => ({ status: 302, headers: { location: '/one-hop' } }),
      'GET /one-hop': () => ({ status: 302, headers: { location: '/ok' } }),
      'GET /hop': () => ({ status: 302, headers: { location: `${other.url}/echo` } }),
      'GET /big': () => ({ text: 'x'.repeat(11 * 1024 * 1024), headers: { 'content-type': 'text/plain' } }),
      'GET /slow': () =>
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            slowTimers.delete(timer);
            resolve({ text: 'late' });
          }, 3000);
          slowTimers.add(timer);
        }),
      'GET /very-slow': () =>
        new Promise((resolve) => {
          const timer = setTimeout(() => {
            slowTimers.delete(timer);
            resolve({ text: 'very late' });
          }, 33_000);
          slowTimers.add(timer);
        }),
    });
    certDir = mkdtempSync(join(tmpdir(), 'osprey-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        'k',
        '-out',
        'c',
      ],
      { stdio: 'ignore', cwd: certDir },
    );
    tls = createHttpsServer(
      { key: readFileSync(join(certDir, 'k')), cert: readFileSync(join(certDir, 'c')) },
      (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"secure":true}'),
    );
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    tlsUrl = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;

    t = await startTestApp();
    worker = new Worker({ db: t.db, executor: t.services.executor, logger: silent });
    await createIntegration({ name: 'http-closed', app: 'http' });
    await createIntegration({ name: 'http-open', app: 'http', allowed_networks: ['127.0.0.1/32'] });
  });
  after(async () => {
    for (const timer of slowTimers) clearTimeout(timer);
    await t.close();
    await local.close();
    await other.close();
    tls.closeAllConnections();
    await new Promise<void>((resolve) => tls.close(() => resolve()));
    rmSync(certDir, { recursive: true, force: true });
  });

  it('refuses the cloud metadata address in an http.request step and an integration execute', async () => {
    const x = await runWorkflow(httpStep('http://169.254.169.254/latest/meta-data/'));
    assert.equal(x.status, 'failed');
    assert.equal(x.error?.code, 'ADDRESS_BLOCKED', JSON.stringify(x.error));
    assert.match(x.error!.message, /169\.254\.169\.254/);
    assert.match(x.error!.message, /OSPREY_HTTP_ALLOW_NETWORKS/, 'the message says how to allow it');
    const message = await failed(
      'http-closed',
      'request',
      { url: 'http://169.254.169.254/latest/meta-data/' },
      'ADDRESS_BLOCKED',
    );
    assert.match(message, /169\.254\.169\.254/);
    assert.match(message, /link-local/);
    // Also the integration that allows only the loopback stand-in.
    await failed(
      'http-open',
      'request',
      { url: 'http://169.254.169.254/latest/meta-data/' },
      'ADDRESS_BLOCKED',
    );
  });

  it('refuses private, loopback, CGNAT and other reserved addresses however they are written', async () => {
    const port = new URL(local.url).port;
    for (const url of [
      'http://10.0.0.1/',
      'http://172.16.5.4/',
      'http://192.168.1.1/',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      `http://127.0.0.1:${port}/ok`,
      `http://2130706433:${port}/ok`,
      `http://0x7f.0.0.1:${port}/ok`,
      `http://[::1]:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`,
      'http://[::ffff:169.254.169.254]/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
    ]) {
      const o = await execute('http-closed', 'request', { url });
      assert.equal(o.error?.code, 'ADDRESS_BLOCKED', `${url}: ${JSON.stringify(o)}`);
    }
    const x = await runWorkflow(httpStep('http://10.0.0.1/'));
    assert.equal(x.error?.code, 'ADDRESS_BLOCKED', JSON.stringify(x.error));
    assert.equal(local.received('GET', '/ok').length, 0, 'nothing reached the loopback stand-in');
  });

  it('refuses a name that resolves to a private address, naming the host and the address', async () => {
    const port = new URL(local.url).port;
    const message = await failed(
      'http-closed',
      'request',
      { url: `http://localhost:${port}/ok` },
      'ADDRESS_BLOCKED',
    );
    assert.match(message, /localhost/);
    assert.match(message, /127\.0\.0\.1|::1/);
    const x = await runWorkflow(httpStep(`http://localhost:${port}/ok`));
    assert.equal(x.error?.code, 'ADDRESS_BLOCKED', JSON.stringify(x.error));
    assert.match(x.error!.message, /localhost/);
    assert.equal(local.received('GET', '/ok').length, 0);
  });

  it('checks every redirect hop', async () => {
    let message = await failed(
      'http-open',
      'request',
      { url: `${local.url}/to-metadata` },
      'ADDRESS_BLOCKED',
    );
    assert.match(message, /169\.254\.169\.254/);
    assert.equal(local.received('GET', '/to-metadata').length, 1, 'the allowed first hop was sent');
    message = await failed('http-open', 'request', { url: `${local.url}/to-private` }, 'ADDRESS_BLOCKED');
    assert.match(message, /10\.0\.0\.1/);
    const x = await runWorkflow(
      httpStep(`${local.url}/to-metadata`).replace(
        'action: http.request',
        'action: http.request\n    integration: http-open',
      ),
    );
    assert.equal(x.error?.code, 'ADDRESS_BLOCKED', JSON.stringify(x.error));
    // A redirect that stays on the allowed origin is followed.
    const ok = await execute('http-open', 'request', { url: `${local.url}/to-localhost` });
    assert.equal(ok.status, 'succeeded', JSON.stringify(ok));
    assert.deepEqual((ok.output as HttpOutput).api_object, { ok: true });
  });

  it("reaches an address the integration's allowed_networks lists, and only through it", async () => {
    const o = await execute('http-open', 'request', { url: `${local.url}/ok` });
    assert.equal(o.status, 'succeeded', JSON.stringify(o));
    assert.equal((o.output as HttpOutput).status_code, 200);
    assert.deepEqual((o.output as HttpOutput).api_object, { ok: true });
    await failed('http-closed', 'request', { url: `${local.url}/ok` }, 'ADDRESS_BLOCKED');

    const withIt = await runWorkflow(
      httpStep(`${local.url}/ok`).replace(
        'action: http.request',
        'action: http.request\n    integration: http-open',
      ),
    );
    assert.equal(withIt.status, 'succeeded', JSON.stringify(withIt.error));
    assert.equal(withIt.output, 200);
    const without = await runWorkflow(httpStep(`${local.url}/ok`));
    assert.equal(without.error?.code, 'ADDRESS_BLOCKED', JSON.stringify(without.error));

    // A single address allows only itself.
    const { id: single } = await createIntegration({
      name: 'http-other-host',
      app: 'http',
      allowed_networks: ['127.0.0.2'],
    });
    await failed(single, 'request', { url: `${local.url}/ok` }, 'ADDRESS_BLOCKED');
    // Allowing later takes effect at once.
    const patched = await t.request({
      method: 'PATCH',
      url: `/v1/integrations/${single}`,
      payload: { allowed_networks: ['127.0.0.0/8'] },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.equal((await execute(single, 'request', { url: `${local.url}/ok` })).status, 'succeeded');
  });

  it('refuses an allowed_networks entry that is not an address or CIDR, naming it', async () => {
    const post = (allowed_networks: unknown) =>
      t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: { name: 'bad-cidr', app: 'http', allowed_networks },
      });
    for (const bad of [
      'not-an-ip',
      '10.0.0.0/33',
      '10.0.0.0/8/1',
      '300.1.1.1',
      '10.0.0.0/',
      '::1/129',
      '10.0.0.0/-1',
    ]) {
      const body = assertError(await post([bad]), 400, 'INVALID_ARGUMENT', 'allowed_networks[0]', {
        messageNamesField: false,
      });
      assert.ok(body.message.includes(bad), body.message);
    }
    assertError(await post(['127.0.0.1/32', 'bogus']), 400, 'INVALID_ARGUMENT', 'allowed_networks[1]', {
      messageNamesField: false,
    });
    assertError(
      await t.request({
        method: 'PATCH',
        url: '/v1/integrations/http-open',
        payload: { allowed_networks: ['nope'] },
      }),
      400,
      'INVALID_ARGUMENT',
      'allowed_networks[0]',
      { messageNamesField: false },
    );
  });

  it('fails a response over 10 MiB with RESPONSE_TOO_LARGE', async () => {
    const message = await failed('http-open', 'request', { url: `${local.url}/big` }, 'RESPONSE_TOO_LARGE');
    assert.match(message, /10485760/);
  });

  it('stops a redirect loop with TOO_MANY_REDIRECTS, and honours max_redirects', async () => {
    const before = local.received('GET', '/loop').length;
    const message = await failed('http-open', 'request', { url: `${local.url}/loop` }, 'TOO_MANY_REDIRECTS');
    assert.match(message, /5/);
    assert.equal(local.received('GET', '/loop').length - before, 6, 'the first request and five redirects');
    await failed(
      'http-open',
      'request',
      { url: `${local.url}/two-hops`, max_redirects: 1 },
      'TOO_MANY_REDIRECTS',
    );
    const two = await execute('http-open', 'request', { url: `${local.url}/two-hops`, max_redirects: 2 });
    assert.equal(two.status, 'succeeded', JSON.stringify(two));
  });

  it("times out at the integration's timeout_seconds with STEP_TIMEOUT", async () => {
    const { id: slow } = await createIntegration({
      name: 'http-slow',
      app: 'http',
      allowed_networks: ['127.0.0.1/32'],
      timeout_seconds: 1,
    });
    const started = Date.now();
    const message = await failed(slow, 'request', { url: `${local.url}/slow` }, 'STEP_TIMEOUT');
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 2500, `stopped after ${took} ms`);
    assert.ok(message.length > 0);
    const x = await runWorkflow(
      httpStep(`${local.url}/slow`).replace(
        'action: http.request',
        'action: http.request\n    integration: http-slow',
      ),
    );
    assert.equal(x.error?.code, 'STEP_TIMEOUT', JSON.stringify(x.error));
  });

  it('verifies TLS certificates unless the integration turns verify_tls off', async () => {
    const { id: verified } = await createIntegration({
      name: 'http-tls',
      app: 'http',
      allowed_networks: ['127.0.0.1/32'],
    });
    const message = await failed(verified, 'request', { url: `${tlsUrl}/` }, 'TLS_FAILED');
    assert.match(message, /certificate/i);
    const { id: unverified } = await createIntegration({
      name: 'http-tls-off',
      app: 'http',
      allowed_networks: ['127.0.0.1/32'],
      verify_tls: false,
    });
    const o = await execute(unverified, 'request', { url: `${tlsUrl}/` });
    assert.equal(o.status, 'succeeded', JSON.stringify(o));
    assert.deepEqual((o.output as HttpOutput).api_object, { secure: true });
    // Turning it back on refuses again.
    await t.request({
      method: 'PATCH',
      url: `/v1/integrations/${unverified}`,
      payload: { verify_tls: true },
    });
    await failed(unverified, 'request', { url: `${tlsUrl}/` }, 'TLS_FAILED');
  });

  it('does not send the integration credentials to another origin after a redirect', async () => {
    await installApp(t, KEYED);
    const key = 'keyed-api-key-0c9d7e5f1a';
    const { id } = await createIntegration({
      name: 'keyed',
      app: 'keyed',
      allowed_networks: ['127.0.0.1/32'],
      configuration: { base_url: local.url, api_key: key },
    });
    const bearer = await execute(id, 'hop_bearer', {});
    assert.equal(bearer.status, 'succeeded', JSON.stringify(bearer));
    assert.equal(local.received('GET', '/hop').at(-1)?.headers.authorization, `Bearer ${key}`);
    assert.equal(
      other.requests.at(-1)?.headers.authorization,
      undefined,
      'Authorization stays with its origin',
    );

    const header = await execute(id, 'hop', {});
    assert.equal(header.status, 'succeeded', JSON.stringify(header));
    assert.equal(local.received('GET', '/hop').at(-1)?.headers['x-api-key'], key);
    // Regression (failed at d05a628, fixed in the working tree since): only Authorization and Cookie are dropped on a cross-origin redirect; the app's API key
    // header (X-Api-Key) is forwarded to the other origin.
    assert.equal(
      other.requests.at(-1)?.headers['x-api-key'],
      undefined,
      'the API key header stays with its origin',
    );
  });

  it('honours a step timeout longer than 30 s for http.request without an integration', async () => {
    // The step allows 45 s (the default for actions is 60 s); the server answers after 33 s.
    const allowed = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    try {
      const w = new Worker({ db: allowed.db, executor: allowed.services.executor, logger: silent });
      const x = await integrationHelpers(allowed, w).runWorkflow(
        httpStep(`${local.url}/very-slow`, '    timeout: 45s\n'),
      );
      // Regression (failed at d05a628, fixed in the working tree since): with no integration the runtime applies its own 30 s default (timeoutMs: row?.timeout_ms
      // ?? 30_000), so the step fails with STEP_TIMEOUT after 30 s although it allows 45 s.
      assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
      assert.equal(x.output, 200);
    } finally {
      await allowed.close();
    }
  });
});

describe('outbound rules with OSPREY_HTTP_ALLOW_NETWORKS', () => {
  let t: TestApp;
  let worker: Worker;
  let local: StandIn;
  const { runWorkflow } = integrationHelpers(
    () => t,
    () => worker,
  );
  before(async () => {
    local = await standIn({ 'GET /ok': () => ({ json: { ok: true } }) });
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    worker = new Worker({ db: t.db, executor: t.services.executor, logger: silent });
  });
  after(async () => {
    await t.close();
    await local.close();
  });

  it('reaches the allowed network without an integration, and still refuses the rest', async () => {
    const x = await runWorkflow(httpStep(`${local.url}/ok`));
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.equal(x.output, 200);
    const port = new URL(local.url).port;
    const named = await runWorkflow(httpStep(`http://localhost:${port}/ok`));
    // localhost may resolve to ::1 first, which the IPv4 allow-list does not cover.
    assert.ok(
      named.status === 'succeeded' ||
        (named.error?.code === 'ADDRESS_BLOCKED' && /::1/.test(named.error.message)),
      JSON.stringify(named.error),
    );
    const metadata = await runWorkflow(httpStep('http://169.254.169.254/latest/meta-data/'));
    assert.equal(metadata.error?.code, 'ADDRESS_BLOCKED');
    const privateNet = await runWorkflow(httpStep('http://10.0.0.1/'));
    assert.equal(privateNet.error?.code, 'ADDRESS_BLOCKED');
  });
});

describe('credentials never leak', () => {
  const SECRET = 'SECRET-abc123-VALUE';
  const ROTATED = 'SECRET-def456-VALUE';
  /** The app's manifest: the key in a header, the query, basic and bearer; outputs that echo it. */
  const LEAKY = `manifest_version: 1
identifier: leaky
version: 1.0.0
title: Leaky vendor
configuration:
  base_url: { title: API URL, type: url, required: true }
  api_key: { title: API key, type: string, secret: true, required: true }
  user: { title: User, type: string, default: svc }
base_url: '{{ $config.base_url }}'
authentication: { type: api_key, in: header, name: X-Api-Key, value: '{{ $config.api_key }}' }
test:
  request: { path: /echo }
actions:
  echo:
    title: Echo the request
    request: { path: /echo }
  echo_full:
    title: Echo, the whole response as output
    request: { path: /echo }
    output: '{{ $response }}'
  echo_config:
    title: The configuration as output
    request: { path: /echo }
    output: '{{ $config }}'
  echo_query:
    title: Echo, the key in the query
    request:
      path: /echo
      authentication: { type: api_key, in: query, name: key, value: '{{ $config.api_key }}' }
  echo_basic:
    title: Echo, basic authentication
    request:
      path: /echo
      authentication: { type: basic, username: '{{ $config.user }}', password: '{{ $config.api_key }}' }
  echo_bearer:
    title: Echo, bearer
    request:
      path: /echo
      authentication: { type: bearer, token: '{{ $config.api_key }}' }
  denied:
    title: A 401 whose body repeats the key
    request: { path: /denied }
  missing:
    title: A 404 whose body repeats the key
    request: { path: /missing }
  broken:
    title: A 500 whose body repeats the key
    request: { path: /broken }
  rejected:
    title: An error template that quotes the key
    request: { path: /echo }
    error: '{{ "refused key " & $config.api_key }}'
  unreachable:
    title: A connection failure with the key in the query
    request:
      url: 'http://127.0.0.1:1/x'
      authentication: { type: api_key, in: query, name: key, value: '{{ $config.api_key }}' }
  code_view:
    title: What code sees
    code: view.js
`;

  let t: TestApp;
  let server: FastifyInstance;
  let worker: Worker;
  let vendor: StandIn;
  const logLines: string[] = [];
  const answers: string[] = [];
  let token: string;

  before(async () => {
    const echo = (r: RecordedRequest): Answer => {
      const key = r.headers['x-api-key'];
      return {
        json: {
          authorization: r.headers.authorization ?? null,
          key: key ?? null,
          query_key: r.query.get('key'),
          headers: r.headers,
        },
        headers: { 'x-echo-key': typeof key === 'string' ? key : (r.query.get('key') ?? '') },
      };
    };
    vendor = await standIn({
      'GET /echo': echo,
      'GET /denied': (r) => ({
        status: 401,
        json: { error: `API key ${String(r.headers['x-api-key'])} is not valid` },
      }),
      'GET /missing': (r) => ({
        status: 404,
        json: { message: `nothing for key ${String(r.headers['x-api-key'])}` },
      }),
      'GET /broken': (r) => ({
        status: 500,
        text: `internal error while using ${String(r.headers['x-api-key'])}`,
      }),
    });
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    const stream = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ level: 'trace' }, stream);
    // The same services behind a server that logs every request at trace level.
    server = await buildServer({ services: t.services, config: t.config, logger });
    worker = new Worker({ db: t.db, executor: t.services.executor, logger });
    token = await t.token();
  });
  after(async () => {
    await server.close();
    await t.close();
    await vendor.close();
  });

  async function call(options: InjectOptions): Promise<LightMyRequestResponse> {
    const res = await server.inject({
      ...options,
      headers: { ...(options.headers as Record<string, string>), authorization: `Bearer ${token}` },
    });
    answers.push(res.body);
    return res;
  }

  async function run(action: string): Promise<Outcome> {
    const res = await call({ method: 'POST', url: '/v1/integrations/leaky/execute', payload: { action } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Outcome;
  }

  it('keeps the key out of every answer, log line and database row', async () => {
    const installed = await call({
      method: 'POST',
      url: '/v1/apps',
      payload: writePackage(
        new Map([
          ['manifest.yaml', LEAKY],
          ['view.js', 'return { keys: Object.keys(inputs.config).sort(), config: inputs.config };'],
        ]),
      ),
      headers: { 'content-type': 'application/zip' },
    });
    assert.equal(installed.statusCode, 201, installed.body);
    const created = await call({
      method: 'POST',
      url: '/v1/integrations',
      payload: { name: 'leaky', app: 'leaky', configuration: { base_url: vendor.url, api_key: SECRET } },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { integration: { id: string } }).integration.id;

    // Reads.
    for (const url of [
      '/v1/integrations',
      '/v1/integrations/leaky',
      `/v1/integrations/${id}`,
      '/v1alpha/integrations',
    ])
      assert.equal((await call({ method: 'GET', url })).statusCode, 200);

    // Successful calls whose answers echo the key: the output shows [secret].
    const echo = await run('echo');
    assert.equal(echo.status, 'succeeded', JSON.stringify(echo));
    assert.equal((echo.output as { key: string }).key, '[secret]');
    assert.equal(vendor.requests.at(-1)?.headers['x-api-key'], SECRET, 'the vendor got the real key');
    const full = (await run('echo_full')).output as {
      headers: Record<string, string>;
      body: { key: string };
    };
    assert.equal(full.headers['x-echo-key'], '[secret]', 'response headers are scrubbed too');
    assert.equal(full.body.key, '[secret]');
    const config = (await run('echo_config')).output as Record<string, unknown>;
    assert.equal(config.api_key, '[secret]');
    const query = (await run('echo_query')).output as { query_key: string };
    assert.equal(query.query_key, '[secret]');
    const basic = (await run('echo_basic')).output as { authorization: string };
    assert.equal(basic.authorization, 'Basic [secret]');
    const bearer = (await run('echo_bearer')).output as { authorization: string };
    assert.equal(bearer.authorization, 'Bearer [secret]');
    const code = (await run('code_view')).output as { keys: string[] };
    assert.deepEqual(code.keys, ['base_url', 'user']);

    // Failures whose vendor answers repeat the key.
    const expected: Record<string, string> = {
      denied: 'AUTH_FAILED',
      missing: 'NOT_FOUND',
      broken: 'REMOTE_ERROR',
      rejected: 'REMOTE_REJECTED',
      unreachable: 'CONNECTION_FAILED',
    };
    for (const [action, code] of Object.entries(expected)) {
      const o = await run(action);
      assert.equal(o.status, 'failed', `${action}: ${JSON.stringify(o)}`);
      assert.equal(o.error?.code, code, `${action}: ${JSON.stringify(o)}`);
    }

    // Connectivity tests, passing and failing.
    assert.equal((await call({ method: 'POST', url: '/v1/integrations/leaky/test' })).statusCode, 200);
    vendor.failNext({ status: 401, json: { error: `bad key ${SECRET}` } });
    const failedTest = await call({ method: 'POST', url: '/v1/integrations/leaky/test' });
    assert.equal((failedTest.json() as { connectivity: { status: string } }).connectivity.status, 'failed');
    await call({ method: 'GET', url: '/v1/integrations/leaky' });

    // Workflow runs that use the integration, succeeding and failing.
    const executionIds: string[] = [];
    for (const [name, action] of [
      ['Leak check ok', 'echo'],
      ['Leak check fails', 'denied'],
    ] as const) {
      const wf = await call({
        method: 'POST',
        url: '/v1/workflows',
        payload: {
          yaml: `name: ${name}
trigger: { type: on_demand }
steps:
  - { id: vendor_call, kind: action, action: leaky.${action}, integration: leaky }
  - { id: full, kind: action, action: leaky.echo_full, integration: leaky }
  - { id: done, kind: exit, output: { call: "{{ $.vendor_call }}", full: "{{ $.full }}" } }
`,
        },
      });
      assert.equal(wf.statusCode, 201, wf.body);
      const wfId = (wf.json() as { workflow: { id: string } }).workflow.id;
      const started = await call({
        method: 'POST',
        url: `/v1/workflows/${wfId}/executions`,
        payload: { inputs: {}, revision: 'current' },
      });
      executionIds.push((started.json() as { execution_id: string }).execution_id);
    }
    await worker.runUntilIdle();
    const ran = await call({ method: 'GET', url: `/v1/executions/${executionIds[0]}` });
    assert.equal((ran.json() as { execution: Execution }).execution.status, 'succeeded', ran.body);
    const failedRun = await call({ method: 'GET', url: `/v1/executions/${executionIds[1]}` });
    assert.equal(
      (failedRun.json() as { execution: Execution }).execution.error?.code,
      'AUTH_FAILED',
      failedRun.body,
    );
    for (const execId of executionIds) {
      await call({ method: 'GET', url: `/v1/executions/${execId}/steps/vendor_call/output` });
      await call({ method: 'GET', url: `/v1/executions/${execId}/steps/full/output` });
    }
    await call({ method: 'GET', url: '/v1/executions' });

    // Rotate the key, then read the logs.
    const rotated = await call({
      method: 'PATCH',
      url: '/v1/integrations/leaky',
      payload: { configuration: { api_key: ROTATED } },
    });
    assert.equal(rotated.statusCode, 200, rotated.body);
    assert.equal((await run('echo')).status, 'succeeded');
    await call({ method: 'GET', url: '/v1/audit-logs?page_size=500' });
    await call({ method: 'GET', url: '/v1alpha/audit_logs?page_size=500' });
    await call({ method: 'GET', url: '/v1/activity-logs?page_size=500' });
    await call({ method: 'GET', url: '/v1/activity-logs?activity_type=step_executions&page_size=500' });

    assert.ok(answers.length > 30);
    assert.ok(logLines.length > 0, 'the server logged');
    for (const secret of [SECRET, ROTATED]) {
      const forms = [secret, encodeURIComponent(secret), Buffer.from(`svc:${secret}`).toString('base64')];
      for (const form of forms) {
        answers.forEach((body, i) =>
          assert.ok(!body.includes(form), `answer #${i} holds ${form}: ${body.slice(0, 500)}`),
        );
        for (const line of logLines) assert.ok(!line.includes(form), `a log line holds ${form}: ${line}`);
      }
    }

    // Every table, every row.
    const tables = await t.db.rows<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    const names = tables.map((r) => r.tablename);
    for (const must of ['step_runs', 'executions', 'audit_logs', 'integrations', 'step_outputs'])
      assert.ok(names.includes(must), `${must} is a table: ${names.join(', ')}`);
    for (const table of names) {
      const rows = await t.db.rows<Record<string, unknown>>(`SELECT * FROM "${table}"`);
      const text = JSON.stringify(rows);
      for (const secret of [SECRET, ROTATED]) {
        assert.ok(!text.includes(secret), `${table} holds ${secret}`);
        assert.ok(
          !text.includes(Buffer.from(`svc:${secret}`).toString('base64')),
          `${table} holds the Basic header`,
        );
      }
    }
    const stepRuns = await t.db.rows<Record<string, unknown>>('SELECT * FROM step_runs');
    assert.ok(stepRuns.length >= 3, 'the runs were recorded');
    assert.ok(JSON.stringify(stepRuns).includes('[secret]'), 'the recorded outputs show [secret]');
  });

  it('answers invalid-argument errors without echoing the configuration values', async () => {
    const res = await call({
      method: 'POST',
      url: '/v1/integrations',
      payload: {
        name: 'leaky-2',
        app: 'leaky',
        configuration: { base_url: vendor.url, api_key: SECRET, nope: SECRET },
      },
    });
    const body = assertError(res, 400, 'INVALID_ARGUMENT', 'configuration.nope', {
      messageNamesField: false,
    });
    assert.ok(!JSON.stringify(body as ErrorBody).includes(SECRET), res.body);
    const wrongType = await call({
      method: 'PATCH',
      url: '/v1/integrations/leaky',
      payload: { configuration: { user: ['x'], api_key: 12345678 } },
    });
    assert.equal(wrongType.statusCode, 400);
    for (const line of logLines) assert.ok(!line.includes(SECRET), `a log line holds the key: ${line}`);
  });
});

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Execution {
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
  steps: { key: string; status: string; attempt: number; input: unknown; output: unknown; error: unknown }[];
}

describe('http.request steps in a workflow', () => {
  let t: TestApp;
  let worker: Worker;
  let server: Server;
  let base: string;
  const seen: { method: string; url: string; auth: string | undefined; body: string }[] = [];
  let flaky = 0;

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body });
        if (req.url?.startsWith('/ip/'))
          return res
            .writeHead(200, { 'content-type': 'application/json', 'x-vendor': 'intel' })
            .end(JSON.stringify({ ip: req.url.slice(4), malicious: true }));
        if (req.url === '/echo') return res.writeHead(201, { 'content-type': 'application/json' }).end(body);
        if (req.url === '/flaky')
          return ++flaky === 1
            ? res.writeHead(429, { 'retry-after': '1' }).end('slow down')
            : res.writeHead(200).end('fine');
        if (req.url === '/slow') return setTimeout(() => res.writeHead(200).end('late'), 3000);
        return res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such thing"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    worker = new Worker({ db: t.db, executor: t.services.executor, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function runOnce(yaml: string, inputs: unknown = {}): Promise<Execution> {
    const created = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    const run = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs, revision: 'current' },
    });
    const execId = (run.json() as { execution_id: string }).execution_id;
    await worker.runUntilIdle();
    return (
      (await t.request({ method: 'GET', url: `/v1/executions/${execId}` })).json() as { execution: Execution }
    ).execution;
  }

  it('answers {status_code, headers, api_object}, renders the URL, and masks secrets in the recorded input', async () => {
    await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'intel_key', value: 'key-5be1c0de' },
    });
    const x = await runOnce(
      `name: Lookup
trigger: { type: on_demand }
steps:
  - id: lookup
    kind: action
    action: http.request
    with:
      url: "${base}/ip/{{ $.event.ip }}"
      headers: { Authorization: "Bearer {{ $secrets.intel_key }}" }
  - id: done
    kind: exit
    output: { malicious: "{{ $.lookup.api_object.malicious }}", vendor: "{{ $.lookup.headers.'x-vendor' }}", code: "{{ $.lookup.status_code }}" }
`,
      { ip: '203.0.113.7' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { malicious: true, vendor: 'intel', code: 200 });
    assert.equal(seen.at(-1)?.auth, 'Bearer key-5be1c0de', 'the request carried the real secret');
    const step = x.steps.find((s) => s.key === 'lookup')!;
    assert.deepEqual((step.input as { headers: unknown }).headers, { Authorization: 'Bearer [secret]' });
    assert.equal((step.output as { api_object: { ip: string } }).api_object.ip, '203.0.113.7');
  });

  it('sends JSON bodies, fails on error statuses unless told not to, and retries a 429 after Retry-After', async () => {
    const posted = await runOnce(`name: Post
trigger: { type: on_demand }
steps:
  - { id: send, kind: action, action: http.request, with: { method: POST, url: "${base}/echo", body: { alert: 7 } } }
  - { id: done, kind: exit, output: "{{ $.send }}" }
`);
    assert.equal((posted.output as { status_code: number }).status_code, 201);
    assert.deepEqual((posted.output as { api_object: unknown }).api_object, { alert: 7 });

    const missing = await runOnce(`name: Missing
trigger: { type: on_demand }
steps: [{ id: get, kind: action, action: http.request, with: { url: "${base}/nothing" } }]
`);
    assert.equal(missing.status, 'failed');
    assert.equal(missing.error?.code, 'HTTP_ERROR');
    assert.match(missing.error!.message, /answered 404/);

    const tolerated = await runOnce(`name: Tolerated
trigger: { type: on_demand }
steps:
  - { id: get, kind: action, action: http.request, with: { url: "${base}/nothing", fail_on_error_status: false } }
  - { id: done, kind: exit, output: "{{ $.get.status_code }}" }
`);
    assert.equal(tolerated.output, 404);

    const started = Date.now();
    const retried = await runOnce(`name: Flaky
trigger: { type: on_demand }
steps:
  - { id: get, kind: action, action: http.request, retry: { max_attempts: 3, initial_delay: 10ms }, with: { url: "${base}/flaky" } }
  - { id: done, kind: exit, output: "{{ $.get.api_object }}" }
`);
    assert.equal(retried.status, 'succeeded', JSON.stringify(retried.error));
    assert.equal(retried.output, 'fine');
    assert.ok(Date.now() - started >= 1000, 'waited for Retry-After, not the 10 ms backoff');
  });

  it('times out a slow call and refuses blocked addresses', async () => {
    const slow = await runOnce(`name: Slow
trigger: { type: on_demand }
steps: [{ id: get, kind: action, action: http.request, timeout: 300ms, with: { url: "${base}/slow" } }]
`);
    assert.equal(slow.status, 'failed');
    assert.equal(slow.error?.code, 'STEP_TIMEOUT');
    const blocked = await runOnce(`name: Metadata
trigger: { type: on_demand }
steps: [{ id: get, kind: action, action: http.request, with: { url: "http://169.254.169.254/latest/meta-data/" } }]
`);
    assert.equal(blocked.error?.code, 'ADDRESS_BLOCKED');
    assert.match(blocked.error!.message, /169\.254\.169\.254/);
  });
});

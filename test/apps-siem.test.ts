// The Splunk and Elasticsearch apps (apps/splunk, apps/elasticsearch) against stand-ins that answer
// as the products do: every action's request and output, their error answers mapped to the
// documented codes, retries, connectivity tests, workflow steps, and the credentials kept out of
// every answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timed, integrationTestApp, type Integration } from './helpers/integrations.js';
import {
  ES_API_KEY,
  ES_USER,
  elasticsearchStandIn,
  esRejected,
  type ElasticsearchStandIn,
} from './vendors/elasticsearch.js';
import {
  HEC_TOKEN,
  SPLUNK_API_TOKEN,
  hecAnswer,
  hecStandIn,
  restError,
  splitConcatenatedJson,
  splunkRestStandIn,
  type HecStandIn,
} from './vendors/splunk.js';
import type { StandIn } from './vendors/stand-in.js';

const WRONG_HEC_TOKEN = '00000000-0000-4000-8000-00000000dead';
const WRONG_API_TOKEN = 'eyJraWQiOiJ3cm9uZyJ9.eyJzdWIiOiJub2JvZHkifQ.d3JvbmctdG9rZW4tc2lnbmF0dXJl';
const WRONG_ES_KEY = Buffer.from('VuaCfGcBCdbkQm-e5aOx:wrong-secret-0000000').toString('base64');

const { answers, createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow } =
  integrationTestApp({ nestedFields: true });

describe('Splunk app', () => {
  let hec: HecStandIn;
  let rest: StandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;

  before(async () => {
    hec = await hecStandIn();
    rest = await splunkRestStandIn();
    const urls = { hec_url: hec.url, api_url: rest.url };
    main = await createIntegration({
      name: 'splunk_main',
      app: 'splunk',
      configuration: { ...urls, hec_token: HEC_TOKEN, api_token: SPLUNK_API_TOKEN },
    });
    wrong = await createIntegration({
      name: 'splunk_wrong',
      app: 'splunk',
      configuration: { ...urls, hec_token: WRONG_HEC_TOKEN, api_token: WRONG_API_TOKEN },
    });
    noRetry = await createIntegration({
      name: 'splunk_no_retry',
      app: 'splunk',
      configuration: { ...urls, hec_token: HEC_TOKEN, api_token: SPLUNK_API_TOKEN },
      retries: 0,
    });
  });
  after(async () => {
    await hec.close();
    await rest.close();
  });

  it('stores the integration with both tokens masked', () => {
    assert.equal(main.app, 'splunk');
    assert.equal(main.configuration.hec_token, '********');
    assert.equal(main.configuration.api_token, '********');
    assert.equal(main.configuration.hec_url, hec.url);
  });

  it('send_event posts one event to HEC with the Splunk token and its metadata', async () => {
    const event = { alert: 'Brute force', src: '203.0.113.7', attempts: 41 };
    const output = await succeeded(main.id, 'send_event', {
      event,
      sourcetype: 'osprey:alert',
      source: 'osprey',
      index: 'security',
      host: 'bastion-01',
      time: 1731405600.25,
      fields: { case_id: 'C-1024', tags: ['ssh', 'bruteforce'] },
    });
    assert.deepEqual(output, { text: 'Success', code: 0 });
    const req = hec.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/services/collector/event');
    assert.equal(req.headers.authorization, `Splunk ${HEC_TOKEN}`);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(req.json, {
      event,
      sourcetype: 'osprey:alert',
      source: 'osprey',
      index: 'security',
      host: 'bastion-01',
      time: 1731405600.25,
      fields: { case_id: 'C-1024', tags: ['ssh', 'bruteforce'] },
    });
    assert.equal(hec.events.at(-1)!.index, 'security');
    assert.equal(rest.requests.length, 0, 'nothing went to the REST API');
  });

  it('send_event leaves out the metadata not given (no nulls)', async () => {
    await succeeded(main.id, 'send_event', { event: 'user admin logged in from 198.51.100.23' });
    assert.deepEqual(hec.requests.at(-1)!.json, { event: 'user admin logged in from 198.51.100.23' });
    assert.equal(hec.events.at(-1)!.index, 'main', 'the token default');
  });

  it('send_events posts a batch in one request, applying the shared metadata to events without their own', async () => {
    const before = hec.requests.length;
    const output = await succeeded(main.id, 'send_events', {
      sourcetype: 'osprey:ioc',
      index: 'security',
      events: [
        { event: { ioc: '203.0.113.7', type: 'ip' } },
        { event: { ioc: 'evil.example', type: 'domain' }, index: 'main', time: 1731405600 },
        { event: 'plain text line with "quotes" and {braces}', host: 'fw01' },
      ],
    });
    assert.deepEqual(output, { text: 'Success', code: 0, count: 3 });
    assert.equal(hec.requests.length, before + 1, 'one request');
    const req = hec.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/services/collector/event');
    assert.equal(req.headers.authorization, `Splunk ${HEC_TOKEN}`);
    const split = splitConcatenatedJson(req.body);
    assert.ok('objects' in split, `concatenated JSON objects: ${req.body}`);
    assert.deepEqual(split.objects, [
      { sourcetype: 'osprey:ioc', index: 'security', event: { ioc: '203.0.113.7', type: 'ip' } },
      {
        sourcetype: 'osprey:ioc',
        index: 'main',
        event: { ioc: 'evil.example', type: 'domain' },
        time: 1731405600,
      },
      {
        sourcetype: 'osprey:ioc',
        index: 'security',
        event: 'plain text line with "quotes" and {braces}',
        host: 'fw01',
      },
    ]);
    assert.deepEqual(
      hec.events.slice(-3).map((e) => e.index),
      ['security', 'main', 'security'],
    );
  });

  it('HEC errors: an index the token may not write fails with REMOTE_REJECTED, a wrong token with AUTH_FAILED', async () => {
    let message = await failed(main.id, 'send_event', { event: 'x', index: 'finance' }, 'REMOTE_REJECTED');
    assert.match(message, /Incorrect index/);
    message = await failed(
      main.id,
      'send_events',
      { events: [{ event: 'a' }, { event: 'b', index: 'finance' }] },
      'REMOTE_REJECTED',
    );
    assert.match(message, /Incorrect index/);

    const before = hec.requests.length;
    message = await failed(wrong.id, 'send_event', { event: 'x' }, 'AUTH_FAILED');
    assert.match(message, /Invalid token/);
    assert.match(message, /splunk/i);
    assert.match(message, /POST/);
    assert.match(message, /\/services\/collector\/event/);
    assert.equal(hec.requests.length, before + 1, 'not retried');
    assert.equal(hec.requests.at(-1)!.headers.authorization, `Splunk ${WRONG_HEC_TOKEN}`);
  });

  it('a 2xx HEC answer with a non-zero code fails with REMOTE_REJECTED and its text', async () => {
    hec.failNext(hecAnswer(200, 'Data channel is missing', 10));
    const message = await failed(main.id, 'send_event', { event: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /Data channel is missing/);
    hec.failNext(hecAnswer(200, 'Server is busy', 9));
    assert.match(
      await failed(main.id, 'send_events', { events: [{ event: 'x' }] }, 'REMOTE_REJECTED'),
      /Server is busy/,
    );
  });

  it('a 503 "Server is busy" with Retry-After is retried for the POST; without Retry-After it is not', async () => {
    hec.failNext({ ...hecAnswer(503, 'Server is busy', 9), headers: { 'retry-after': '1' } });
    const before = hec.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'send_event', { event: 'retried' }));
    assert.deepEqual(output, { text: 'Success', code: 0 });
    assert.equal(hec.requests.length, before + 2);
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    hec.failNext(hecAnswer(503, 'Server is busy', 9));
    const again = hec.requests.length;
    assert.match(await failed(main.id, 'send_event', { event: 'x' }, 'REMOTE_ERROR'), /Server is busy/);
    assert.equal(hec.requests.length, again + 1, 'a POST is not retried on a 503 without Retry-After');
  });

  it('search runs a oneshot job with the form Splunk expects and returns the results', async () => {
    const output = await succeeded(main.id, 'search', {
      query: 'index=main sourcetype=firewall action=blocked | stats count by src',
    });
    assert.deepEqual(output, [{ src: '203.0.113.7', count: '3' }]);
    const req = rest.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/services/search/jobs');
    assert.equal(req.headers.authorization, `Bearer ${SPLUNK_API_TOKEN}`);
    assert.match(req.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
      search: 'search index=main sourcetype=firewall action=blocked | stats count by src',
      exec_mode: 'oneshot',
      output_mode: 'json',
      earliest_time: '-24h',
      latest_time: 'now',
      count: '100',
    });
  });

  it('search keeps a query that starts with "search" or a pipe, and passes the time range and count', async () => {
    const rows = (await succeeded(main.id, 'search', {
      query: 'search index=main sourcetype=firewall',
      earliest_time: '-7d@d',
      latest_time: '2024-11-13T00:00:00Z',
      count: 2,
    })) as { src: string; _time: string }[];
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.src, '203.0.113.7');
    const form = new URLSearchParams(rest.requests.at(-1)!.body);
    assert.equal(form.get('search'), 'search index=main sourcetype=firewall');
    assert.equal(form.get('earliest_time'), '-7d@d');
    assert.equal(form.get('latest_time'), '2024-11-13T00:00:00Z');
    assert.equal(form.get('count'), '2');

    assert.deepEqual(await succeeded(main.id, 'search', { query: '| makeresults' }), [
      { _time: '2024-11-12T10:00:00.000+00:00' },
    ]);
    assert.equal(new URLSearchParams(rest.requests.at(-1)!.body).get('search'), '| makeresults');

    assert.deepEqual(
      await succeeded(main.id, 'search', { query: 'index=main sourcetype=dns' }),
      [],
      'no results',
    );
  });

  it('search with a wrong token fails with AUTH_FAILED, without retrying', async () => {
    const before = rest.requests.length;
    const message = await failed(wrong.id, 'search', { query: 'index=main' }, 'AUTH_FAILED');
    assert.equal(rest.requests.length, before + 1);
    assert.equal(rest.requests.at(-1)!.headers.authorization, `Bearer ${WRONG_API_TOKEN}`);
    assert.match(message, /splunk/i);
    assert.match(message, /POST \/services\/search\/jobs/);
    assert.match(message, /call not properly authenticated/, "Splunk's message");
  });

  it('search against a wrong API URL fails with NOT_FOUND', async () => {
    const elsewhere = await createIntegration({
      name: 'splunk_wrong_path',
      app: 'splunk',
      configuration: {
        hec_url: hec.url,
        hec_token: HEC_TOKEN,
        api_url: `${rest.url}/en-US`,
        api_token: SPLUNK_API_TOKEN,
      },
    });
    const message = await failed(elsewhere.id, 'search', { query: 'index=main' }, 'NOT_FOUND');
    assert.equal(rest.requests.at(-1)!.path, '/en-US/services/search/jobs');
    assert.match(message, /Not Found/, "Splunk's message");
  });

  it("a search Splunk cannot parse fails with REMOTE_REJECTED and Splunk's message", async () => {
    const message = await failed(main.id, 'search', { query: '| frobnicate' }, 'REMOTE_REJECTED');
    assert.match(message, /Unknown search command 'frobnicate'/);
  });

  it('a 429 with Retry-After is retried and then succeeds; with retries: 0 it fails with RATE_LIMITED', async () => {
    const tooMany = restError(429, 'Too many requests; retry later.', 'ERROR', { 'retry-after': '1' });
    rest.failNext(tooMany);
    const before = rest.requests.length;
    const [rows, ms] = await timed(() => succeeded(main.id, 'search', { query: '| makeresults' }));
    assert.equal((rows as unknown[]).length, 1);
    assert.equal(rest.requests.length, before + 2);
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    rest.failNext(tooMany);
    const before2 = rest.requests.length;
    const message = await failed(noRetry.id, 'search', { query: '| makeresults' }, 'RATE_LIMITED');
    assert.equal(rest.requests.length, before2 + 1);
    assert.match(message, /Too many requests/, "Splunk's message");
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    hec.failNext({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"text":"Success",',
    });
    await failed(main.id, 'send_event', { event: 'x' }, 'INVALID_RESPONSE');
    rest.failNext({ status: 200, headers: { 'content-type': 'application/json' }, text: 'results: none' });
    await failed(main.id, 'search', { query: '| makeresults' }, 'INVALID_RESPONSE');
  });

  it('refuses invalid parameters, naming the field', async () => {
    const before = hec.requests.length + rest.requests.length;
    await invalidParams(main.id, 'send_event', {}, 'params.event');
    await invalidParams(main.id, 'send_event', { event: 'x', time: 'yesterday' }, 'params.time');
    await invalidParams(
      main.id,
      'send_event',
      { event: 'x', sourcetype: 'a', colour: 'red' },
      'params.colour',
    );
    await invalidParams(main.id, 'send_events', { events: [] }, 'params.events');
    await invalidParams(main.id, 'send_events', { events: [{ data: 'x' }] }, 'params.events');
    await invalidParams(main.id, 'search', { query: '' }, 'params.query');
    await invalidParams(main.id, 'search', { query: 'x', count: -1 }, 'params.count');
    assert.equal(hec.requests.length + rest.requests.length, before, 'nothing reached Splunk');
  });

  it('the connectivity test checks the HEC token without sending an event', async () => {
    const events = hec.events.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    const req = hec.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/services/collector/event');
    assert.equal(req.headers.authorization, `Splunk ${HEC_TOKEN}`);
    assert.equal(req.body, '');
    assert.equal(hec.events.length, events, 'nothing indexed');

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /Invalid token|403|auth/i);
  });

  it('runs as workflow steps: search, then send a summary event', async () => {
    const x = await runWorkflow(
      `name: Blocked sources to Splunk
trigger: { type: on_demand }
steps:
  - id: blocked
    kind: action
    action: splunk.search
    integration: splunk_main
    with: { query: "index=main sourcetype=firewall action={{ $.event.action }} | stats count by src", earliest_time: -1h }
  - id: notify
    kind: action
    action: splunk.send_event
    integration: splunk_main
    with:
      sourcetype: "osprey:summary"
      event: { sources: "{{ $.blocked.src }}", total: "{{ $count($.blocked) }}" }
  - id: done
    kind: exit
    output: { rows: "{{ $.blocked }}", sent: "{{ $.notify.text }}" }
`,
      { action: 'blocked' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { rows: [{ src: '203.0.113.7', count: '3' }], sent: 'Success' });
    assert.equal(new URLSearchParams(rest.requests.at(-1)!.body).get('earliest_time'), '-1h');
    assert.deepEqual(hec.requests.at(-1)!.json, {
      event: { sources: '203.0.113.7', total: 1 },
      sourcetype: 'osprey:summary',
    });
  });

  it('never shows a token in an answer', () => {
    for (const body of answers)
      for (const secret of [HEC_TOKEN, SPLUNK_API_TOKEN, WRONG_HEC_TOKEN, WRONG_API_TOKEN])
        assert.ok(!body.includes(secret), `a token leaked: ${body.slice(0, 500)}`);
  });
});

describe('Elasticsearch app', () => {
  let es: ElasticsearchStandIn;
  let withKey: Integration;
  let withBasic: Integration;
  let wrong: Integration;
  let anonymous: Integration;
  let noRetry: Integration;
  const basicHeader = `Basic ${Buffer.from(`${ES_USER.username}:${ES_USER.password}`).toString('base64')}`;

  before(async () => {
    es = await elasticsearchStandIn();
    withKey = await createIntegration({
      name: 'es_key',
      app: 'elasticsearch',
      configuration: { base_url: `${es.url}/`, api_key: ES_API_KEY },
    });
    withBasic = await createIntegration({
      name: 'es_basic',
      app: 'elasticsearch',
      configuration: { base_url: es.url, username: ES_USER.username, password: ES_USER.password },
    });
    wrong = await createIntegration({
      name: 'es_wrong',
      app: 'elasticsearch',
      configuration: { base_url: es.url, api_key: WRONG_ES_KEY },
    });
    anonymous = await createIntegration({
      name: 'es_anonymous',
      app: 'elasticsearch',
      configuration: { base_url: es.url },
    });
    noRetry = await createIntegration({
      name: 'es_no_retry',
      app: 'elasticsearch',
      configuration: { base_url: es.url, api_key: ES_API_KEY },
      retries: 0,
    });
  });
  after(async () => {
    await es.close();
  });

  it('stores the integrations with the API key and the password masked', () => {
    assert.equal(withKey.app, 'elasticsearch');
    assert.equal(withKey.configuration.api_key, '********');
    assert.equal(withBasic.configuration.password, '********');
    assert.equal(withBasic.configuration.username, ES_USER.username);
  });

  it('index_document posts the document with the API key; an id replaces the document', async () => {
    const doc = { '@timestamp': '2024-11-12T10:00:00Z', severity: 'high', src: '203.0.113.7', port: 22 };
    const created = (await succeeded(withKey.id, 'index_document', {
      index: 'osprey-alerts',
      document: doc,
    })) as {
      _index: string;
      _id: string;
      result: string;
      _version: number;
    };
    assert.equal(created._index, 'osprey-alerts');
    assert.equal(created.result, 'created');
    assert.equal(created._version, 1);
    let req = es.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/osprey-alerts/_doc', 'no trailing slash from the configured URL, no query');
    assert.equal(req.headers.authorization, `ApiKey ${ES_API_KEY}`);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(req.json, doc);
    assert.deepEqual(es.documents('osprey-alerts')[created._id], doc);

    const withId = (await succeeded(withKey.id, 'index_document', {
      index: 'osprey-alerts',
      id: 'alert/1',
      document: { severity: 'low', port: 443 },
      refresh: 'wait_for',
      pipeline: 'add-ingested',
    })) as { _id: string; result: string };
    assert.equal(withId._id, 'alert/1');
    assert.equal(withId.result, 'created');
    req = es.requests.at(-1)!;
    assert.equal(req.path, '/osprey-alerts/_doc/alert%2F1', 'the id is encoded');
    assert.equal(req.query.get('refresh'), 'wait_for');
    assert.equal(req.query.get('pipeline'), 'add-ingested');
    assert.equal(es.documents('osprey-alerts')['alert/1']!.event_ingested, '2024-11-12T10:00:00.000Z');

    const replaced = (await succeeded(withKey.id, 'index_document', {
      index: 'osprey-alerts',
      id: 'alert/1',
      document: { severity: 'medium', port: 8443 },
    })) as { result: string; _version: number };
    assert.deepEqual([replaced.result, replaced._version], ['updated', 2]);
    assert.ok(!es.requests.at(-1)!.url.includes('?'), 'no refresh or pipeline when not given');
  });

  it('index_document with basic authentication', async () => {
    const out = (await succeeded(withBasic.id, 'index_document', {
      index: 'osprey-alerts',
      document: { severity: 'critical', port: 3389 },
    })) as { result: string };
    assert.equal(out.result, 'created');
    assert.equal(es.requests.at(-1)!.headers.authorization, basicHeader);
  });

  it('bulk_index sends NDJSON in one request and reports every item', async () => {
    const docs = [
      { alert_id: 'A-1', severity: 'high', src: '198.51.100.1', port: 22 },
      { alert_id: 'A-2', severity: 'low', src: '198.51.100.2', port: 80, note: 'line one\nline two' },
      { alert_id: 'A-3', severity: 'high', src: '198.51.100.3', port: 443 },
    ];
    const before = es.requests.length;
    const out = (await succeeded(withKey.id, 'bulk_index', {
      index: 'osprey-bulk',
      documents: docs,
      id_field: 'alert_id',
      refresh: 'true',
    })) as {
      errors: boolean;
      count: number;
      took: number;
      items: { _id: string; result: string; status: number }[];
    };
    assert.equal(es.requests.length, before + 1, 'one request');
    assert.equal(out.errors, false);
    assert.equal(out.count, 3);
    assert.equal(typeof out.took, 'number');
    assert.deepEqual(
      out.items.map((i) => [i._id, i.result, i.status]),
      [
        ['A-1', 'created', 201],
        ['A-2', 'created', 201],
        ['A-3', 'created', 201],
      ],
    );
    const req = es.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/_bulk');
    assert.equal(req.query.get('refresh'), 'true');
    assert.match(req.headers['content-type'] ?? '', /^application\/x-ndjson/);
    assert.equal(req.headers.authorization, `ApiKey ${ES_API_KEY}`);
    assert.ok(req.body.endsWith('\n'), 'the body ends with a newline');
    const lines = req.body
      .split('\n')
      .slice(0, -1)
      .map((l) => JSON.parse(l) as unknown);
    assert.deepEqual(lines, [
      { index: { _index: 'osprey-bulk', _id: 'A-1' } },
      docs[0],
      { index: { _index: 'osprey-bulk', _id: 'A-2' } },
      docs[1],
      { index: { _index: 'osprey-bulk', _id: 'A-3' } },
      docs[2],
    ]);
    assert.deepEqual(Object.keys(es.documents('osprey-bulk')).sort(), ['A-1', 'A-2', 'A-3']);

    const generated = (await succeeded(withKey.id, 'bulk_index', {
      index: 'osprey-bulk',
      documents: [{ severity: 'low' }],
    })) as { items: { _id: string }[] };
    assert.deepEqual(JSON.parse(es.requests.at(-1)!.body.split('\n')[0]!), {
      index: { _index: 'osprey-bulk' },
    });
    assert.ok(generated.items[0]!._id.length > 0);
  });

  it("bulk_index fails when a document is rejected, with the first rejection's reason", async () => {
    const message = await failed(
      withKey.id,
      'bulk_index',
      {
        index: 'osprey-bulk',
        documents: [
          { alert_id: 'B-1', port: 25 },
          { alert_id: 'B-2', port: 'smtp' },
          { alert_id: 'B-3', port: 'submission' },
        ],
        id_field: 'alert_id',
      },
      'REMOTE_REJECTED',
    );
    assert.match(message, /2 of 3/);
    assert.match(message, /B-2/);
    assert.match(message, /document_parsing_exception/);
    assert.match(message, /failed to parse field \[port\] of type \[long\]/);
    assert.doesNotMatch(message, /B-3/, 'the first rejection only');
  });

  it('search posts the query, size and sort, and returns the hits', async () => {
    const hits = (await succeeded(withKey.id, 'search', {
      index: 'osprey-bulk',
      query: { term: { severity: 'high' } },
      size: 5,
      sort: [{ port: 'desc' }],
    })) as {
      total: { value: number; relation: string };
      hits: { _id: string; _source: { port: number }; sort: unknown[] }[];
    };
    assert.deepEqual(hits.total, { value: 2, relation: 'eq' });
    assert.deepEqual(
      hits.hits.map((h) => [h._id, h._source.port, h.sort]),
      [
        ['A-3', 443, [443]],
        ['A-1', 22, [22]],
      ],
    );
    const req = es.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/osprey-bulk/_search');
    assert.equal(req.headers.authorization, `ApiKey ${ES_API_KEY}`);
    assert.deepEqual(req.json, { query: { term: { severity: 'high' } }, size: 5, sort: [{ port: 'desc' }] });

    const all = (await succeeded(withBasic.id, 'search', {
      index: 'osprey-*',
      source: ['severity'],
      from: 1,
    })) as {
      total: { value: number };
      hits: { _index: string; _source: Record<string, unknown> }[];
    };
    assert.deepEqual(es.requests.at(-1)!.json, {
      query: { match_all: {} },
      size: 10,
      from: 1,
      _source: ['severity'],
    });
    assert.equal(es.requests.at(-1)!.path, '/osprey-*/_search');
    assert.equal(
      all.total.value,
      Object.keys(es.documents('osprey-alerts')).length + Object.keys(es.documents('osprey-bulk')).length,
    );
    assert.deepEqual(Object.keys(all.hits[0]!._source), ['severity']);
  });

  it("a missing index fails with NOT_FOUND and Elasticsearch's reason", async () => {
    const message = await failed(withKey.id, 'search', { index: 'no-such-index' }, 'NOT_FOUND');
    assert.match(message, /no such index \[no-such-index\]/);
  });

  it('a query Elasticsearch cannot parse fails with REMOTE_REJECTED and its reason', async () => {
    const message = await failed(
      withKey.id,
      'search',
      { index: 'osprey-bulk', query: { mtch: { src: 'x' } } },
      'REMOTE_REJECTED',
    );
    assert.match(message, /unknown query \[mtch\]/);
  });

  it('a wrong API key fails with AUTH_FAILED, without retrying', async () => {
    const before = es.requests.length;
    const message = await failed(wrong.id, 'search', { index: 'osprey-bulk' }, 'AUTH_FAILED');
    assert.match(message, /elasticsearch/i);
    assert.match(message, /POST/);
    assert.match(message, /\/osprey-bulk\/_search/);
    assert.equal(es.requests.length, before + 1, 'not retried');
    assert.equal(es.requests.at(-1)!.headers.authorization, `ApiKey ${WRONG_ES_KEY}`);
    assert.match(message, /unable to authenticate/, "Elasticsearch's reason");
  });

  it('without credentials no Authorization header is sent', async () => {
    const message = await failed(
      anonymous.id,
      'index_document',
      { index: 'osprey-alerts', document: { a: 1 } },
      'AUTH_FAILED',
    );
    assert.equal(es.requests.at(-1)!.headers.authorization, undefined, 'no Authorization header');
    assert.match(message, /missing authentication credentials/, "Elasticsearch's reason");
  });

  it('a 429 with Retry-After is retried and then succeeds; with retries: 0 it fails with RATE_LIMITED', async () => {
    es.failNext(esRejected({ 'retry-after': '1' }));
    const before = es.requests.length;
    const [out, ms] = await timed(() =>
      succeeded(withKey.id, 'index_document', {
        index: 'osprey-alerts',
        document: { severity: 'low', port: 1 },
      }),
    );
    assert.equal((out as { result: string }).result, 'created');
    assert.equal(es.requests.length, before + 2);
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    es.failNext(esRejected({ 'retry-after': '1' }));
    const before2 = es.requests.length;
    const message = await failed(
      noRetry.id,
      'bulk_index',
      { index: 'osprey-bulk', documents: [{ a: 1 }] },
      'RATE_LIMITED',
    );
    assert.equal(es.requests.length, before2 + 1);
    assert.match(message, /rejected execution/, "Elasticsearch's reason");
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    es.failNext({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"took": 1, "hits": {',
    });
    await failed(withKey.id, 'search', { index: 'osprey-bulk' }, 'INVALID_RESPONSE');
  });

  it('refuses invalid parameters, naming the field', async () => {
    const before = es.requests.length;
    await invalidParams(withKey.id, 'index_document', { index: 'Alerts', document: {} }, 'params.index');
    await invalidParams(
      withKey.id,
      'index_document',
      { index: 'alerts', document: 'text' },
      'params.document',
    );
    await invalidParams(
      withKey.id,
      'index_document',
      { index: 'alerts', document: {}, refresh: 'yes' },
      'params.refresh',
    );
    await invalidParams(withKey.id, 'bulk_index', { index: 'alerts', documents: [] }, 'params.documents');
    await invalidParams(withKey.id, 'bulk_index', { index: 'alerts', documents: [1, 2] }, 'params.documents');
    await invalidParams(withKey.id, 'search', { index: 'alerts', size: 10001 }, 'params.size');
    await invalidParams(withKey.id, 'search', { index: 'alerts', query: 'severity:high' }, 'params.query');
    assert.equal(es.requests.length, before, 'nothing reached Elasticsearch');
  });

  it('the connectivity test succeeds with an API key or a password and fails with a wrong key', async () => {
    let ok = await connectivity(withKey.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(es.requests.at(-1)!.method, 'GET');
    assert.equal(es.requests.at(-1)!.path, '/');
    assert.equal(es.requests.at(-1)!.headers.authorization, `ApiKey ${ES_API_KEY}`);
    ok = await connectivity(withBasic.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(es.requests.at(-1)!.headers.authorization, basicHeader);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /unable to authenticate|401|auth/i);
  });

  it("runs as workflow steps: bulk-index the event's alerts, then search them", async () => {
    const x = await runWorkflow(
      `name: Store and find alerts
trigger: { type: on_demand }
steps:
  - id: store
    kind: action
    action: elasticsearch.bulk_index
    integration: es_key
    with: { index: osprey-wf, documents: "{{ $.event.alerts }}", id_field: id, refresh: "true" }
  - id: find
    kind: action
    action: elasticsearch.search
    integration: es_basic
    with:
      index: osprey-wf
      query: { match: { title: "{{ $.event.word }}" } }
      sort: [{ id: asc }]
  - id: done
    kind: exit
    output: { stored: "{{ $.store.count }}", found: "{{ $.find.hits._id }}", total: "{{ $.find.total.value }}" }
`,
      {
        word: 'ssh',
        alerts: [
          { id: 'w1', title: 'SSH brute force' },
          { id: 'w2', title: 'Port scan' },
          { id: 'w3', title: 'ssh login from new country' },
        ],
      },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { stored: 3, found: ['w1', 'w3'], total: 2 });
  });

  it('never shows the API key or the password in an answer', () => {
    const secrets = [ES_API_KEY, WRONG_ES_KEY, ES_USER.password, basicHeader.slice('Basic '.length)];
    for (const body of answers)
      for (const secret of secrets)
        assert.ok(!body.includes(secret), `a credential leaked: ${body.slice(0, 500)}`);
  });
});

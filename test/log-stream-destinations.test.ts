import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { HTTPMethods } from 'fastify';
import { pino } from 'pino';
import { Streamer } from '../src/streams/streamer.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

type Answer = { status: number; body: string };
/** One request and its answer (`status` 0 while the answer is held). */
type Received = { path: string; headers: IncomingHttpHeaders; body: string; status: number; answer: string };
type Entry = { id: string } & Record<string, unknown>;
type BulkPair = { action: { index: { _index: string; _id: string } }; doc: Record<string, unknown> };

/** An HTTP stand-in: records every request and answers with `answer` (default 200 `{}`). */
class HttpReceiver {
  readonly requests: Received[] = [];
  answer: (path: string, body: string) => Answer | Promise<Answer> = () => ({ status: 200, body: '{}' });
  server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const r: Received = { path: req.url ?? '', headers: req.headers, body, status: 0, answer: '' };
        this.requests.push(r);
        void Promise.resolve(this.answer(r.path, body)).then((a) => {
          Object.assign(r, { status: a.status, answer: a.body });
          res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body);
        });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests at `path` that were acknowledged (2xx, and no Elasticsearch item errors). */
  accepted(path: string): Received[] {
    return this.requests.filter(
      (r) => r.path === path && r.status >= 200 && r.status < 300 && !/"errors":true/.test(r.answer),
    );
  }

  /** Webhook entries acknowledged at `path`, in arrival order. */
  entries(path: string): Entry[] {
    return this.accepted(path).flatMap((r) => (JSON.parse(r.body) as { entries: Entry[] }).entries);
  }
}

/** Elasticsearch _bulk NDJSON as action/document pairs. */
function bulkPairs(body: string): BulkPair[] {
  const lines = body.split('\n').filter(Boolean);
  assert.equal(lines.length % 2, 0, 'action/document pairs');
  return lines
    .filter((_, i) => i % 2 === 0)
    .map((action, i) => ({
      action: JSON.parse(action) as BulkPair['action'],
      doc: JSON.parse(lines[2 * i + 1]!) as Record<string, unknown>,
    }));
}

/** Reads octet-counted RFC 5424 frames (RFC 6587) from a stream socket into `messages`. */
function octetFrames(messages: string[]): (socket: Socket) => void {
  return (socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString());
        if (buffer.length < space + 1 + length) break;
        messages.push(buffer.subarray(space + 1, space + 1 + length).toString());
        buffer = buffer.subarray(space + 1 + length);
      }
    });
  };
}

const FAILABLE = (name: string): string =>
  `name: ${name}\ntrigger: { type: on_demand }\nsteps:\n  - { id: a, kind: transform, value: 1 }\n` +
  `  - id: b\n    kind: if\n    condition: "{{ $.event.fail }}"\n` +
  `    then: [{ id: boom, kind: exit, status: failure }]`;

interface StreamView {
  failures: number;
  last_error: string | null;
  checkpoints: { audit: { seq: string; id: string } | null; activity: unknown };
}

const port = (s: { address(): unknown }): number => (s.address() as AddressInfo).port;
const ok: Answer = { status: 200, body: '{}' };

describe('log stream destinations', () => {
  let t: TestApp;
  const http = new HttpReceiver();
  const streamers: Streamer[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'osprey-streams-'));
  const filesDir = join(dir, 'files');

  function startStreamer(app: TestApp = t): Streamer {
    const s = new Streamer({
      db: app.db,
      http: app.services.outbound,
      logger: pino({ level: 'silent' }),
      revealSecret: (ws, name) => app.services.secrets.reveal(ws, name),
      filesDir,
      pollMs: 30,
      retryBaseMs: 20,
      timeoutMs: 5000,
    });
    streamers.push(s);
    s.start();
    return s;
  }

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await http.start();
    const cert = ['-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', 'k', '-out', 'c'];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', ...cert], { stdio: 'ignore', cwd: dir });
  });
  // Each test's streams only: stop the streamers and delete the streams, so none delivers another's.
  afterEach(async () => {
    const stopped = Promise.all(streamers.splice(0).map((s) => s.stop()));
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 3000).unref())]);
    for (const s of (await call<{ streams: { id: string }[] }>('GET', '/v1/log-streams')).streams)
      await t.request({ method: 'DELETE', url: `/v1/log-streams/${s.id}` });
    http.answer = () => ok;
  });
  after(async () => {
    http.server.closeAllConnections();
    await new Promise((r) => http.server.close(r));
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function until(check: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async function call<T>(method: HTTPMethods, url: string, body?: object, code = 200, app = t): Promise<T> {
    const res = await app.request({ method, url, ...(body ? { payload: body } : {}) });
    assert.equal(res.statusCode, code, res.body);
    return res.json();
  }

  async function stream(name: string, logs: string[], dest: object, extra = {}, app = t): Promise<string> {
    const payload = { name, logs, destination: dest, ...extra };
    return (await call<{ stream: { id: string } }>('POST', '/v1/log-streams', payload, 201, app)).stream.id;
  }

  async function view(id: string, app = t): Promise<StreamView> {
    return (await call<{ stream: StreamView }>('GET', `/v1/log-streams/${id}`, undefined, 200, app)).stream;
  }

  async function variables(prefix: string, n: number, app = t): Promise<void> {
    for (let i = 0; i < n; i++)
      await call('POST', '/v1/variables', { name: `${prefix}_${i}`, value: i }, 201, app);
  }

  /** Audit entry ids at or after `since` (or before it), in chain order. */
  async function auditIds(since: string, older = false): Promise<string[]> {
    const rows = await t.db.rows<{ id: string }>(
      `SELECT id FROM audit_logs WHERE workspace_id = $1 AND ts ${older ? '<' : '>='} $2 ORDER BY seq`,
      [t.workspaceId, since],
    );
    return rows.map((r) => r.id);
  }

  async function workflow(yaml: string): Promise<string> {
    return (await call<{ workflow: { id: string } }>('POST', '/v1/workflows', { yaml }, 201)).workflow.id;
  }

  async function execute(workflowId: string, fail: boolean): Promise<string> {
    const payload = { inputs: { fail }, revision: 'current' };
    const url = `/v1/workflows/${workflowId}/executions`;
    return (await call<{ execution_id: string }>('POST', url, payload, 201)).execution_id;
  }

  /** The runs and their step entries (`<run>:<key>`). */
  async function withSteps(runs: string[]): Promise<string[]> {
    const steps = await t.db.rows<{ id: string }>(
      `SELECT execution_id::text || ':' || key AS id FROM step_runs WHERE execution_id = ANY($1::uuid[])`,
      [runs],
    );
    return [...runs, ...steps.map((s) => s.id)];
  }

  const hook = (path: string) => ({ type: 'webhook', url: `${http.url}${path}` });
  const es = (path: string, extra: object) => ({ type: 'elasticsearch', url: http.url + path, ...extra });

  it('elasticsearch: _bulk pairs with _index and _id, each auth scheme; item errors fail the batch and keep the checkpoint', async () => {
    const secrets = { es_key: 'es-api-key-1', es_token: 'es-bearer-1', es_basic: 'elastic:changeme' };
    for (const [name, value] of Object.entries(secrets))
      await call('POST', '/v1/secrets', { name, value }, 201);
    const since = new Date().toISOString();
    const from = (secret: string) => ({ start_time: since, secret_name: secret });
    await stream('es-a', ['audit', 'activity'], es('/a', { auth: 'api_key' }), from('es_key'));
    await stream('es-b', ['audit'], es('/b/', { auth: 'bearer', index: 'soc-audit' }), from('es_token'));
    const c = await stream('es-c', ['audit'], es('/c', { auth: 'basic' }), from('es_basic'));
    const run = await execute(await workflow(FAILABLE('Indexed')), false);
    await testWorker(t).runUntilIdle();
    await variables('es', 5);
    const expected = await auditIds(since);
    const activity = await withSteps([run]);
    const docs = (path: string): Map<string, { index: string; doc: Record<string, unknown> }> =>
      new Map(
        http
          .accepted(`${path}/_bulk`)
          .flatMap((r) => bulkPairs(r.body))
          .map((p) => [p.action.index._id, { index: p.action.index._index, doc: p.doc }]),
      );
    startStreamer();
    const indexed = (path: string, ids: string[]): boolean => ids.every((id) => docs(path).has(id));
    const everywhere = (): boolean => ['/a', '/b', '/c'].every((p) => indexed(p, expected));
    await until(() => everywhere() && indexed('/a', activity), 'every entry indexed');

    const indexes = { '/a': 'osprey-audit', '/b': 'soc-audit', '/c': 'osprey-audit' };
    for (const [path, index] of Object.entries(indexes))
      for (const id of expected) {
        const d = docs(path).get(id)!;
        assert.deepEqual([d.index, d.doc.id, d.doc.log], [index, id, 'audit'], `${path} ${id}`);
        assert.ok(!Number.isNaN(Date.parse(String(d.doc['@timestamp']))), 'an @timestamp');
      }
    for (const id of activity) assert.equal(docs('/a').get(id)?.index, 'osprey-activity', id);
    assert.equal(docs('/a').get(run)?.doc.log, 'activity');
    assert.ok(!docs('/b').has(run), 'es-b streams the audit log only');
    const auth = (path: string): Set<string | undefined> =>
      new Set(http.requests.filter((r) => r.path === `${path}/_bulk`).map((r) => r.headers.authorization));
    assert.deepEqual(auth('/a'), new Set(['ApiKey es-api-key-1']));
    assert.deepEqual(auth('/b'), new Set(['Bearer es-bearer-1']));
    assert.deepEqual(auth('/c'), new Set([`Basic ${Buffer.from('elastic:changeme').toString('base64')}`]));
    assert.ok(http.requests.every((r) => r.headers['content-type'] === 'application/x-ndjson'));

    // One document refused (HTTP 200, errors: true): the batch fails and the checkpoint stays.
    await until(async () => (await view(c)).checkpoints.audit?.id === expected.at(-1), 'es-c caught up');
    const checkpoint = (await view(c)).checkpoints;
    http.answer = (path, body) => {
      if (path !== '/c/_bulk') return ok;
      const error = { type: 'mapper_parsing_exception', reason: 'failed to parse [extra_data]' };
      const items = bulkPairs(body).map((p, i) => ({
        index: { ...p.action.index, ...(i === 0 ? { status: 400, error } : { status: 201 }) },
      }));
      return { status: 200, body: JSON.stringify({ took: 1, errors: true, items }) };
    };
    await variables('es_refused', 3);
    const refused = (await auditIds(since)).filter((id) => !expected.includes(id));
    await until(async () => (await view(c)).failures >= 2, 'es-c failures');
    const failing = await view(c);
    assert.match(failing.last_error ?? '', /refused part of the batch: .*mapper_parsing_exception/);
    assert.match(failing.last_error ?? '', /failed to parse \[extra_data\]/);
    assert.deepEqual(failing.checkpoints, checkpoint, 'the checkpoint does not move');

    http.answer = () => ({ status: 200, body: '{"errors":false,"items":[]}' });
    await until(() => indexed('/c', refused), 'the refused batch delivered');
    await until(async () => (await view(c)).checkpoints.audit?.id === refused.at(-1), 'the checkpoint moved');
    assert.deepEqual(await view(c).then((v) => [v.failures, v.last_error]), [0, null]);
  });

  it('webhook: {entries} signed with HMAC-SHA256 over "<timestamp>.<body>"; a 500 answer is retried', async () => {
    await call('POST', '/v1/secrets', { name: 'hook_key', value: 'hmac-key-1' }, 201);
    let down = true;
    http.answer = () => (down ? { status: 500, body: '{"error":"down"}' } : { status: 204, body: '' });
    const since = new Date().toISOString();
    const id = await stream('hook', ['audit'], hook('/hook'), { secret_name: 'hook_key', start_time: since });
    await variables('hook', 4);
    const expected = await auditIds(since);
    startStreamer();
    await until(async () => {
      const v = await view(id);
      return v.failures >= 2 && /answered 500/.test(v.last_error ?? '');
    }, 'failures shown');
    down = false;
    await until(() => expected.every((e) => http.entries('/hook').some((x) => x.id === e)), 'every entry');

    const sent = http.requests.filter((r) => r.path === '/hook');
    assert.ok(sent.filter((r) => r.status === 500).length >= 2, 'the refused batch was sent again');
    for (const r of sent) {
      const timestamp = String(r.headers['x-osprey-timestamp']);
      assert.ok(Math.abs(Number(timestamp) - Date.now() / 1000) < 300, 'a current timestamp');
      const mac = createHmac('sha256', 'hmac-key-1').update(`${timestamp}.${r.body}`).digest('hex');
      assert.equal(r.headers['x-osprey-signature'], `sha256=${mac}`);
      assert.equal(r.headers['content-type'], 'application/json');
    }
    const variable = http.entries('/hook').find((e) => e.id === expected[1])!;
    assert.deepEqual([variable.log, variable.action], ['audit', 'Workspace variable created']);
    assert.equal((await view(id)).failures, 0);
  });

  it('file: NDJSON lines with id and log, rotated at max_bytes keeping `keep` older files', async () => {
    const since = new Date().toISOString();
    const destination = { type: 'file', path: 'audit/osprey.ndjson', max_bytes: 2048, keep: 2 };
    const id = await stream('file', ['audit'], destination, { batch_size: 10, start_time: since });
    await variables('file', 29);
    const expected = await auditIds(since);
    assert.equal(expected.length, 30, 'the stream creation and 29 variables: three batches of 10');
    const read = async (): Promise<Map<string, Entry[]>> => {
      const files = new Map<string, Entry[]>();
      for (const n of (await readdir(join(filesDir, 'audit'))).sort()) {
        const lines = (await readFile(join(filesDir, 'audit', n), 'utf8')).split('\n').filter(Boolean);
        const entries = lines.map((l) => JSON.parse(l) as Entry);
        files.set(n, entries);
      }
      return files;
    };
    // A streamer runs only while no entries are written, so every batch is a full one.
    const drain = async (last: string): Promise<void> => {
      const s = startStreamer();
      await until(async () => (await view(id)).checkpoints.audit?.id === last, 'the file stream caught up');
      await s.stop();
    };
    await drain(expected.at(-1)!);

    // Each batch is over 2048 bytes, so each file holds one batch, the oldest in .2.
    let files = await read();
    const names = ['osprey.ndjson', 'osprey.ndjson.1', 'osprey.ndjson.2'];
    assert.deepEqual([...files.keys()], names);
    const ids = (name: string): string[] => files.get(name)!.map((l) => l.id);
    assert.deepEqual(ids('osprey.ndjson.2'), expected.slice(0, 10));
    assert.deepEqual(ids('osprey.ndjson.1'), expected.slice(10, 20));
    assert.deepEqual(ids('osprey.ndjson'), expected.slice(20));
    assert.ok([...files.values()].flat().every((l) => l.log === 'audit'));

    // A fourth batch: the third rotation drops the oldest file; never more than `keep` rotated.
    await variables('file_more', 10);
    const all = await auditIds(since);
    await drain(all.at(-1)!);
    files = await read();
    assert.deepEqual([...files.keys()], names);
    const union = [...files.values()].flat().map((l) => l.id);
    assert.deepEqual(new Set(union), new Set(all.slice(10)));
    assert.equal(union.length, 30, 'no line written twice');
  });

  /** A syslog stream of variable creations to 127.0.0.1; the ids of the 20 variables it should send. */
  async function syslogStream(name: string, destination: object): Promise<string[]> {
    const since = new Date().toISOString();
    const filter = { actions: ['Workspace variable created'] };
    const dest = { type: 'syslog', host: '127.0.0.1', ...destination };
    await stream(name, ['audit'], dest, { filter, start_time: since });
    await variables(name, 20);
    const sql = `SELECT id FROM audit_logs WHERE workspace_id = $1 AND ts >= $2 AND action = $3`;
    const rows = await t.db.rows<{ id: string }>(sql, [t.workspaceId, since, filter.actions[0]]);
    assert.equal(rows.length, 20);
    return rows.map((r) => r.id);
  }
  const has = (messages: string[]) => (id: string) => messages.some((m) => m.includes(`id="${id}"`));
  const RFC5424 = (pri: number): RegExp =>
    new RegExp(`^<${pri}>1 [\\d-]+T[\\d:.]+Z \\S+ osprey \\d+ audit \\[osprey@32473 id="[0-9a-f-]+"\\] \\{`);

  it('syslog over TLS (self-signed, verify_tls false): octet-counted RFC 5424 frames, filtered by action', async () => {
    const tls: string[] = [];
    const certs = { key: readFileSync(join(dir, 'k')), cert: readFileSync(join(dir, 'c')) };
    const server = createTlsServer(certs, octetFrames(tls));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const wanted = await syslogStream('tls', { port: port(server), transport: 'tls', verify_tls: false });
      startStreamer();
      await until(() => wanted.every(has(tls)), 'TLS frames');
      for (const m of tls) assert.match(m, RFC5424(13 * 8 + 6));
      const first = tls.find((m) => m.includes(`id="${wanted[0]}"`))!;
      const entry = JSON.parse(first.slice(first.indexOf('] {') + 2)) as Entry;
      assert.deepEqual([entry.id, entry.action], [wanted[0], 'Workspace variable created']);
      assert.ok(!tls.some((m) => m.includes('Log stream created')), 'filtered by action');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('syslog over UDP: one RFC 5424 datagram per entry, with the facility given', async (c) => {
    // A send that never ends would leave the streamer's lease heartbeat (an interval) keeping this
    // process alive after the test; a mocked setInterval does not.
    c.mock.timers.enable({ apis: ['setInterval'] });
    const udp: string[] = [];
    const socket = createSocket('udp4', (msg) => udp.push(msg.toString()));
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    try {
      const wanted = await syslogStream('udp', { port: port(socket), transport: 'udp', facility: 16 });
      startStreamer();
      await until(() => wanted.every(has(udp)), 'UDP datagrams', 5000);
      for (const m of udp) assert.match(m, RFC5424(16 * 8 + 6));
    } finally {
      socket.close();
    }
  });

  it('activity only, filtered by workflow_ids and by statuses, with refused trigger deliveries; steps follow their run', async () => {
    const since = new Date().toISOString();
    const a = await workflow(FAILABLE('Filtered A'));
    const b = await workflow(FAILABLE('Filtered B'));
    const hooked = await workflow(
      'name: Hooked\ntrigger: { type: webhook }\nsteps: [{ id: done, kind: exit }]',
    );
    const filter = (f: object) => ({ filter: f, start_time: since });
    await stream('by-wf', ['activity'], hook('/by-wf'), filter({ workflow_ids: [a, hooked] }));
    await stream('failed', ['activity'], hook('/failed'), filter({ statuses: ['FAILED'] }));
    const aOk = await execute(a, false);
    const aFail = await execute(a, true);
    await execute(b, false);
    const bFail = await execute(b, true);
    await testWorker(t).runUntilIdle();
    // The unpublished workflow refuses the delivery: a trigger_event entry.
    const { url } = await call<{ url: string }>('GET', `/v1/workflows/${hooked}/webhook`);
    const refused = await t.app.inject({ method: 'POST', url: new URL(url).pathname, payload: { n: 1 } });
    assert.equal(refused.statusCode, 409, refused.body);
    const sql = 'SELECT id::text FROM trigger_events WHERE workflow_id = $1';
    const events = (await t.db.rows<{ id: string }>(sql, [hooked])).map((r) => r.id);
    assert.equal(events.length, 1);
    const byWorkflow = [...(await withSteps([aOk, aFail])), ...events];
    const failed = await withSteps([aFail, bFail]);
    startStreamer();
    const ids = (p: string): string[] => http.entries(p).map((e) => e.id);
    const arrived = (want: string[], p: string): boolean => want.every((id) => ids(p).includes(id));
    await until(() => arrived(byWorkflow, '/by-wf') && arrived(failed, '/failed'), 'the filtered activity');
    assert.deepEqual(new Set(ids('/by-wf')), new Set(byWorkflow), 'workflow A and the refused delivery only');
    assert.deepEqual(new Set(ids('/failed')), new Set(failed), 'FAILED runs only');

    const event = http.entries('/by-wf').find((e) => e.id === events[0])!;
    assert.deepEqual(
      [event.type, event.status, event.workflow_id, event.execution_id, event.reason],
      ['trigger_event', 'NOT_STARTED', hooked, null, 'the workflow is not published'],
    );
    const failedRun = http.entries('/failed').find((e) => e.id === aFail)!;
    assert.deepEqual([failedRun.type, failedRun.status], ['workflow_run', 'FAILED']);
    assert.equal(http.entries('/by-wf').find((e) => e.id === aOk)?.status, 'SUCCESS');
    for (const p of ['/by-wf', '/failed']) {
      let run: string | undefined;
      for (const e of http.entries(p)) {
        if (e.type !== 'step_execution') run = e.id;
        else assert.ok(e.execution_id === run && e.id.startsWith(`${run}:`), `${e.id} follows its run`);
      }
    }
  });

  /** A stream whose start_time precedes three entries written before it exists. */
  async function backfill(name: string): Promise<{ id: string; t0: string; old: string[] }> {
    const t0 = new Date().toISOString();
    await variables(name, 3);
    const old = await auditIds(t0);
    const id = await stream(name, ['audit'], hook(`/${name}`), { start_time: t0 });
    return { id, t0, old };
  }
  const count = (path: string, id: string): number => http.entries(path).filter((x) => x.id === id).length;

  it('backfill: a start_time in the past delivers older entries; resume with start_time delivers them again', async () => {
    const { id, t0, old } = await backfill('backfill');
    const earlier = (await auditIds(t0, true)).slice(-5);
    let s = startStreamer();
    await until(() => old.every((e) => count('/backfill', e) === 1), 'the backfill');
    const none = (): boolean => earlier.every((e) => count('/backfill', e) === 0);
    assert.ok(none(), 'nothing before start_time');
    await s.stop();

    const resume = { start_time: t0 };
    const resumed = await call<{ stream: StreamView }>('POST', `/v1/log-streams/${id}/resume`, resume);
    assert.equal(resumed.stream.checkpoints.audit, null);
    s = startStreamer();
    await until(() => old.every((e) => count('/backfill', e) === 2), 'the entries again, with the same ids');
    assert.ok(none(), 'nothing before start_time');
  });

  it('backfill: a resume with start_time while a batch is in flight still delivers from start_time', async () => {
    const { id, t0, old } = await backfill('inflight');
    startStreamer();
    await until(() => old.every((e) => count('/inflight', e) === 1), 'the backfill');
    // The receiver holds the next batch; the backfill is asked for meanwhile.
    let release!: () => void;
    const held = new Promise<Answer>((r) => (release = () => r(ok)));
    http.answer = () => held;
    await variables('inflight_more', 1);
    await until(() => http.requests.some((r) => r.path === '/inflight' && r.status === 0), 'a held batch');
    await call('POST', `/v1/log-streams/${id}/resume`, { start_time: t0 });
    http.answer = () => ok;
    release();
    await until(() => http.requests.every((r) => r.status !== 0), 'the held batch answered');
    const redelivered = () => old.every((e) => count('/inflight', e) >= 2);
    await until(redelivered, 'the re-delivery', 3000).catch(() => undefined);
    const times = old.map((e) => count('/inflight', e)).join(', ');
    const checkpoint = JSON.stringify((await view(id)).checkpoints.audit);
    assert.ok(
      redelivered(),
      `each entry since start_time arrived ${times} time(s); checkpoint ${checkpoint}`,
    );
  });

  it('a missing secret is named in last_error; a secret value never shows in last_error or the API', async () => {
    await call('POST', '/v1/secrets', { name: 'leaky', value: 'tok-9f8e7d6c5b4a' }, 201);
    const refusal = '{"error":{"type":"security_exception","reason":"unable to authenticate"}}';
    http.answer = (path) => (path === '/denied/_bulk' ? { status: 401, body: refusal } : ok);
    const missing = await stream('no-secret', ['audit'], hook('/nosecret'), { secret_name: 'missing' });
    const denied = await stream('denied', ['audit'], es('/denied', { auth: 'bearer' }), {
      secret_name: 'leaky',
    });
    await variables('secretless', 2);
    startStreamer();
    const failing = async (id: string): Promise<boolean> => (await view(id)).failures >= 1;
    await until(async () => (await failing(missing)) && (await failing(denied)), 'both streams failing');
    const expected = 'the secret "missing" does not exist in this workspace';
    assert.equal((await view(missing)).last_error, expected);
    assert.equal(http.requests.filter((r) => r.path === '/nosecret').length, 0, 'nothing sent without it');
    assert.match((await view(denied)).last_error ?? '', /answered 401: .*security_exception/);
    const sent = http.requests.find((r) => r.path === '/denied/_bulk');
    assert.equal(sent?.headers.authorization, 'Bearer tok-9f8e7d6c5b4a', 'the secret was used');
    const urls = ['/v1/log-streams', `/v1/log-streams/${denied}`, '/v1/audit-logs?page_size=100'];
    const answers = await Promise.all(urls.map((url) => t.request({ method: 'GET', url })));
    answers.push(await t.app.inject({ method: 'GET', url: '/metrics' }));
    for (const res of answers) {
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(!res.body.includes('tok-9f8e7d6c5b4a'), `the token in ${res.body.slice(0, 200)}`);
    }
  });

  describe('without OSPREY_HTTP_ALLOW_NETWORKS', () => {
    let t2: TestApp;
    before(async () => void (t2 = await startTestApp()));
    after(() => t2.close());

    it('an HTTP destination on 127.0.0.1 fails naming the blocked address; destination.allowed_networks opens it', async () => {
      const id = await stream('ssrf', ['audit'], hook('/ssrf'), {}, t2);
      await variables('ssrf', 2, t2);
      startStreamer(t2);
      await until(async () => (await view(id, t2)).failures >= 1, 'the refusal');
      assert.match(
        (await view(id, t2)).last_error ?? '',
        /127\.0\.0\.1 resolves to 127\.0\.0\.1, a private, loopback or link-local address/,
      );
      assert.equal(http.requests.filter((r) => r.path === '/ssrf').length, 0, 'nothing sent');
      const destination = { ...hook('/ssrf'), allowed_networks: ['127.0.0.1/32'] };
      await call('PATCH', `/v1/log-streams/${id}`, { destination }, 200, t2);
      await until(() => http.entries('/ssrf').length >= 3, 'delivery once the network is allowed');
    });

    it('a syslog destination on 127.0.0.1 is refused the same way', async () => {
      const messages: string[] = [];
      const server = createTcpServer(octetFrames(messages));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const destination = { type: 'syslog', host: '127.0.0.1', port: port(server), transport: 'tcp' };
        const id = await stream('ssrf-syslog', ['audit'], destination, {}, t2);
        await variables('ssrf_syslog', 1, t2);
        startStreamer(t2);
        await until(async () => messages.length > 0 || (await view(id, t2)).failures >= 1, 'an attempt');
        assert.equal(messages.length, 0, 'a syslog frame reached 127.0.0.1, which is not allowed');
        assert.match((await view(id, t2)).last_error ?? '', /127\.0\.0\.1/);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });
  });
});

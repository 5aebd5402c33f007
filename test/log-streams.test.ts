import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { Streamer } from '../src/streams/streamer.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

/** A Splunk HEC stand-in: records every event by entry id; can fail or hang on demand. */
class HecReceiver {
  readonly received: { id: string; log: string; token: string | undefined }[] = [];
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  readonly #hung: ServerResponse[] = [];
  server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (this.mode === 'fail') {
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end('{"text":"Server is busy","code":9}');
          return;
        }
        const token = req.headers.authorization?.replace(/^Splunk /, '');
        for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean)) {
          const e = JSON.parse(line) as { sourcetype: string; event: { id: string } };
          this.received.push({ id: e.event.id, log: e.sourcetype.split(':')[1]!, token });
        }
        if (this.mode === 'hang') this.#hung.push(res);
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  release(): void {
    for (const res of this.#hung.splice(0)) res.writeHead(200).end('{"text":"Success","code":0}');
  }

  ids(log?: string): Set<string> {
    return new Set(this.received.filter((r) => !log || r.log === log).map((r) => r.id));
  }

  async close(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

/** A syslog stand-in over TCP, reading octet-counted RFC 5424 frames (RFC 6587). */
async function syslogReceiver(port = 0): Promise<{ server: TcpServer; port: number; messages: string[] }> {
  const messages: string[] = [];
  const server = createTcpServer((socket) => {
    let buffer = Buffer.alloc(0);
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
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, messages };
}

describe('log streams', () => {
  let t: TestApp;
  const hec = new HecReceiver();
  const streamers: Streamer[] = [];
  const logger = pino({ level: 'silent' });

  function streamer(options: { leaseMs?: number; maxFailures?: number } = {}): Streamer {
    const s = new Streamer({
      db: t.db,
      http: t.services.outbound,
      logger,
      revealSecret: (ws, name) => t.services.secrets.reveal(ws, name),
      filesDir: '/tmp',
      pollMs: 30,
      retryBaseMs: 20,
      timeoutMs: 5000,
      ...options,
    });
    streamers.push(s);
    return s;
  }

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await hec.start();
    const secret = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'hec_token', value: 'hec-secret-token' },
    });
    assert.equal(secret.statusCode, 201, secret.body);
  });
  after(async () => {
    await Promise.all(streamers.map((s) => s.stop()));
    await hec.close();
    await t.close();
  });

  async function until(check: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  async function auditIds(since: string): Promise<string[]> {
    const rows = await t.db.rows<{ id: string }>(
      'SELECT id FROM audit_logs WHERE workspace_id = $1 AND ts >= $2 ORDER BY seq',
      [t.workspaceId, since],
    );
    return rows.map((r) => r.id);
  }

  async function variables(prefix: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/variables',
        payload: { name: `${prefix}_${i}`, value: i },
      });
      assert.equal(res.statusCode, 201, res.body);
    }
  }

  it('delivers the audit and activity logs to a HEC receiver through failures and a restart: none skipped, duplicates share ids', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const created = await t.request({
      method: 'POST',
      url: '/v1/log-streams',
      payload: {
        name: 'splunk',
        logs: ['audit', 'activity'],
        destination: { type: 'splunk_hec', url: hec.url },
        secret_name: 'hec_token',
        batch_size: 25,
        start_time: since,
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const streamId = (created.json() as { stream: { id: string } }).stream.id;

    // Activity: three runs that end (one fails).
    const wf = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: [
          'name: Streamed',
          'trigger: { type: on_demand }',
          'steps:',
          '  - { id: a, kind: transform, value: 1 }',
          '  - id: b',
          '    kind: if',
          '    condition: "{{ $.event.fail }}"',
          '    then: [{ id: boom, kind: exit, status: failure }]',
        ].join('\n'),
      },
    });
    assert.equal(wf.statusCode, 201, wf.body);
    const workflowId = (wf.json() as { workflow: { id: string } }).workflow.id;
    const runs: string[] = [];
    for (const fail of [false, true, false]) {
      const run = await t.request({
        method: 'POST',
        url: `/v1/workflows/${workflowId}/executions`,
        payload: { inputs: { fail }, revision: 'current' },
      });
      assert.equal(run.statusCode, 201, run.body);
      runs.push((run.json() as { execution_id: string }).execution_id);
    }
    const worker = testWorker(t);
    await worker.runUntilIdle();

    // The receiver refuses for a while: the stream retries and shows the error.
    hec.mode = 'fail';
    await variables('first', 60);
    const a = streamer({ leaseMs: 400 });
    a.start();
    await until(async () => {
      const s = (await t.request({ method: 'GET', url: `/v1/log-streams/${streamId}` })).json() as {
        stream: { failures: number; last_error: string | null };
      };
      return s.stream.failures >= 2 && /503/.test(s.stream.last_error ?? '');
    }, 'failures to show');
    hec.mode = 'ok';
    await until(
      async () => (await auditIds(since)).every((id) => hec.ids('audit').has(id)),
      'the first entries',
    );

    // A restart mid-stream: the receiver takes a batch but never answers; that streamer is
    // abandoned, its lease expires, and a new one delivers the batch again.
    const beforeHang = hec.received.length;
    hec.mode = 'hang';
    await variables('second', 60);
    await until(() => hec.received.length > beforeHang, 'a batch taken and never answered');
    const hung = new Set(hec.received.slice(beforeHang).map((r) => r.id));
    void a.stop();
    hec.mode = 'ok';
    const b = streamer({ leaseMs: 400 });
    b.start();
    await until(
      async () => (await auditIds(since)).every((id) => hec.ids('audit').has(id)),
      'every audit entry',
    );
    hec.release();

    const expectedActivity = [...runs];
    const steps = await t.db.rows<{ id: string }>(
      `SELECT execution_id::text || ':' || key AS id FROM step_runs WHERE execution_id = ANY($1::uuid[])`,
      [runs],
    );
    expectedActivity.push(...steps.map((s) => s.id));
    await until(() => expectedActivity.every((id) => hec.ids('activity').has(id)), 'every activity entry');
    assert.ok(
      hec.received.every((r) => r.token === 'hec-secret-token'),
      'the HEC token from the secret',
    );

    // The batch taken but never acknowledged came again from the new streamer, with the same ids.
    const counts = new Map<string, number>();
    for (const r of hec.received) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    assert.ok(
      [...hung].every((id) => (counts.get(id) ?? 0) >= 2),
      'the hung batch was delivered again',
    );
    assert.ok([...counts.values()].every((n) => n <= 3));

    const view = (await t.request({ method: 'GET', url: `/v1/log-streams/${streamId}` })).json() as {
      stream: {
        state: string;
        delivered: number;
        lag_seconds: number;
        failures: number;
        checkpoints: { audit: { seq: string } };
      };
    };
    assert.equal(view.stream.state, 'running');
    assert.equal(view.stream.failures, 0);
    assert.ok(view.stream.delivered >= (await auditIds(since)).length);
    const metrics = await t.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(metrics.body, /osprey_log_stream_delivered_entries\{[^}]*name="splunk"[^}]*\} \d+/);
    assert.match(metrics.body, /osprey_log_stream_lag_seconds\{[^}]*name="splunk"/);
  });

  it('delivers to a TCP syslog receiver as RFC 5424 frames, filtered by action, after it was down a while', async () => {
    // The receiver is down first: connections are refused, the stream retries and shows why.
    const probe = await syslogReceiver();
    await new Promise((r) => probe.server.close(r));
    let syslog = probe;
    try {
      const since = new Date().toISOString();
      const created = await t.request({
        method: 'POST',
        url: '/v1/log-streams',
        payload: {
          name: 'syslog',
          logs: ['audit'],
          filter: { actions: ['Workspace variable created'] },
          destination: { type: 'syslog', host: '127.0.0.1', port: probe.port, transport: 'tcp' },
          start_time: since,
        },
      });
      assert.equal(created.statusCode, 201, created.body);
      const streamId = (created.json() as { stream: { id: string } }).stream.id;
      await variables('syslog', 30);
      const s = streamer();
      s.start();
      await until(async () => {
        const v = (await t.request({ method: 'GET', url: `/v1/log-streams/${streamId}` })).json() as {
          stream: { failures: number; last_error: string | null };
        };
        return v.stream.failures >= 2 && /ECONNREFUSED/.test(v.stream.last_error ?? '');
      }, 'refused connections to show');
      syslog = await syslogReceiver(probe.port);
      const wanted = (
        await t.db.rows<{ id: string }>(
          `SELECT id FROM audit_logs WHERE workspace_id = $1 AND ts >= $2 AND action = 'Workspace variable created'`,
          [t.workspaceId, since],
        )
      ).map((r) => r.id);
      assert.equal(wanted.length, 30);
      await until(
        () => wanted.every((id) => syslog.messages.some((m) => m.includes(`id="${id}"`))),
        'syslog frames',
      );
      const frame = syslog.messages.find((m) => m.includes(wanted[0]!))!;
      assert.match(
        frame,
        /^<110>1 \d{4}-\d\d-\d\dT[\d:.]+Z \S+ osprey \d+ audit \[osprey@32473 id="[0-9a-f-]+"\] \{/,
      );
      assert.ok(
        syslog.messages.every((m) => !m.includes('Log stream created')),
        'the filter keeps other actions out',
      );
    } finally {
      if (syslog.server.listening) await new Promise((r) => syslog.server.close(r));
    }
  });

  it('pauses after repeated failures with the error shown, and resumes', async () => {
    hec.mode = 'fail';
    const created = await t.request({
      method: 'POST',
      url: '/v1/log-streams',
      payload: { name: 'flaky', logs: ['audit'], destination: { type: 'splunk_hec', url: hec.url } },
    });
    const id = (created.json() as { stream: { id: string } }).stream.id;
    await variables('flaky', 2);
    const s = streamer({ maxFailures: 3 });
    s.start();
    await until(async () => {
      const v = (await t.request({ method: 'GET', url: `/v1/log-streams/${id}` })).json() as {
        stream: { state: string; last_error: string | null };
      };
      return v.stream.state === 'paused' && /503/.test(v.stream.last_error ?? '');
    }, 'the pause');
    hec.mode = 'ok';
    const resumed = await t.request({ method: 'POST', url: `/v1/log-streams/${id}/resume`, payload: {} });
    assert.equal(resumed.statusCode, 200, resumed.body);
    await until(async () => {
      const v = (await t.request({ method: 'GET', url: `/v1/log-streams/${id}` })).json() as {
        stream: { state: string; delivered: number };
      };
      return v.stream.state === 'running' && v.stream.delivered >= 2;
    }, 'delivery after resume');
    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=50' });
    const actions = (audit.json() as { audit_logs: { action: string }[] }).audit_logs.map((e) => e.action);
    assert.ok(actions.includes('Log stream created') && actions.includes('Log stream resumed'));
  });

  it('refuses bad input by field, names taken, unknown streams, and callers without the permission', async () => {
    const bad = async (payload: Record<string, unknown>, field: string): Promise<void> => {
      const res = await t.request({ method: 'POST', url: '/v1/log-streams', payload });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal((res.json() as { details: { field: string }[] }).details[0]?.field, field, res.body);
    };
    const hecDest = { type: 'splunk_hec', url: hec.url };
    await bad({ name: 'x', logs: ['nope'], destination: hecDest }, 'logs');
    await bad({ name: 'x', logs: ['audit'], destination: { type: 'kafka' } }, 'destination.type');
    await bad(
      { name: 'x', logs: ['audit'], destination: { type: 'splunk_hec', url: 'ftp://x' } },
      'destination.url',
    );
    await bad(
      { name: 'x', logs: ['audit'], destination: { type: 'webhook', url: 'https://u:p@example.com/' } },
      'destination.url',
    );
    await bad({ name: 'x', logs: ['audit'], destination: { type: 'syslog' } }, 'destination.host');
    await bad(
      { name: 'x', logs: ['audit'], destination: { type: 'file', path: '../etc/passwd' } },
      'destination.path',
    );
    await bad({ name: 'x', logs: ['audit'], destination: hecDest, batch_size: 0 }, 'batch_size');
    await bad({ name: 'x', logs: ['audit'], destination: hecDest, start_time: 'yesterday' }, 'start_time');
    const taken = await t.request({
      method: 'POST',
      url: '/v1/log-streams',
      payload: { name: 'splunk', logs: ['audit'], destination: hecDest },
    });
    assert.equal(taken.statusCode, 409);
    assert.equal((taken.json() as { code: string }).code, 'LOG_STREAM_NAME_TAKEN');
    assert.equal((await t.request({ method: 'GET', url: '/v1/log-streams/nope' })).statusCode, 404);
    const contributor = await t.keyWithRole('contributor');
    assert.equal(
      (await t.request({ method: 'GET', url: '/v1/log-streams', as: contributor })).statusCode,
      200,
    );
    const denied = await t.request({
      method: 'POST',
      url: '/v1/log-streams',
      as: contributor,
      payload: { name: 'mine', logs: ['audit'], destination: hecDest },
    });
    assert.equal(denied.statusCode, 403);
    const viewer = await t.keyWithRole('viewer');
    assert.equal((await t.request({ method: 'GET', url: '/v1/log-streams', as: viewer })).statusCode, 403);
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

/**
 * `osprey start` as a real process, killed (SIGKILL) while it delivers a log stream, then started
 * again: every audit entry reaches the receiver, none is skipped, and repeats carry the same ids.
 */
describe('log streams across a killed process', () => {
  let db: TestDatabase;
  let dataDir: string;
  const received: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Slow acknowledgements keep a batch in flight when the process is killed.
      setTimeout(() => {
        for (const line of Buffer.concat(chunks).toString().split('\n').filter(Boolean))
          received.push((JSON.parse(line) as { event: { id: string } }).event.id);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"text":"Success","code":0}');
      }, 150);
    });
  });
  let hecUrl = '';
  const key = 'restart-client:restart-secret-0123456789abcdef';

  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'osprey-restart-'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    hecUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  function launch(): { child: ReturnType<typeof spawn>; listening: Promise<string> } {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        OSPREY_DATA_DIR: dataDir,
        PORT: '0',
        OSPREY_LOG_LEVEL: 'info',
        OSPREY_BOOTSTRAP_API_KEY: key,
        OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8',
        OSPREY_WORKER_LEASE_MS: '1500',
        OSPREY_RATE_LIMIT: '10000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line:\n${output}`)), 60_000);
      child.stdout!.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /Osprey is listening on (http:\/\/[\d.:]+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited early (${code}):\n${output}`)));
    });
    return { child, listening };
  }

  async function api(
    base: string,
    token: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<Response> {
    return fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  it('delivers every entry after a SIGKILL mid-stream and a restart', async () => {
    const first = launch();
    const base = await first.listening;
    const auth = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: key }),
    });
    const { access_token: token } = (await auth.json()) as { access_token: string };
    assert.equal((await api(base, token, 'POST', '/v1/secrets', { name: 'hec', value: 'tok' })).status, 201);
    const stream = await api(base, token, 'POST', '/v1/log-streams', {
      name: 'splunk',
      logs: ['audit'],
      destination: { type: 'splunk_hec', url: hecUrl },
      secret_name: 'hec',
      batch_size: 10,
      start_time: new Date(Date.now() - 60_000).toISOString(),
    });
    assert.equal(stream.status, 201, await stream.text());
    for (let i = 0; i < 150; i++) {
      const res = await api(base, token, 'POST', '/v1/variables', { name: `v_${i}`, value: i });
      assert.equal(res.status, 201);
    }
    // Kill while entries are still on their way.
    const deadline = Date.now() + 30_000;
    while (received.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(received.length >= 30, 'delivery started before the kill');
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const beforeRestart = new Set(received).size;

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    const ids = (await client.query<{ id: string }>('SELECT id FROM audit_logs ORDER BY seq')).rows.map(
      (r) => r.id,
    );
    assert.ok(beforeRestart < ids.length, 'the kill left entries to deliver');

    const second = launch();
    await second.listening;
    try {
      const end = Date.now() + 60_000;
      while (Date.now() < end && !ids.every((id) => received.includes(id)))
        await new Promise((r) => setTimeout(r, 100));
      const missing = ids.filter((id) => !received.includes(id));
      assert.deepEqual(missing, [], 'every audit entry arrived');
      // The checkpoint follows once the last batch is acknowledged (the receiver answers late).
      const lastSeq = Number(
        (
          await client.query<{ seq: string }>(
            'SELECT max(seq) AS seq FROM audit_logs WHERE id = ANY($1::uuid[])',
            [ids],
          )
        ).rows[0]!.seq,
      );
      let cursorSeq = 0;
      for (let i = 0; i < 200 && cursorSeq < lastSeq; i++) {
        const row = (
          await client.query<{ seq: string | null }>(`SELECT audit_cursor->>'seq' AS seq FROM log_streams`)
        ).rows[0]!;
        cursorSeq = Number(row.seq ?? 0);
        if (cursorSeq < lastSeq) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(cursorSeq >= lastSeq, `the checkpoint reached the newest entry (${cursorSeq} < ${lastSeq})`);
    } finally {
      await client.end();
      second.child.kill('SIGTERM');
      await new Promise((r) => second.child.once('exit', r));
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

/** `osprey start` as a real process on the embedded PostgreSQL: first start, bootstrap key, API, clean stop. */
describe('osprey start (embedded PostgreSQL, real process)', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  function launch(dataDir: string, env: Record<string, string> = {}, as?: { uid: number; gid: number }) {
    const childEnv: Record<string, string | undefined> = {
      ...process.env,
      OSPREY_DATA_DIR: dataDir,
      PORT: '0',
      OSPREY_LOG_LEVEL: 'info',
      ...env,
    };
    delete childEnv.DATABASE_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start'], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(as ?? {}),
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const listening = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line within 60 s:\n${output}`)), 60_000);
      child.stdout.on('data', () => {
        const m = /Osprey is listening on (http:\/\/[\d.:]+)/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('exit', (code) => reject(new Error(`exited early (${code}):\n${output}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, listening, exited, output: () => output };
  }

  it('bootstraps, serves the API, keeps secrets out of the log, and stops cleanly; a restart keeps the data', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'osprey-start-'));
    dirs.push(dataDir);
    const key = 'bootstrap-client:bootstrap-secret-0123456789';
    const first = launch(dataDir, { OSPREY_BOOTSTRAP_API_KEY: key });
    const base = await first.listening;
    const tokenRes = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: key }),
    });
    assert.equal(tokenRes.status, 200);
    const { access_token } = (await tokenRes.json()) as { access_token: string };
    const create = await fetch(`${base}/v1/secrets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
      body: JSON.stringify({ name: 'splunk_token', value: 'super-secret-value-42' }),
    });
    assert.equal(create.status, 201);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    // A second server on the same data directory refuses to start (it would share, then stop, the database).
    const rival = launch(dataDir);
    await assert.rejects(rival.listening, /another Osprey server \(pid \d+\) is running/);
    assert.equal((await fetch(`${base}/readyz`)).status, 200, 'the first server is unharmed');
    assert.equal(((await stat(join(dataDir, 'master.key'))).mode & 0o777).toString(8), '600');
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.equal(
      existsSync(join(dataDir, 'postgres', 'postmaster.pid')),
      false,
      'the embedded server stopped',
    );
    const log = first.output();
    assert.doesNotMatch(log, /super-secret-value-42/);
    assert.doesNotMatch(log, /bootstrap-secret-0123456789/);
    assert.doesNotMatch(log, new RegExp(access_token));

    const second = launch(dataDir);
    const base2 = await second.listening;
    const token2 = (await (
      await fetch(`${base2}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ apiKey: key }),
      })
    ).json()) as { access_token: string };
    const list = await fetch(`${base2}/v1/secrets`, {
      headers: { authorization: `Bearer ${token2.access_token}` },
    });
    const body = (await list.json()) as { secrets: { name: string }[] };
    assert.deepEqual(
      body.secrets.map((s) => s.name),
      ['splunk_token'],
    );
    assert.doesNotMatch(second.output(), /created the workspace/, 'bootstrap runs once');
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
  });

  it('runs as a normal (non-root) user too', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'osprey-user-'));
    dirs.push(dataDir);
    let as: { uid: number; gid: number } | undefined;
    if (process.getuid?.() === 0) {
      // As root, run the server as an unprivileged account, the way a normal user would.
      as = { uid: 65534, gid: 65534 };
      await chown(dataDir, as.uid, as.gid);
      await chmod(dataDir, 0o700);
    }
    const server = launch(
      join(dataDir, 'data'),
      { OSPREY_BOOTSTRAP_API_KEY: 'user-client:user-secret-0123456789' },
      as,
    );
    const base = await server.listening;
    const res = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ apiKey: 'user-client:user-secret-0123456789' }),
    });
    assert.equal(res.status, 200);
    if (as) assert.equal((await stat(join(dataDir, 'data', 'master.key'))).uid, as.uid);
    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 0);
  });

  it('keeps a waiting run across a full server restart and finishes it afterwards', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'osprey-restart-'));
    dirs.push(dataDir);
    const key = 'restart-client:restart-secret-0123456789';
    const call = async (base: string, method: string, path: string, body?: unknown): Promise<Response> => {
      const token = (await (
        await fetch(`${base}/v1/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ apiKey: key }),
        })
      ).json()) as { access_token: string };
      return fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token.access_token}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
    };
    const first = launch(dataDir, { OSPREY_BOOTSTRAP_API_KEY: key });
    const base = await first.listening;
    const yaml = `name: Patient
trigger: { type: on_demand }
steps:
  - { id: before, kind: transform, value: "{{ $.event.n }}" }
  - { id: pause, kind: wait, duration: 3s }
  - { id: done, kind: exit, output: { n: "{{ $.before }}" } }
`;
    const wf = (await (await call(base, 'POST', '/v1/workflows', { yaml })).json()) as {
      workflow: { id: string };
    };
    const run = (await (
      await call(base, 'POST', `/v1/workflows/${wf.workflow.id}/executions`, { inputs: { n: 7 } })
    ).json()) as { execution_id: string };
    const status = async (b: string): Promise<string> =>
      (
        (await (await call(b, 'GET', `/v1/executions/${run.execution_id}`)).json()) as {
          execution: { status: string };
        }
      ).execution.status;
    const deadline = Date.now() + 10_000;
    while ((await status(base)) !== 'waiting' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.equal(await status(base), 'waiting');
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = launch(dataDir);
    const base2 = await second.listening;
    const until = Date.now() + 20_000;
    while ((await status(base2)) !== 'succeeded' && Date.now() < until)
      await new Promise((r) => setTimeout(r, 200));
    const done = (await (await call(base2, 'GET', `/v1/executions/${run.execution_id}`)).json()) as {
      execution: { status: string; output: unknown; steps: { key: string }[] };
    };
    assert.equal(done.execution.status, 'succeeded');
    assert.deepEqual(done.execution.output, { n: 7 });
    assert.deepEqual(
      done.execution.steps.map((s) => s.key),
      ['before', 'pause', 'done'],
    );
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});

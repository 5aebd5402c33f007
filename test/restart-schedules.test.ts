import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const SCHEDULE = `name: Every second
trigger: { type: schedule, cron: "*/1 * * * * *" }
steps:
  - { id: done, kind: exit, output: { at: "{{ $.event.scheduled_at }}" } }
`;

const PATIENT = `name: Patient
trigger: { type: on_demand }
steps:
  - { id: before, kind: transform, value: "{{ $.event.n }}" }
  - { id: pause, kind: wait, duration: 3s }
  - { id: done, kind: exit, output: { n: "{{ $.before }}" } }
`;

interface Server {
  child: ChildProcess;
  /** Lets the warmed-up process start; resolves with its address once it listens. */
  start(): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

/**
 * Loaded before `src/cli/main.ts`: imports the server's modules, then waits for a line on stdin.
 * Booting through tsx takes seconds (and much longer on a loaded machine); warming the next server
 * while the current one runs keeps the test short and makes each downtime the test's choice.
 */
const GATE = `data:text/javascript,${encodeURIComponent(`
await import(${JSON.stringify(pathToFileURL(resolve('src/cli/commands/start.ts')).href)});
process.stdout.write('osprey-test: warm\\n');
await new Promise((r) => process.stdin.once('data', r));
process.stdin.destroy();
`)}`;

/**
 * `osprey start` (API, worker and scheduler in one process) as a real process on the test database,
 * stopped with SIGTERM, started again, killed with SIGKILL and started again: waiting runs finish,
 * the schedule keeps firing, no tick fires twice and the ticks missed while it was down fire once.
 */
describe('osprey start restarted with schedules and waits (real processes)', () => {
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  function launch(t: TestApp, dataDir: string): Server {
    const env: Record<string, string | undefined> = {
      ...process.env,
      DATABASE_URL: t.database.url,
      OSPREY_MASTER_KEY: t.masterKey.toString('base64'),
      OSPREY_DATA_DIR: dataDir,
      PORT: '0',
      OSPREY_LOG_LEVEL: 'info',
      OSPREY_WORKER_LEASE_MS: '1500',
    };
    delete env.OSPREY_BOOTSTRAP_API_KEY;
    delete env.OSPREY_SCHEDULER;
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', GATE, 'src/cli/main.ts', 'start'], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const line = (pattern: RegExp, what: string): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within 90 s:\n${output}`)), 90_000);
        const check = (): void => {
          const m = pattern.exec(output);
          if (m) {
            clearTimeout(timer);
            resolve(m);
          }
        };
        child.stdout.on('data', check);
        check();
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`exited early (${code}) before ${what}:\n${output}`));
        });
      });
    const warm = line(/osprey-test: warm/, 'warm-up');
    warm.catch(() => undefined);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    return {
      child,
      async start() {
        await warm;
        child.stdin.end('go\n');
        return (await line(/Osprey is listening on (http:\/\/[\d.:]+)/, 'listening line'))[1]!;
      },
      exited,
      output: () => output,
    };
  }

  async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  }

  it('loses no wait and fires no tick twice across a SIGTERM and a SIGKILL restart; missed ticks fire once', async () => {
    const t = await startTestApp();
    const dataDir = await mkdtemp(join(tmpdir(), 'osprey-restart-schedules-'));
    dirs.push(dataDir);
    try {
      const create = async (yaml: string): Promise<string> => {
        const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
        assert.equal(res.statusCode, 201, res.body);
        const id = (res.json() as { workflow: { id: string } }).workflow.id;
        const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
        assert.equal(pub.statusCode, 200, pub.body);
        return id;
      };
      let queued = 0;
      const queue = async (id: string): Promise<void> => {
        const res = await t.request({
          method: 'POST',
          url: `/v1/workflows/${id}/executions`,
          payload: { inputs: { n: queued++ } },
        });
        assert.equal(res.statusCode, 201, res.body);
      };
      const count = async (sql: string, params: unknown[]): Promise<number> =>
        (await t.db.one<{ n: number }>(`SELECT count(*)::int AS n FROM executions WHERE ${sql}`, params))!.n;
      const ticks = async (schedule: string): Promise<string[]> =>
        (
          await t.db.rows<{ at: string }>(
            `SELECT trigger->>'scheduled_at' AS at FROM executions WHERE workflow_id = $1 ORDER BY 1`,
            [schedule],
          )
        ).map((r) => r.at);

      const schedule = await create(SCHEDULE);
      const patient = await create(PATIENT);
      // The first server, and the two that replace it, warm up together.
      const servers: Server[] = [0, 1, 2].map(() => launch(t, dataDir));
      const logs = (): string => servers.map((s, i) => `--- server ${i + 1}:\n${s.output()}`).join('\n');
      await servers[0]!.start();

      const downtimes: { signal: string; lastBefore: number; pending: Date; restartedAt: number }[] = [];
      for (const [i, signal] of (['SIGTERM', 'SIGKILL'] as const).entries()) {
        const server = servers[i]!;
        // Runs parked in a wait across the stop, and two more queued (or mid-step) right before it.
        const firstNew = queued;
        for (let k = 0; k < 3; k++) await queue(patient);
        const since = new Date(downtimes.at(-1)?.restartedAt ?? 0);
        await until(
          `the waits to park and the schedule to fire (before ${signal})`,
          async () =>
            (await count(`workflow_id = $1 AND (input->>'n')::int >= $2 AND status = 'waiting'`, [
              patient,
              firstNew,
            ])) === 3 &&
            (await count(`workflow_id = $1 AND (trigger->>'scheduled_at')::timestamptz > $2`, [
              schedule,
              since,
            ])) >= 2,
          30_000,
        ).catch((error: Error) => {
          throw new Error(`${error.message}\n${logs()}`);
        });
        await queue(patient);
        await queue(patient);
        server.child.kill(signal);
        const stopped = await server.exited;
        if (signal === 'SIGTERM') assert.deepEqual(stopped, { code: 0, signal: null }, server.output());
        else assert.equal(stopped.signal, 'SIGKILL');

        const fired = await ticks(schedule);
        const pending = (await t.db.one<{ schedule_next_at: Date }>(
          'SELECT schedule_next_at FROM workflows WHERE id = $1',
          [schedule],
        ))!.schedule_next_at;
        const lastBefore = Date.parse(fired.at(-1)!);
        assert.ok(
          lastBefore < pending.getTime(),
          `the next tick ${pending.toISOString()} follows the last fired`,
        );
        // Down for a while: ticks are missed.
        await sleep(2000);
        const restartedAt = Date.now();
        assert.ok(restartedAt - pending.getTime() >= 1000, `at least two ticks were missed after ${signal}`);
        downtimes.push({ signal, lastBefore, pending, restartedAt });
        await servers[i + 1]!.start();
      }

      const last = servers[2]!;
      await until(
        'every wait to finish and the schedule to fire again',
        async () =>
          (await count(`workflow_id = $1 AND status = 'succeeded'`, [patient])) === queued &&
          (await count(`workflow_id = $1 AND (trigger->>'scheduled_at')::timestamptz > $2`, [
            schedule,
            new Date(downtimes.at(-1)!.restartedAt),
          ])) >= 3 &&
          (await count(`workflow_id = $1 AND status <> 'succeeded'`, [schedule])) === 0,
        30_000,
      ).catch((error: Error) => {
        throw new Error(`${error.message}\n${logs()}`);
      });
      last.child.kill('SIGTERM');
      assert.deepEqual(await last.exited, { code: 0, signal: null }, last.output());

      // Nothing lost: every patient run succeeded, each step recorded once (a wait is written twice).
      const runs = await t.db.rows<{ status: string; output: unknown }>(
        `SELECT status, output FROM executions WHERE workflow_id = $1 ORDER BY (input->>'n')::int`,
        [patient],
      );
      assert.deepEqual(
        runs.map((r) => [r.status, r.output]),
        [...Array(queued).keys()].map((n) => ['succeeded', { n }]),
      );
      const steps = await t.db.rows<{ key: string; n: number; max_writes: number }>(
        `SELECT s.key, count(*)::int AS n, max(s.writes)::int AS max_writes
           FROM step_runs s JOIN executions e ON e.id = s.execution_id
          WHERE e.workflow_id = $1 GROUP BY s.key ORDER BY s.key`,
        [patient],
      );
      assert.deepEqual(steps, [
        { key: 'before', n: queued, max_writes: 1 },
        { key: 'done', n: queued, max_writes: 1 },
        { key: 'pause', n: queued, max_writes: 2 },
      ]);

      // The schedule: no tick twice, and the ticks missed during each downtime fired once, as the
      // first missed tick (the one the stopped server had scheduled next).
      const all = await ticks(schedule);
      assert.equal(new Set(all).size, all.length, `no scheduled_at twice: ${all.join(', ')}`);
      for (const d of downtimes) {
        const during = all.filter((at) => Date.parse(at) > d.lastBefore && Date.parse(at) < d.restartedAt);
        assert.deepEqual(
          during,
          [d.pending.toISOString()],
          `the ticks missed after ${d.signal} fired once: ${all.join(', ')}`,
        );
      }
      assert.ok(
        all.filter((at) => Date.parse(at) > downtimes.at(-1)!.restartedAt).length >= 3,
        'the schedule kept firing after the last restart',
      );
      // Every scheduled run finished, but perhaps one the scheduler queued just as the server stopped.
      const unfinished = await t.db.rows<{ status: string }>(
        `SELECT status FROM executions WHERE workflow_id = $1 AND status <> 'succeeded'`,
        [schedule],
      );
      assert.ok(
        unfinished.length <= 1 && unfinished.every((r) => r.status === 'queued'),
        JSON.stringify(unfinished),
      );
    } finally {
      await t.close();
    }
  });
});

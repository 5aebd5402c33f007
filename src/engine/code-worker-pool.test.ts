import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { ActionError } from '../integrations/action-error.js';
import { CodeError, CodeSandbox, type CodeLimits } from './code-sandbox.js';
import { CodeWorkerPool, type CodeWorkerPoolOptions } from './code-worker-pool.js';
import { LazyCodeSandbox } from './lazy-code-sandbox.js';

const LIMITS = { memoryMb: 64, timeoutMs: 5000 };
const BUSY = 'console.log("spinning"); while (true) {}';

/** A stand-in worker that speaks the pool's protocol and misbehaves on request. */
const FAKE_WORKER = `
const { parentPort } = require('node:worker_threads');
parentPort.postMessage({ type: 'ready' });
parentPort.on('message', (job) => {
  if (job.source === 'hang') for (;;) {}
  if (job.source === 'crash') setImmediate(() => { throw new Error('worker boom'); });
  else if (job.source === 'exit') process.exit(3);
  else parentPort.postMessage({ type: 'result', id: job.id, output: job.source, logs: [] });
});`;
const fake = () => new Worker(FAKE_WORKER, { eval: true });

async function failure(promise: Promise<unknown>): Promise<CodeError> {
  const error = await promise.then(
    () => assert.fail('expected a CodeError'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CodeError, String(error));
  return error;
}

describe('code worker pool', () => {
  const pools: CodeWorkerPool[] = [];
  const newPool = (options: CodeWorkerPoolOptions = {}) => {
    const pool = new CodeWorkerPool(options);
    pools.push(pool);
    return pool;
  };
  let pool: CodeWorkerPool;
  let sandbox: CodeSandbox;

  before(async () => {
    sandbox = await CodeSandbox.create();
    pool = newPool({ size: 2 });
    // Start both workers, so timings below do not include a worker's start.
    const warm = await Promise.all([1, 2].map((i) => pool.run('return inputs', i, LIMITS)));
    assert.deepEqual(
      warm.map((r) => r.output),
      [1, 2],
    );
    assert.equal(pool.workers, 2);
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
  });

  it('answers exactly what the in-thread sandbox answers', async () => {
    const fast = { memoryMb: 32, timeoutMs: 200 };
    const cases: [string, unknown, CodeLimits][] = [
      ['return inputs', { a: [1, 'ü', null], d: new Date(0) }, LIMITS],
      ['console.log("hi", {a: 1}); return await Promise.resolve(42)', {}, LIMITS],
      ['return { f() {}, u: undefined, n: 1 }', {}, LIMITS],
      ['const x = 1', undefined, LIMITS],
      ['console.log("before"); await null; throw new Error("later")', {}, LIMITS],
      ['const a = 1;\n\nthrow new TypeError("bad severity");', {}, LIMITS],
      ['throw { a: 1 }', {}, LIMITS],
      ['const a = 1;\nconst b = ;', {}, LIMITS],
      ['await new Promise(() => {})', {}, LIMITS],
      ['console.log("x"); while (true) {}', {}, fast],
      ['for (;;) await null', {}, fast],
      ['const a = []; while (true) a.push("x".repeat(1e6))', {}, { memoryMb: 32, timeoutMs: 10_000 }],
      ['function f(n) { return f(n + 1) + 1 } return f(0)', {}, LIMITS],
      ['let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; return o', {}, LIMITS],
      ['return eval("[".repeat(1e5))', {}, LIMITS],
      ['return () => 1', {}, LIMITS],
      ['return "x".repeat(2 * 1024 * 1024)', {}, LIMITS],
      ['for (let i = 0; i < 500; i++) console.log(i); throw 1', {}, LIMITS],
      ['return await import("fs")', {}, LIMITS],
    ];
    const settle = (p: Promise<{ output: unknown; logs: string[] }>) =>
      p.then(
        (r) => ({ ok: r }),
        (e: unknown) => {
          assert.ok(e instanceof CodeError && e instanceof ActionError, String(e));
          return { error: { code: e.code, message: e.message, logs: e.logs } };
        },
      );
    for (const [source, inputs, limits] of cases) {
      const expected = await settle(sandbox.run(source, inputs, limits));
      const actual = await settle(pool.run(source, inputs, limits));
      assert.deepEqual(actual, expected, source);
    }
    // Inputs that are not JSON fail on the caller's side, as before.
    await assert.rejects(pool.run('return 1', { n: 1n }, LIMITS), TypeError);
    const before = await failure(pool.run('return 1', {}, LIMITS, AbortSignal.abort()));
    assert.equal(before.code, 'CODE_ABORTED');
    assert.equal(before.message, 'the code was stopped before it started');
  });

  it('keeps the main thread running while code busy-loops', async (t) => {
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const interval = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const started = performance.now();
    try {
      const error = await failure(pool.run(BUSY, {}, { memoryMb: 64, timeoutMs: 1000 }));
      assert.equal(error.code, 'CODE_TIMEOUT');
      assert.equal(error.message, 'the code ran longer than 1000 ms');
      assert.deepEqual(error.logs, ['spinning'], 'the sandbox stopped it itself, with its logs');
    } finally {
      clearInterval(interval);
    }
    const took = performance.now() - started;
    t.diagnostic(`${ticks} ticks of 10 ms during ${took.toFixed(0)} ms; longest gap ${maxGap.toFixed(0)} ms`);
    assert.ok(ticks >= 20, `only ${ticks} ticks`);
    assert.ok(maxGap < 500, `the event loop stalled for ${maxGap.toFixed(0)} ms`);
  });

  it('stops a busy loop promptly when the signal aborts', async (t) => {
    for (const abortGraceMs of [100, 0]) {
      const p = abortGraceMs === 100 ? pool : newPool({ size: 1, abortGraceMs });
      if (p !== pool) await p.run('return 1', {}, LIMITS); // started
      const controller = new AbortController();
      const running = p.run(BUSY, {}, { memoryMb: 64, timeoutMs: 10_000 }, controller.signal);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const aborted = performance.now();
      controller.abort();
      const error = await failure(running);
      const took = performance.now() - aborted;
      t.diagnostic(`abortGraceMs ${abortGraceMs}: answered ${took.toFixed(1)} ms after the abort`);
      assert.equal(error.code, 'CODE_ABORTED');
      assert.equal(error.message, 'the code was stopped: its step was cancelled or timed out');
      // With a grace the sandbox stops itself and keeps the logs; without one the worker is terminated.
      assert.deepEqual(error.logs, abortGraceMs ? ['spinning'] : []);
      assert.ok(took < 200, `took ${took.toFixed(0)} ms`);
      assert.deepEqual((await p.run('return 1 + 1', {}, LIMITS)).output, 2, 'the pool still works');
      assert.equal(p.workers, p.size);
    }
  });

  it('runs jobs side by side on two workers', async (t) => {
    const source = 'const start = Date.now(); while (Date.now() - start < 300) {} return [start, Date.now()]';
    const started = performance.now();
    const results = await Promise.all([0, 1].map(() => pool.run(source, {}, LIMITS)));
    const wall = performance.now() - started;
    const [a, b] = results.map((r) => r.output as [number, number]) as [[number, number], [number, number]];
    t.diagnostic(
      `two 300 ms loops took ${wall.toFixed(0)} ms; they started ${Math.abs(a[0] - b[0])} ms apart`,
    );
    // Timestamps from inside: the two loops overlapped. Back to back they would take 600 ms or more.
    assert.ok(Math.max(a[0], b[0]) < Math.min(a[1], b[1]), `no overlap: ${JSON.stringify([a, b])}`);
    assert.ok(wall < 600, `took ${wall.toFixed(0)} ms`);
  });

  it('queues jobs beyond its size in order', async () => {
    const single = newPool({ size: 1 });
    const source =
      'const start = Date.now(); while (Date.now() - start < 30) {} return [inputs, start, Date.now()]';
    const results = await Promise.all([0, 1, 2, 3].map((i) => single.run(source, i, LIMITS)));
    const spans = results.map((r) => r.output as [number, number, number]);
    assert.deepEqual(
      spans.map((s) => s[0]),
      [0, 1, 2, 3],
    );
    for (let i = 1; i < spans.length; i++)
      assert.ok(spans[i]![1] >= spans[i - 1]![2], `job ${i} started before job ${i - 1} ended`);
    assert.equal(single.workers, 1);

    // A queued job that is aborted answers at once and never runs.
    const controller = new AbortController();
    const busy = single.run(BUSY, {}, { memoryMb: 64, timeoutMs: 300 });
    const queued = single.run('return 1', {}, LIMITS, controller.signal);
    const next = single.run('return 2', {}, LIMITS);
    controller.abort();
    const error = await failure(queued);
    assert.equal(error.code, 'CODE_ABORTED');
    assert.equal(error.message, 'the code was stopped before it started');
    assert.equal((await failure(busy)).code, 'CODE_TIMEOUT');
    assert.equal((await next).output, 2);
  });

  it('terminates a worker that does not answer by the deadline, and replaces it', async () => {
    const p = newPool({ size: 1, graceMs: 100, spawn: fake });
    assert.equal((await p.run('ok', {}, LIMITS)).output, 'ok');
    const started = performance.now();
    const error = await failure(p.run('hang', {}, { memoryMb: 64, timeoutMs: 100 }));
    const took = performance.now() - started;
    assert.equal(error.code, 'CODE_TIMEOUT');
    assert.equal(error.message, 'the code ran longer than 100 ms');
    assert.ok(took >= 190 && took < 1000, `took ${took.toFixed(0)} ms`);
    assert.equal((await p.run('again', {}, LIMITS)).output, 'again');

    // An abort the worker does not heed: terminated after abortGraceMs.
    const controller = new AbortController();
    const hung = p.run('hang', {}, LIMITS, controller.signal);
    setTimeout(() => controller.abort(), 20);
    const aborted = await failure(hung);
    assert.equal(aborted.code, 'CODE_ABORTED');
    assert.deepEqual(aborted.logs, []);
    assert.equal((await p.run('still', {}, LIMITS)).output, 'still');
    assert.equal(p.workers, 1);
  });

  it('fails only the job of a worker that crashes', async () => {
    const p = newPool({ size: 2, spawn: fake });
    for (const [source, message] of [
      ['crash', /^the code sandbox failed: worker boom$/],
      ['exit', /^the code sandbox failed: its worker exited \(code 3\)$/],
    ] as const) {
      const [crashed, fine] = await Promise.allSettled([
        p.run(source, {}, LIMITS),
        p.run('fine', {}, LIMITS),
      ]);
      assert.equal(crashed.status, 'rejected');
      const error = crashed.reason as CodeError;
      assert.ok(error instanceof CodeError);
      assert.equal(error.code, 'CODE_ERROR');
      assert.match(error.message, message);
      assert.deepEqual(fine, { status: 'fulfilled', value: { output: 'fine', logs: [] } });
      assert.equal((await p.run('after', {}, LIMITS)).output, 'after');
      assert.equal(p.workers, 2);
    }
  });

  it('fails the job of a worker that cannot start, without retrying forever', async () => {
    const p = newPool({ spawn: () => new Worker('throw new Error("no sandbox here")', { eval: true }) });
    const error = await failure(p.run('return 1', {}, LIMITS));
    assert.equal(error.code, 'CODE_ERROR');
    assert.equal(error.message, 'the code sandbox failed: no sandbox here');
    assert.equal(p.workers, 0);

    const refused = newPool({
      spawn: () => {
        throw new Error('no threads');
      },
    });
    const errors = await Promise.all([1, 2, 3].map(() => failure(refused.run('return 1', {}, LIMITS))));
    for (const e of errors) assert.equal(e.message, 'the code sandbox failed: no threads');
  });

  it('closes: running and queued jobs fail, later ones too', async () => {
    const p = newPool({ size: 1 });
    const running = failure(p.run(BUSY, {}, LIMITS));
    const queued = failure(p.run('return 1', {}, LIMITS));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await p.close();
    for (const job of [running, queued, failure(p.run('return 1', {}, LIMITS))]) {
      const error = await job;
      assert.equal(error.code, 'CODE_ABORTED');
      assert.equal(error.message, 'the code was stopped: the code sandbox is closed');
    }
    assert.equal(p.workers, 0);
  });

  it('never keeps the process alive', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'osprey-code-worker-'));
    try {
      const script = join(dir, 'main.mjs');
      const module = new URL('./lazy-code-sandbox.ts', import.meta.url).href;
      await writeFile(
        script,
        `import { LazyCodeSandbox } from ${JSON.stringify(module)};
const { output } = await new LazyCodeSandbox().run('return 1 + 1', {}, { memoryMb: 64, timeoutMs: 1000 });
console.log(JSON.stringify(output));`,
      );
      const cwd = fileURLToPath(new URL('../..', import.meta.url));
      const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, script], {
        cwd,
        timeout: 30_000,
      });
      assert.equal(stdout.trim(), '2', 'it printed the output and exited without close()');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('costs little per job (diagnostic)', async (t) => {
    /** The fastest and the median of 40 runs (the fastest shows the cost best on a busy machine). */
    const time = async (run: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 40; i++) {
        const started = performance.now();
        await run();
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      return { min: times[0]!, median: times[20]! };
    };
    const inputs = { alert: { id: 'a-1', tags: ['x', 'y'], severity: 7 } };
    const source = 'return inputs.alert.severity * 2';
    const inThread = await time(() => sandbox.run(source, inputs, LIMITS));
    const inWorker = await time(() => pool.run(source, inputs, LIMITS));
    const lazy = new LazyCodeSandbox({ size: 1 });
    const started = performance.now();
    assert.equal((await lazy.run(source, inputs, LIMITS)).output, 14);
    const cold = performance.now() - started;
    await lazy.close();
    const show = (x: { min: number; median: number }) => `${x.min.toFixed(2)}/${x.median.toFixed(2)} ms`;
    t.diagnostic(
      `per job (fastest/median): in-thread ${show(inThread)}, in a worker ${show(inWorker)} ` +
        `(+${(inWorker.min - inThread.min).toFixed(2)}/${(inWorker.median - inThread.median).toFixed(2)} ms); ` +
        `first job, starting a worker: ${cold.toFixed(0)} ms`,
    );
  });
});

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CodeError, CodeSandbox, type CodeErrorCode } from './code-sandbox.js';

const LIMITS = { memoryMb: 64, timeoutMs: 5000 };

describe('code sandbox', () => {
  let sandbox: CodeSandbox;
  before(async () => {
    sandbox = await CodeSandbox.create();
  });

  const run = (source: string, inputs: unknown = {}, limits = LIMITS, signal?: AbortSignal) =>
    sandbox.run(source, inputs, limits, signal);

  /** Asserts the run fails with `code`, a message matching `message`, and the host is still fine. */
  async function fails(
    code: CodeErrorCode,
    message: RegExp,
    source: string,
    limits = LIMITS,
    signal?: AbortSignal,
  ) {
    const error = await run(source, {}, limits, signal).then(
      () => assert.fail(`expected ${code}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof CodeError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.deepEqual((await run('return 1 + 1')).output, 2, 'the next run still works');
    return error;
  }

  it('returns values of every JSON type', async () => {
    for (const value of [
      null,
      true,
      false,
      0,
      -1.5,
      'text',
      'ünï €',
      [],
      [1, 'a', null],
      {},
      { a: { b: [1] } },
    ])
      assert.deepEqual((await run(`return ${JSON.stringify(value)}`)).output, value);
    assert.equal((await run('const x = 1')).output, null, 'no return is null');
    assert.equal((await run('return undefined')).output, null);
    assert.deepEqual((await run('return { f() {}, u: undefined, n: 1 }')).output, { n: 1 });
  });

  it('reads a copy of its inputs', async () => {
    const inputs = { alert: { severity: 7, tags: ['a', 'b'] } };
    const { output } = await run(
      'inputs.alert.tags.push("c"); return [inputs.alert.severity * 2, globalThis.inputs.alert.tags]',
      inputs,
    );
    assert.deepEqual(output, [14, ['a', 'b', 'c']]);
    assert.deepEqual(inputs.alert.tags, ['a', 'b'], 'the host object is untouched');
    assert.equal((await sandbox.run('return inputs', undefined, LIMITS)).output, null);
  });

  it('captures console output, within bounds', async () => {
    const { logs, output } = await run(
      'console.log("hi", 1, {a: [2]}, null); console.error(new TypeError("t")); return 3',
    );
    assert.deepEqual(logs, ['hi 1 {"a":[2]} null', 'TypeError: t']);
    assert.equal(output, 3);
    const many = await run('for (let i = 0; i < 500; i++) console.log(i)');
    assert.equal(many.logs.length, 101);
    assert.equal(many.logs.at(-1), '[more logs dropped]');
    const big = await run('for (let i = 0; i < 10; i++) console.log("x".repeat(20000))');
    assert.equal(big.logs.length, 4);
  });

  it('answers awaited values', async () => {
    assert.equal((await run('return await Promise.resolve(42)')).output, 42);
    const { output } = await run('const xs = await Promise.all([1, 2].map(async (x) => x * 2)); return xs');
    assert.deepEqual(output, [2, 4]);
  });

  it('reports what the code threw, with the line', async () => {
    const e = await fails(
      'CODE_ERROR',
      /^TypeError: bad severity \(line 3\)$/,
      'const a = 1;\n\nthrow new TypeError("bad severity");',
    );
    assert.deepEqual(e.logs, []);
    const logged = await fails(
      'CODE_ERROR',
      /^Error: later/,
      'console.log("before"); await null; throw new Error("later")',
    );
    assert.deepEqual(logged.logs, ['before']);
    await fails('CODE_ERROR', /^threw "boom"$/, 'throw "boom"');
    await fails('CODE_ERROR', /^threw \{"a":1\}$/, 'throw { a: 1 }');
    await fails('CODE_ERROR', /^ReferenceError: 'nope' is not defined \(line 1\)$/, 'return nope.x');
    await fails('CODE_ERROR', /never settles/, 'await new Promise(() => {})');
  });

  it('reports a syntax error', async () => {
    await fails('CODE_SYNTAX_ERROR', /^SyntaxError: .* \(line 2\)$/, 'const a = 1;\nconst b = ;');
    await fails('CODE_SYNTAX_ERROR', /^SyntaxError/, 'return {');
    await fails('CODE_ERROR', /^SyntaxError/, 'return JSON.parse("{")'); // thrown at run time
  });

  it('stops an endless loop at the deadline', async () => {
    const started = Date.now();
    await fails('CODE_TIMEOUT', /^the code ran longer than 200 ms$/, 'while (true) {}', {
      memoryMb: 64,
      timeoutMs: 200,
    });
    await fails('CODE_TIMEOUT', /200 ms/, 'await null; for (;;) {}', { memoryMb: 64, timeoutMs: 200 });
    await fails('CODE_TIMEOUT', /200 ms/, 'for (;;) await null', { memoryMb: 64, timeoutMs: 200 });
    await fails('CODE_TIMEOUT', /200 ms/, 'try { while (true) {} } catch { return 1 }', {
      memoryMb: 64,
      timeoutMs: 200,
    });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  });

  it('stops when the signal aborts', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await fails('CODE_ABORTED', /stopped/, 'for (;;) await null', LIMITS, controller.signal);
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    await fails('CODE_ABORTED', /before it started/, 'return 1', LIMITS, AbortSignal.abort());
  });

  it('stops code that uses too much memory', async () => {
    // A generous deadline: each bomb must end on the memory cap, well before it.
    const limits = { memoryMb: 32, timeoutMs: 10_000 };
    await fails(
      'CODE_MEMORY_LIMIT',
      /^the code used more than 32 MiB$/,
      'const a = []; while (true) a.push("x".repeat(1e6))',
      limits,
    );
    await fails('CODE_MEMORY_LIMIT', /32 MiB/, 'let s = "x"; while (true) s = s.repeat(2)', limits);
    await fails(
      'CODE_MEMORY_LIMIT',
      /32 MiB/,
      'let s = "xy"; while (true) s = JSON.parse(JSON.stringify(s + s))',
      limits,
    );
    await fails('CODE_MEMORY_LIMIT', /32 MiB/, 'const a = []; while (true) a.push({ n: a.length })', limits);
    await fails(
      'CODE_MEMORY_LIMIT',
      /32 MiB/,
      'const a = []; while (true) a.push(new Uint8Array(1e6))',
      limits,
    );
    await fails('CODE_MEMORY_LIMIT', /32 MiB/, 'return new ArrayBuffer(1e9)', limits);
    // `s += s` builds a rope, so it hits QuickJS's 2^30 string length before any memory limit.
    await fails('CODE_ERROR', /^InternalError: string too long/, 'let s = "x"; while (true) s += s', limits);
    const caught = await run(
      'let s = "x"; try { while (true) s = s.repeat(2) } catch (e) { s = null; return String(e) }',
      {},
      limits,
    );
    assert.equal(caught.output, 'InternalError: out of memory', 'the code may catch it and go on');
  });

  it('stops deep recursion', async () => {
    await fails('CODE_STACK_OVERFLOW', /stack overflow/, 'function f(n) { return f(n + 1) + 1 } return f(0)');
    await fails(
      'CODE_STACK_OVERFLOW',
      /stack overflow/,
      'let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; return o',
    );
    await fails('CODE_STACK_OVERFLOW', /stack overflow/, 'return eval("[".repeat(1e5))');
    const depth = await run('let d = 0; function f() { d++; f() } try { f() } catch { return d }');
    assert.ok((depth.output as number) > 1000, `recursion depth ${String(depth.output)}`);
  });

  it('has no host access', async () => {
    const { output } = await run(
      'return [typeof require, typeof process, typeof fetch, typeof XMLHttpRequest, typeof setTimeout, typeof std, typeof os]',
    );
    assert.deepEqual(output, Array(7).fill('undefined'));
    await fails('CODE_ERROR', /fs/, 'return await import("fs")');
    await fails('CODE_ERROR', /fs/, 'return await import("node:fs")');
  });

  it('refuses output that is not JSON', async () => {
    await fails('CODE_OUTPUT_INVALID', /not JSON: a function is not JSON/, 'return () => 1');
    await fails('CODE_OUTPUT_INVALID', /not JSON/, 'return Symbol("s")');
    await fails('CODE_OUTPUT_INVALID', /not JSON: .*BigInt/i, 'return { n: 10n }');
    await fails('CODE_OUTPUT_INVALID', /not JSON: .*circular/i, 'const a = {}; a.a = a; return a');
    await fails('CODE_OUTPUT_INVALID', /larger than 1 MiB/, 'return "x".repeat(2 * 1024 * 1024)');
    await fails('CODE_OUTPUT_INVALID', /larger than 1 MiB/, 'return "é".repeat(600 * 1024)'); // in UTF-8
    assert.equal(
      (await run('JSON.stringify = () => "{"; return 1')).output,
      1,
      'the serializer is the original',
    );
  });

  it('isolates runs from each other', async () => {
    await run('globalThis.leak = 1; Object.prototype.polluted = true');
    assert.deepEqual((await run('return [typeof leak, ({}).polluted ?? null]')).output, ['undefined', null]);
  });

  it('runs side by side', async () => {
    const source = 'let s = 0; for (let j = 0; j < 100; j++) { await null; s += j } return s + inputs';
    const results = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((i) => run(source, i)));
    assert.deepEqual(
      results.map((r) => r.output),
      [4950, 4951, 4952, 4953, 4954, 4955, 4956, 4957],
    );
  });

  it('runs many times without leaking', async (t) => {
    const times: number[] = [];
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      const { output } = await run('return inputs.i * 2', { i });
      times.push(performance.now() - started);
      assert.equal(output, i * 2);
    }
    times.sort((a, b) => a - b);
    const growth = (process.memoryUsage().rss - rss) / 1024 / 1024;
    t.diagnostic(
      `median ${times[25]!.toFixed(2)} ms, max ${times[49]!.toFixed(2)} ms per run; rss +${growth.toFixed(1)} MiB`,
    );
  });
});

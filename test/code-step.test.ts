import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { eventually } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface StepRun {
  key: string;
  step_id: string;
  kind: string;
  status: string;
  input: unknown;
  output: unknown;
  error: { code: string; message: string } | null;
}

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: StepRun[];
}

describe('code steps: JavaScript in a sandbox', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { leaseMs: 5000, pollMs: 50 });
  });
  after(() => t.close());

  async function workflow(yaml: string): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const p = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish` });
    assert.equal(p.statusCode, 200, p.body);
    return id;
  }
  async function run(id: string, inputs: unknown = {}): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function get(id: string): Promise<Execution> {
    const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }
  async function runOnce(yaml: string, inputs: unknown = {}): Promise<Execution> {
    const e = await run(await workflow(yaml), inputs);
    await worker.runUntilIdle();
    return get(e);
  }
  function step(x: Execution, key: string): StepRun {
    const s = x.steps.find((r) => r.key === key);
    assert.ok(s, `step ${key} in ${JSON.stringify(x.steps.map((r) => r.key))}`);
    return s;
  }
  /** A single code step with `source` (indented as a block scalar) and extra fields. */
  function codeOnly(name: string, source: string, extra = ''): string {
    return `name: ${name}
trigger: { type: on_demand }
steps:
  - id: code
    kind: code
${extra}    source: |
${source
  .trim()
  .split('\n')
  .map((l) => `      ${l}`)
  .join('\n')}
`;
  }
  function failedWith(x: Execution, code: string): StepRun {
    assert.equal(x.status, 'failed', JSON.stringify(x));
    assert.equal(x.error?.code, code, JSON.stringify(x.error));
    assert.equal(x.error?.step_id, 'code');
    const s = step(x, 'code');
    assert.equal(s.status, 'failed');
    assert.equal(s.error?.code, code);
    return s;
  }

  it('transforms data between steps: inputs in, return value out, console captured in the record', async () => {
    const x = await runOnce(
      `name: Rank alerts
trigger: { type: on_demand }
steps:
  - id: fetch
    kind: transform
    value:
      alerts:
        - { id: a1, severity: 3, host: web-1 }
        - { id: a2, severity: 9, host: db-1 }
        - { id: a3, severity: 7, host: web-1 }
  - id: rank
    kind: code
    inputs: { alerts: "{{ $.fetch.alerts }}", threshold: "{{ $.event.threshold }}" }
    source: |
      const hot = inputs.alerts.filter((a) => a.severity >= inputs.threshold);
      hot.sort((a, b) => b.severity - a.severity);
      console.log('kept', hot.length, 'of', inputs.alerts.length);
      console.warn({ hosts: [...new Set(hot.map((a) => a.host))] });
      // "{{ not an expression }}": the source is JavaScript, never rendered
      const note = "{{ literal }}";
      return { ids: hot.map((a) => a.id), top: hot[0]?.host ?? null, note };
  - id: report
    kind: exit
    output: { first: "{{ $.rank.ids[0] }}", count: "{{ $count($.rank.ids) }}", top: "{{ $.rank.top }}", note: "{{ $.rank.note }}" }
`,
      { threshold: 5 },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { first: 'a2', count: 2, top: 'db-1', note: '{{ literal }}' });
    const rank = step(x, 'rank');
    assert.equal(rank.kind, 'code');
    assert.equal(rank.status, 'succeeded');
    assert.deepEqual(rank.output, { ids: ['a2', 'a3'], top: 'db-1', note: '{{ literal }}' });
    assert.deepEqual(rank.input, {
      inputs: {
        alerts: [
          { id: 'a1', severity: 3, host: 'web-1' },
          { id: 'a2', severity: 9, host: 'db-1' },
          { id: 'a3', severity: 7, host: 'web-1' },
        ],
        threshold: 5,
      },
      console: ['kept 2 of 3', '{"hosts":["db-1","web-1"]}'],
    });
  });

  it('answers null for no return value, and may await', async () => {
    const x = await runOnce(`name: Awaits
trigger: { type: on_demand }
steps:
  - { id: nothing, kind: code, source: "const x = 1;" }
  - { id: later, kind: code, source: "return await Promise.resolve(inputs.n * 2)", inputs: { n: 21 } }
  - { id: done, kind: exit, output: { nothing: "{{ $.nothing }}", later: "{{ $.later }}" } }
`);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(step(x, 'nothing').output, null);
    assert.equal(step(x, 'later').output, 42);
    assert.deepEqual(step(x, 'nothing').input, { inputs: {}, console: [] });
  });

  it('masks secrets passed in, in the recorded inputs, console and output', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'code_token', value: 'ctok-91b2e7f0' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const e = await run(
      await workflow(`name: Secret code
trigger: { type: on_demand }
steps:
  - id: code
    kind: code
    inputs: { token: "{{ $secrets.code_token }}" }
    source: |
      console.log('using', inputs.token);
      return { header: 'Bearer ' + inputs.token, length: inputs.token.length };
`),
    );
    await worker.runUntilIdle();
    const raw = await t.request({ method: 'GET', url: `/v1/executions/${e}` });
    assert.doesNotMatch(raw.body, /ctok-91b2e7f0/);
    const x = (raw.json() as { execution: Execution }).execution;
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    const code = step(x, 'code');
    assert.deepEqual(code.output, { header: 'Bearer [secret]', length: 13 }, 'the code saw the real value');
    assert.deepEqual(code.input, { inputs: { token: '[secret]' }, console: ['using [secret]'] });
  });

  it('stops an endless loop at its timeout (CODE_TIMEOUT) and the worker goes on with later runs', async () => {
    const loop = await workflow(codeOnly('Endless', 'while (true) {}', '    timeout: 500ms\n'));
    const fine = await workflow(
      codeOnly('Fine', 'return inputs.n + 1', '    inputs: { n: "{{ $.event.n }}" }\n'),
    );
    await worker.start();
    try {
      const a = await run(loop);
      const b = await run(fine, { n: 41 });
      const ended = await eventually(
        async () => ['failed', 'succeeded'].includes((await get(a)).status),
        15_000,
        50,
      );
      assert.ok(ended, 'the endless run ended');
      const x = await get(a);
      const s = failedWith(x, 'CODE_TIMEOUT');
      assert.match(s.error!.message, /500 ms/);
      assert.ok(await eventually(async () => (await get(b)).status === 'succeeded', 10_000, 50));
      assert.equal((await get(b)).output, null, 'no exit step: no output');
      assert.equal(step(await get(b), 'code').output, 42);
      // And a run started after the timeout still runs.
      const c = await run(fine, { n: 1 });
      assert.ok(await eventually(async () => (await get(c)).status === 'succeeded', 10_000, 50));
      assert.equal(step(await get(c), 'code').output, 2);
    } finally {
      await worker.stop();
    }
  });

  it('fails CODE_MEMORY_LIMIT when the code needs more than memory_mb', async () => {
    const x = await runOnce(
      codeOnly(
        'Memory bomb',
        `const keep = [];
while (true) keep.push(new Array(100000).fill(Math.random()));`,
        '    memory_mb: 16\n',
      ),
    );
    const s = failedWith(x, 'CODE_MEMORY_LIMIT');
    assert.match(s.error!.message, /16 MiB/);
    const y = await runOnce(
      codeOnly('After the bomb', 'return [1, 2, 3].map((n) => n * n)', '    memory_mb: 16\n'),
    );
    assert.equal(y.status, 'succeeded', JSON.stringify(y.error));
    assert.deepEqual(step(y, 'code').output, [1, 4, 9]);
  });

  it('has no host access: require, process, fetch and import fail with CODE_ERROR naming them', async () => {
    for (const [source, name] of [
      ["const fs = require('fs'); return fs.readFileSync('/etc/passwd', 'utf8');", 'require'],
      ['return process.env;', 'process'],
      ["return await fetch('http://169.254.169.254/latest/meta-data/');", 'fetch'],
      ['setTimeout(() => {}, 10); return 1;', 'setTimeout'],
    ] as const) {
      const x = await runOnce(codeOnly(`No ${name}`, source));
      const s = failedWith(x, 'CODE_ERROR');
      assert.match(s.error!.message, new RegExp(`ReferenceError.*${name}.*not defined`), s.error!.message);
    }
    const imp = await runOnce(codeOnly('No import', "const m = await import('fs'); return Object.keys(m);"));
    assert.equal(failedWith(imp, 'CODE_ERROR').status, 'failed');
    const globals = await runOnce(
      codeOnly('Globals', 'return [typeof require, typeof process, typeof fetch, typeof XMLHttpRequest]'),
    );
    assert.deepEqual(step(globals, 'code').output, ['undefined', 'undefined', 'undefined', 'undefined']);
  });

  it('records the error as the step output with on_error: continue', async () => {
    const x = await runOnce(`name: Throws
trigger: { type: on_demand }
steps:
  - id: boom
    kind: code
    on_error: continue
    source: |
      console.log('before the throw');
      throw new Error('no verdict for ' + inputs.ip);
    inputs: { ip: 192.0.2.8 }
  - { id: after, kind: exit, output: { code: "{{ $.boom.error.code }}", message: "{{ $.boom.error.message }}" } }
`);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, {
      code: 'CODE_ERROR',
      message: 'Error: no verdict for 192.0.2.8 (line 2)',
    });
    const boom = step(x, 'boom');
    assert.equal(boom.status, 'failed');
    assert.deepEqual(boom.output, { error: boom.error });
    assert.deepEqual(boom.error, { code: 'CODE_ERROR', message: 'Error: no verdict for 192.0.2.8 (line 2)' });
  });

  it('keeps what a failing code step logged in its recorded input', async () => {
    const x = await runOnce(`name: Logs then throws
trigger: { type: on_demand }
steps:
  - id: code
    kind: code
    inputs: { n: 3 }
    source: |
      console.log('step', inputs.n);
      throw new TypeError('bad shape');
`);
    const s = failedWith(x, 'CODE_ERROR');
    assert.deepEqual(s.input, { inputs: { n: 3 }, console: ['step 3'] });
  });

  it('fails CODE_SYNTAX_ERROR for source that does not parse, without running any of it', async () => {
    const x = await runOnce(
      codeOnly(
        'Broken',
        `console.log('never');
const x = ;
return x;`,
      ),
    );
    const s = failedWith(x, 'CODE_SYNTAX_ERROR');
    assert.match(s.error!.message, /SyntaxError/);
    assert.match(s.error!.message, /line 2/, s.error!.message);
  });

  it('fails CODE_OUTPUT_INVALID for a result that is not JSON', async () => {
    const x = await runOnce(codeOnly('Not JSON', 'const a = {}; a.self = a; return a;'));
    failedWith(x, 'CODE_OUTPUT_INVALID');
  });

  it('refuses memory_mb out of range when the workflow is saved', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: { yaml: codeOnly('Greedy', 'return 1', '    memory_mb: 4096\n') },
    });
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json() as { code: string; details: { path: string }[] };
    assert.equal(body.code, 'WORKFLOW_INVALID');
    assert.ok(
      body.details.some((d) => d.path === 'steps[0].memory_mb'),
      res.body,
    );
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import { assertError, auditLog } from './helpers/api.js';

interface SnippetView {
  id: string;
  name: string;
  title: string;
  description: string;
  language: string;
  runnable: boolean;
  code?: string;
  created_by: string;
}

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: { key: string; status: string; error: { code: string; message: string } | null }[];
}

/** Code snippets: CRUD, and code steps that run them (`snippets: [name]`) before their own source. */
describe('code snippets', () => {
  let t: TestApp;
  let worker: Worker;

  before(async () => {
    t = await startTestApp();
    worker = testWorker(t, { pollMs: 20 });
  });
  after(() => t.close());

  async function snippet(payload: Record<string, unknown>, as?: KeyPair): Promise<SnippetView> {
    const res = await t.request({ method: 'POST', url: '/v1/code-snippets', payload, ...(as && { as }) });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { snippet: SnippetView }).snippet;
  }
  /** A workflow whose one code step has these extra lines (indented four spaces), published. */
  async function workflow(name: string, lines: string[], as?: KeyPair): Promise<string> {
    const yaml = [
      `name: ${name}`,
      'trigger: { type: on_demand }',
      'steps:',
      '  - id: code',
      '    kind: code',
      '    inputs: { n: "{{ $.event.n }}" }',
      ...lines.map((l) => `    ${l}`),
    ].join('\n');
    const res = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: { yaml },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, ...(as && { as }) });
    assert.equal(pub.statusCode, 200, pub.body);
    return id;
  }
  async function run(id: string, n = 2, as?: KeyPair): Promise<Execution> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs: { n } },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    await worker.runUntilIdle();
    const got = await t.request({
      method: 'GET',
      url: `/v1/executions/${(res.json() as { execution_id: string }).execution_id}`,
      ...(as && { as }),
    });
    return (got.json() as { execution: Execution }).execution;
  }
  function failedNotRunnable(x: Execution, name: RegExp): void {
    assert.equal(x.status, 'failed', JSON.stringify(x));
    assert.equal(x.error?.code, 'CODE_SNIPPET_NOT_RUNNABLE', JSON.stringify(x.error));
    assert.equal(x.error?.step_id, 'code');
    assert.match(x.error.message, name);
    const step = x.steps.find((s) => s.key === 'code');
    assert.equal(step?.status, 'failed');
    assert.equal(step?.error?.code, 'CODE_SNIPPET_NOT_RUNNABLE');
  }

  it('creates (name from the title), reads by id or name, lists without code, updates, deletes, audited', async () => {
    const made = await snippet({ title: 'Score IOC', code: 'function score(n) { return n * 10; }' });
    assert.equal(made.name, 'score_ioc');
    assert.equal(made.language, 'javascript');
    assert.equal(made.runnable, true);
    assert.equal(made.code, 'function score(n) { return n * 10; }');
    assert.equal(made.created_by, 'owner@example.com');
    const py = await snippet({
      title: 'Legacy',
      name: 'legacy-py',
      language: 'python',
      code: 'def f(): pass',
    });
    assert.deepEqual([py.name, py.language, py.runnable], ['legacy-py', 'python', false]);
    for (const ref of [made.id, 'score_ioc']) {
      const got = await t.request({ method: 'GET', url: `/v1/code-snippets/${ref}` });
      assert.equal(got.statusCode, 200, got.body);
      assert.equal((got.json() as { snippet: SnippetView }).snippet.code, made.code);
    }
    const listed = (await t.request({ method: 'GET', url: '/v1/code-snippets' })).json() as {
      snippets: SnippetView[];
    };
    assert.deepEqual(
      listed.snippets.map((s) => s.name),
      ['legacy-py', 'score_ioc'],
    );
    assert.ok(
      listed.snippets.every((s) => s.code === undefined),
      'list items carry no code',
    );
    const searched = (await t.request({ method: 'GET', url: '/v1/code-snippets?q=score' })).json() as {
      snippets: SnippetView[];
    };
    assert.deepEqual(
      searched.snippets.map((s) => s.name),
      ['score_ioc'],
    );
    const paged = (await t.request({ method: 'GET', url: '/v1/code-snippets?page_size=1' })).json() as {
      snippets: SnippetView[];
      next_page_token?: string;
    };
    assert.equal(paged.snippets.length, 1);
    assert.ok(paged.next_page_token);

    const patched = await t.request({
      method: 'PATCH',
      url: '/v1/code-snippets/score_ioc',
      payload: { name: 'score', description: 'scores an IOC', code: 'function score(n) { return n * 100; }' },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const p = (patched.json() as { snippet: SnippetView }).snippet;
    assert.deepEqual([p.name, p.title, p.description], ['score', 'Score IOC', 'scores an IOC']);
    assertError(
      await t.request({ method: 'GET', url: '/v1/code-snippets/score_ioc' }),
      404,
      'CODE_SNIPPET_NOT_FOUND',
    );
    assert.equal((await t.request({ method: 'DELETE', url: '/v1/code-snippets/legacy-py' })).statusCode, 204);
    assertError(
      await t.request({ method: 'GET', url: `/v1/code-snippets/${py.id}` }),
      404,
      'CODE_SNIPPET_NOT_FOUND',
    );

    const entries = await auditLog(t);
    const of = (id: string) =>
      entries
        .filter((e) => e.resource_id === id)
        .map((e) => e.action)
        .reverse();
    assert.deepEqual(of(made.id), ['Code snippet created', 'Code snippet updated']);
    assert.deepEqual(of(py.id), ['Code snippet created', 'Code snippet deleted']);
    const created = entries.find((e) => e.resource_id === py.id && e.action === 'Code snippet created');
    assert.deepEqual(created?.extra_data, { name: 'legacy-py', language: 'python' });
    const updated = entries.find((e) => e.resource_id === made.id && e.action === 'Code snippet updated');
    assert.deepEqual(updated?.extra_data.changed_fields, ['name', 'description', 'code']);
  });

  it('refuses bad input by field, a taken name, unknown snippets, and writes below creator', async () => {
    const post = (payload: Record<string, unknown>, as?: KeyPair) =>
      t.request({ method: 'POST', url: '/v1/code-snippets', payload, ...(as && { as }) });
    assertError(await post({ code: 'x' }), 400, 'INVALID_ARGUMENT', 'title');
    assertError(await post({ title: 'No code' }), 400, 'INVALID_ARGUMENT', 'code');
    assertError(await post({ title: 'x', code: '' }), 400, 'INVALID_ARGUMENT', 'code');
    assertError(await post({ title: 'x', code: 'x', name: 'Not A Slug' }), 400, 'INVALID_ARGUMENT', 'name', {
      messageNamesField: false,
    });
    assertError(await post({ title: '!!!', code: 'x' }), 400, 'INVALID_ARGUMENT', 'title', {
      messageNamesField: false,
    });
    assertError(await post({ title: 'x', code: 'x', language: 'ruby' }), 400, 'INVALID_ARGUMENT', 'language');
    assertError(await post({ title: 'x', code: 'x', owner: 'me' }), 400, 'UNKNOWN_FIELD', 'owner');
    await snippet({ title: 'Taken', code: '1' });
    await snippet({ title: 'Free', code: '1' });
    assertError(await post({ title: 'taken', code: '2' }), 409, 'CODE_SNIPPET_NAME_TAKEN', 'name', {
      messageNamesField: false,
    });
    assertError(
      await t.request({ method: 'PATCH', url: '/v1/code-snippets/free', payload: { name: 'taken' } }),
      409,
      'CODE_SNIPPET_NAME_TAKEN',
      'name',
      { messageNamesField: false },
    );
    assertError(
      await t.request({ method: 'PATCH', url: '/v1/code-snippets/free', payload: { name: 'Bad Name' } }),
      400,
      'INVALID_ARGUMENT',
      'name',
      { messageNamesField: false },
    );
    assertError(
      await t.request({ method: 'PATCH', url: '/v1/code-snippets/free', payload: {} }),
      400,
      'INVALID_ARGUMENT',
    );
    const missing = randomUUID();
    for (const method of ['GET', 'DELETE'] as const)
      assertError(
        await t.request({ method, url: `/v1/code-snippets/${missing}` }),
        404,
        'CODE_SNIPPET_NOT_FOUND',
      );
    assertError(
      await t.request({ method: 'PATCH', url: '/v1/code-snippets/nope', payload: { code: 'x' } }),
      404,
      'CODE_SNIPPET_NOT_FOUND',
    );

    for (const role of ['viewer', 'operator']) {
      const k = await t.keyWithRole(role);
      const read = await t.request({ method: 'GET', url: '/v1/code-snippets/taken', as: k });
      assert.equal(read.statusCode, 200, read.body);
      assertError(await post({ title: `by ${role}`, code: '1' }, k), 403, 'PERMISSION_DENIED');
      assertError(
        await t.request({ method: 'PATCH', url: '/v1/code-snippets/taken', payload: { code: '2' }, as: k }),
        403,
        'PERMISSION_DENIED',
      );
      assertError(
        await t.request({ method: 'DELETE', url: '/v1/code-snippets/taken', as: k }),
        403,
        'PERMISSION_DENIED',
      );
    }
    const creator = await t.keyWithRole('creator');
    assert.equal(
      (await snippet({ title: 'By creator', code: '1' }, creator)).created_by,
      'owner@example.com',
    );
  });

  it('code steps run their snippets in order before the source, which is optional', async () => {
    await snippet({ title: 'Double', code: 'const double = (x) => x * 2;' });
    await snippet({ title: 'Quad', code: 'const quad = (x) => double(double(x));' });
    const both = await workflow('Uses snippets', [
      'snippets: [double, quad]',
      'source: |',
      '  return { quad: quad(inputs.n), double: double(inputs.n) };',
    ]);
    const x = await run(both, 3);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    // An exit-less workflow answers null; read the step's output instead.
    const step = await t.request({ method: 'GET', url: `/v1/executions/${x.id}/steps/code/output` });
    assert.deepEqual((step.json() as { output: unknown }).output, { quad: 12, double: 6 });

    await snippet({ title: 'Whole step', code: 'return { n: inputs.n + 1 };' });
    const only = await workflow('Snippet only', ['snippets: [whole_step]']);
    const y = await run(only, 41);
    assert.equal(y.status, 'succeeded', JSON.stringify(y.error));
    const out = await t.request({ method: 'GET', url: `/v1/executions/${y.id}/steps/code/output` });
    assert.deepEqual((out.json() as { output: unknown }).output, { n: 42 });

    // A changed snippet is what the next run uses.
    await t.request({
      method: 'PATCH',
      url: '/v1/code-snippets/whole_step',
      payload: { code: 'return { n: inputs.n - 1 };' },
    });
    const z = await run(only, 41);
    const out2 = await t.request({ method: 'GET', url: `/v1/executions/${z.id}/steps/code/output` });
    assert.deepEqual((out2.json() as { output: unknown }).output, { n: 40 });

    const neither = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: 'name: Empty code\ntrigger: { type: on_demand }\nsteps:\n  - { id: c, kind: code }\n',
      },
    });
    assert.equal(neither.statusCode, 400, neither.body);
    const empty = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: 'name: No snippets\ntrigger: { type: on_demand }\nsteps:\n  - { id: c, kind: code, snippets: [] }\n',
      },
    });
    assert.equal(empty.statusCode, 400, empty.body);
  });

  it('a python snippet or a missing one fails the step with CODE_SNIPPET_NOT_RUNNABLE; one in use stays', async () => {
    await snippet({ title: 'Enrich py', language: 'python', code: 'def enrich(x):\n    return x' });
    const py = await workflow('Python snippet', ['snippets: [enrich_py]', 'source: return 1;']);
    failedNotRunnable(await run(py), /enrich_py.*python/);

    const gone = await workflow('Missing snippet', ['snippets: [no_such_snippet]', 'source: return 1;']);
    const failed = await run(gone);
    failedNotRunnable(failed, /no_such_snippet/);
    // Adding the snippet and retrying runs it.
    await snippet({ title: 'No such snippet', code: 'const seven = 7;' });
    const retry = await t.request({
      method: 'POST',
      url: `/v1/executions/${failed.id}/retry`,
      payload: { from: 'failed_step' },
    });
    assert.equal(retry.statusCode, 201, retry.body);
    await worker.runUntilIdle();
    const again = await t.request({
      method: 'GET',
      url: `/v1/executions/${(retry.json() as { execution_id: string }).execution_id}`,
    });
    assert.equal((again.json() as { execution: Execution }).execution.status, 'succeeded', again.body);

    await snippet({ title: 'Soon gone', code: 'const x = 1;' });
    const uses = await workflow('Deleted snippet', ['snippets: [soon_gone]', 'source: return x;']);
    assert.equal((await run(uses)).status, 'succeeded');
    // A snippet a workflow uses is neither deleted nor renamed.
    const refused = await t.request({ method: 'DELETE', url: '/v1/code-snippets/soon_gone' });
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal((refused.json() as { code: string }).code, 'CODE_SNIPPET_IN_USE');
    assert.match((refused.json() as { message: string }).message, /Deleted snippet/);
    const renamed = await t.request({
      method: 'PATCH',
      url: '/v1/code-snippets/soon_gone',
      payload: { name: 'other_name' },
    });
    assert.equal(renamed.statusCode, 409, renamed.body);
    assert.equal((await run(uses)).status, 'succeeded');
    // Turning a snippet into python makes it unrunnable too.
    await snippet({ title: 'Turns python', code: 'const y = 2;' });
    const turns = await workflow('Turns python', ['snippets: [turns_python]', 'source: return y;']);
    await t.request({
      method: 'PATCH',
      url: '/v1/code-snippets/turns_python',
      payload: { language: 'python' },
    });
    failedNotRunnable(await run(turns), /turns_python.*python/);
  });

  it("keeps workspaces apart: names, reads, and another workspace's snippets in code steps", async () => {
    const made = await t.request({
      method: 'POST',
      url: '/v1alpha/workspaces',
      payload: { name: 'snips-b' },
    });
    assert.equal(made.statusCode, 200, made.body);
    const ownerB = (made.json() as { api_key: KeyPair }).api_key;
    const a = await snippet({ title: 'Only in A', code: 'const only = "a";' });
    const b = await snippet({ title: 'Only in A', code: 'const only = "b";' }, ownerB);
    assert.notEqual(a.id, b.id);
    assertError(
      await t.request({ method: 'GET', url: `/v1/code-snippets/${a.id}`, as: ownerB }),
      404,
      'CODE_SNIPPET_NOT_FOUND',
    );
    assertError(
      await t.request({ method: 'DELETE', url: `/v1/code-snippets/${a.id}`, as: ownerB }),
      404,
      'CODE_SNIPPET_NOT_FOUND',
    );
    const inB = await workflow('B reads', ['snippets: [only_in_a]', 'source: return only;'], ownerB);
    const res = await run(inB, 1, ownerB);
    assert.equal(res.status, 'succeeded', JSON.stringify(res.error));
    const out = await t.request({
      method: 'GET',
      url: `/v1/executions/${res.id}/steps/code/output`,
      as: ownerB,
    });
    assert.equal((out.json() as { output: unknown }).output, 'b');
    await snippet({ title: 'B private', code: 'const secret = "b";' }, ownerB);
    const inA = await workflow('A reaches over', ['snippets: [b_private]', 'source: return secret;']);
    failedNotRunnable(await run(inA), /b_private/);
  });
});

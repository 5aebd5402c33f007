/**
 * Every YAML example in the workflow docs is a valid definition, and every one is run.
 *
 * An example starts with comment lines that say how it is checked (docs/workflow-language.md,
 * "About the examples", lists them). In short:
 *
 *   # run: {"inputs": {...}}                      run it by hand (POST /v1/workflows/{id}/executions)
 *   # run: {"webhook": {"headers", "body", "content_type"}}   deliver to its webhook URL
 *   # run: {"tick": true}                         let the scheduler fire it
 *   # expect: {"status", "output", "error", "steps"}   what the finished run must look like
 *   # publish                                     publish after creating (or `# publish: CODE`: refused)
 *   # secrets: {...} / # vars: {...}              created before the run
 *   # answer: {"as", "outcome", "comment"}        answer its approval while it waits
 *   # refused: CODE                               saving answers 400 CODE; the ```json block after is the body
 *   # validate-only: reason                       only validated (and saved), never run
 *
 * Examples run in file order in one workspace, so a child workflow comes before its callers. URLs
 * on `https://<name>.example.test` are served by a small local threat-intel/echo/chat server; the
 * test rewrites them to it in the definition and back again in what it compares.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { validateDefinition } from '../src/domain/workflow/validate.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { Worker } from '../src/engine/worker.js';
import { eventually, member, withSession } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const FILES = ['docs/workflow-language.md', 'docs/workflows.md'];
const DIRECTIVES = [
  'run',
  'expect',
  'publish',
  'secrets',
  'vars',
  'answer',
  'refused',
  'validate-only',
] as const;
type DirectiveName = (typeof DIRECTIVES)[number];
const RUN_TIMEOUT_MS = 15_000;
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

interface RunDirective {
  inputs?: unknown;
  revision?: 'published' | 'current';
  webhook?: { headers?: Record<string, string>; body?: unknown; content_type?: string };
  tick?: boolean;
}

interface Expectation {
  status: string;
  output?: unknown;
  error?: unknown;
  error_code?: string;
  /** Step runs by key: each listed field must match. */
  steps?: Record<string, Record<string, unknown>>;
}

interface Answer {
  /** An email (a member with the operator role is created for it), or "requester" (the owner key that started the run). */
  as: string;
  outcome: string;
  comment?: string;
}

interface Example {
  file: string;
  line: number;
  yaml: string;
  name: string;
  directives: Partial<Record<DirectiveName, string>>;
  /** The ```json block right after the example (the answer a `refused` example documents). */
  answerBlock: string | undefined;
}

interface StepRun {
  key: string;
  status: string;
  [field: string]: unknown;
}

interface Execution {
  id: string;
  workflow_id: string;
  revision_id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: StepRun[];
}

/** Reads the examples of a file: each ```yaml block, its directives and what follows it. */
function examplesOf(file: string, text: string): Example[] {
  const out: Example[] = [];
  const fence = /```(\w*)\n([\s\S]*?)```/g;
  const blocks = [...text.matchAll(fence)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    line: text.slice(0, m.index).split('\n').length + 1,
  }));
  blocks.forEach((b, i) => {
    if (b.lang !== 'yaml') return;
    const directives: Example['directives'] = {};
    for (const line of b.body.split('\n')) {
      if (!line.startsWith('#')) break;
      const m = /^# ([a-z][a-z-]*)(?::\s*(.*))?$/.exec(line);
      if (!m) continue; // a comment for the reader
      const key = m[1]! as DirectiveName;
      assert.ok(DIRECTIVES.includes(key), `${file}:${b.line}: unknown directive "# ${m[1]}"`);
      assert.ok(!(key in directives), `${file}:${b.line}: "# ${key}" given twice`);
      directives[key] = (m[2] ?? '').trim();
    }
    const next = blocks[i + 1];
    out.push({
      file,
      line: b.line,
      yaml: b.body,
      name: /^name: (.+)$/m.exec(b.body)?.[1]?.trim() ?? '(no name)',
      directives,
      answerBlock: next?.lang === 'json' ? next.body : undefined,
    });
  });
  return out;
}

function json<T>(example: Example, directive: DirectiveName): T | undefined {
  const text = example.directives[directive];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text || '{}') as T;
  } catch (error) {
    throw new Error(`${where(example)}: "# ${directive}" is not JSON: ${(error as Error).message}`);
  }
}

function where(example: Example): string {
  return `${example.file}:${example.line} (${example.name})`;
}

const EXAMPLES: Example[] = [];
for (const file of FILES) EXAMPLES.push(...examplesOf(file, await readFile(file, 'utf8')));

/**
 * Compares `actual` with `expected` exactly (objects have the same keys), except that a string
 * `<uuid>`, `<time>`, `<string>`, `<number>`, `<any>` or `<execution.id|workflow_id|revision_id>`
 * in `expected` stands for any value of that kind.
 */
function matches(actual: unknown, expected: unknown, vars: Record<string, string>, path = '$'): string[] {
  if (typeof expected === 'string' && /^<[a-z_.]+>$/.test(expected)) {
    const kind = expected.slice(1, -1);
    const ok =
      kind === 'any'
        ? actual !== undefined
        : kind === 'uuid'
          ? typeof actual === 'string' &&
            /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(actual)
          : kind === 'time'
            ? typeof actual === 'string' &&
              /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(actual) &&
              !Number.isNaN(Date.parse(actual))
            : kind === 'string'
              ? typeof actual === 'string'
              : kind === 'number'
                ? typeof actual === 'number'
                : kind in vars
                  ? actual === vars[kind]
                  : false;
    return ok ? [] : [`${path}: expected ${expected}, got ${JSON.stringify(actual)}`];
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected a list, got ${JSON.stringify(actual)}`];
    if (actual.length !== expected.length)
      return [`${path}: expected ${expected.length} items, got ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => matches(actual[i], e, vars, `${path}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual))
      return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const keys = new Set([...Object.keys(a), ...Object.keys(e)]);
    return [...keys].flatMap((k) =>
      !(k in e)
        ? [`${path}.${k}: not expected, got ${JSON.stringify(a[k])}`]
        : !(k in a)
          ? [`${path}.${k}: missing, expected ${JSON.stringify(e[k])}`]
          : matches(a[k], e[k], vars, `${path}.${k}`),
    );
  }
  return Object.is(actual, expected) || actual === expected
    ? []
    : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

describe('workflow documentation examples', () => {
  it('every example says how the test checks it', () => {
    assert.ok(EXAMPLES.length > 0);
    for (const file of FILES)
      assert.ok(
        EXAMPLES.some((e) => e.file === file),
        `${file} has examples`,
      );
    for (const ex of EXAMPLES) {
      const d = ex.directives;
      const modes = (['run', 'refused', 'validate-only'] as const).filter((k) => k in d);
      assert.equal(
        modes.length,
        1,
        `${where(ex)}: an example needs exactly one of "# run:", "# refused:" or "# validate-only:"`,
      );
      if ('run' in d) assert.ok('expect' in d, `${where(ex)}: "# run:" needs "# expect:"`);
      else
        for (const k of ['expect', 'answer', 'secrets', 'vars'] as const)
          assert.ok(!(k in d), `${where(ex)}: "# ${k}" only goes with "# run:"`);
      if ('validate-only' in d) assert.ok(d['validate-only'], `${where(ex)}: say why it does not run`);
      if ('refused' in d)
        assert.ok(ex.answerBlock, `${where(ex)}: a refused example is followed by its answer`);
      const run = json<RunDirective>(ex, 'run');
      if (run?.webhook || run?.tick)
        assert.ok(d.publish === '', `${where(ex)}: webhooks and schedules run the published revision`);
    }
    const names = EXAMPLES.map((e) => e.name);
    assert.deepEqual(
      names.filter((n, i) => names.indexOf(n) !== i),
      [],
      'examples have distinct names (call_workflow finds children by name)',
    );
  });

  it('validate as documented', () => {
    for (const ex of EXAMPLES) {
      const problems = validateDefinition(ex.yaml).problems;
      if ('refused' in ex.directives)
        assert.ok(
          problems.some((p) => p.severity === 'error'),
          `${where(ex)} is documented as refused`,
        );
      else if (ex.directives.publish && ex.directives.publish !== '')
        assert.ok(
          problems.length > 0 && problems.every((p) => p.severity === 'warning'),
          `${where(ex)} has warnings only: ${JSON.stringify(problems)}`,
        );
      else assert.deepEqual(problems, [], where(ex));
    }
  });

  describe('run', () => {
    let t: TestApp;
    let worker: Worker;
    let scheduler: Scheduler;
    let server: Server;
    let base: string;
    const logger = pino({ level: 'silent' });
    const flaky = new Map<string, number>();
    const sessions = new Map<string, string>();
    const named = new Map<string, unknown>();

    /** A small threat-intel API, an echo and a chat hook, served as `/<host>/<path>`. */
    function serve(req: IncomingMessage, res: ServerResponse, text: string): void {
      const url = new URL(req.url ?? '/', 'http://local');
      const [, host, ...rest] = url.pathname.split('/');
      const path = `/${rest.join('/')}`;
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      };
      let body: unknown = text;
      try {
        body = text ? (JSON.parse(text) as unknown) : null;
      } catch {
        // not JSON: keep the text
      }
      if (host === 'chat.example.test' && req.method === 'POST')
        return send(200, { ok: true, received: body });
      if (host !== 'intel.example.test') return send(404, { error: 'no such host' });
      let m: RegExpExecArray | null;
      if ((m = /^\/ip\/([^/]+)$/.exec(path))) {
        const ip = decodeURIComponent(m[1]!);
        const malicious = ip.startsWith('203.0.113.');
        return send(200, {
          ip,
          verdict: malicious ? 'malicious' : 'clean',
          score: malicious ? 90 : 5,
          ...(url.searchParams.get('verbose') === 'true' ? { sources: ['abuse-feed', 'honeypot'] } : {}),
        });
      }
      if ((m = /^\/domain\/([^/]+)$/.exec(path)))
        return send(200, { domain: m[1], category: m[1]!.includes('login') ? 'phishing' : 'uncategorised' });
      if (path === '/blocklist' && req.method === 'POST')
        return send(201, { blocked: (body as { ip?: unknown } | null)?.ip ?? null });
      if (path === '/echo')
        return send(200, {
          method: req.method,
          query: Object.fromEntries(url.searchParams),
          headers: {
            authorization: req.headers.authorization ?? null,
            'content-type': req.headers['content-type'] ?? null,
          },
          body,
        });
      if ((m = /^\/status\/(\d{3})$/.exec(path))) return send(Number(m[1]), { status: Number(m[1]) });
      if ((m = /^\/flaky\/(.+)$/.exec(path))) {
        const n = (flaky.get(m[1]!) ?? 0) + 1;
        flaky.set(m[1]!, n);
        return n < 3 ? send(503, { error: 'busy' }) : send(200, { attempts: n });
      }
      if (path === '/slow') {
        const timer = setTimeout(() => send(200, { late: true }), 3000);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      return send(404, { error: 'not found' });
    }

    /** The definition as run: example hosts point at the local server. */
    const toLocal = (yaml: string): string =>
      yaml.replace(/https:\/\/([a-z0-9-]+\.example\.test)/g, (_, host: string) => `${base}/${host}`);
    /** What the run recorded, with the local server's address turned back into the example hosts. */
    const fromLocal = <T>(value: T): T =>
      JSON.parse(
        JSON.stringify(value).replace(
          new RegExp(`${base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/([a-z0-9-]+\\.example\\.test)`, 'g'),
          'https://$1',
        ),
      ) as T;

    before(async () => {
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => serve(req, res, text));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
      worker = new Worker({
        db: t.db,
        executor: t.services.executor,
        logger,
        concurrency: 4,
        leaseMs: 5000,
        pollMs: 50,
      });
      scheduler = new Scheduler({
        db: t.db,
        queue: t.services.queue,
        clock: { now: () => Date.now() },
        logger,
      });
      await worker.start();
    });
    after(async () => {
      await worker?.stop();
      await t?.close();
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    });

    /** Creates the secrets or variables an example names (once; a second example must agree). */
    async function ensure(kind: 'secrets' | 'variables', values: Record<string, unknown>): Promise<void> {
      for (const [name, value] of Object.entries(values)) {
        const key = `${kind}:${name}`;
        if (named.has(key)) {
          assert.deepEqual(named.get(key), value, `${kind} "${name}" is given two values in the docs`);
          continue;
        }
        const res = await t.request({ method: 'POST', url: `/v1/${kind}`, payload: { name, value } });
        assert.equal(res.statusCode, 201, res.body);
        named.set(key, value);
      }
    }

    async function execution(id: string): Promise<Execution> {
      const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { execution: Execution }).execution;
    }

    async function settled(id: string): Promise<Execution> {
      let last: Execution | undefined;
      const done = await eventually(
        async () => {
          last = await execution(id);
          return TERMINAL.has(last.status);
        },
        RUN_TIMEOUT_MS,
        25,
      );
      assert.ok(done, `execution ${id} did not end in ${RUN_TIMEOUT_MS} ms: ${JSON.stringify(last)}`);
      return last!;
    }

    /** Waits for the run's approval, then answers it as the example says. */
    async function answer(executionId: string, a: Answer): Promise<void> {
      let approvalId: string | undefined;
      const found = await eventually(
        async () => {
          const res = await t.request({ method: 'GET', url: '/v1/approvals' });
          assert.equal(res.statusCode, 200, res.body);
          const list = (res.json() as { approvals: { id: string; execution_id: string }[] }).approvals;
          approvalId = list.find((x) => x.execution_id === executionId)?.id;
          if (approvalId) return true;
          const x = await execution(executionId);
          assert.ok(!TERMINAL.has(x.status), `the run ended before it asked: ${JSON.stringify(x)}`);
          return false;
        },
        RUN_TIMEOUT_MS,
        25,
      );
      assert.ok(found, `execution ${executionId} asked for no approval`);
      const payload = { outcome: a.outcome, ...(a.comment === undefined ? {} : { comment: a.comment }) };
      const url = `/v1/approvals/${approvalId}/answer`;
      let res;
      if (a.as === 'requester') res = await t.request({ method: 'POST', url, payload });
      else {
        let session = sessions.get(a.as);
        if (!session) {
          session = (await member(t, a.as, 'operator')).session;
          sessions.set(a.as, session);
        }
        res = await withSession(t, session, { method: 'POST', url, payload });
      }
      assert.equal(res.statusCode, 200, res.body);
    }

    /** Starts the example the way its `run` directive says; answers the execution id. */
    async function start(ex: Example, workflowId: string, run: RunDirective): Promise<string> {
      if (run.webhook) {
        const hook = await t.request({ method: 'GET', url: `/v1/workflows/${workflowId}/webhook` });
        assert.equal(hook.statusCode, 200, hook.body);
        const { url } = hook.json() as { url: string };
        const w = run.webhook;
        const res = await t.app.inject({
          method: 'POST',
          url: new URL(url).pathname,
          headers: { 'content-type': w.content_type ?? 'application/json', ...w.headers },
          payload: typeof w.body === 'string' ? w.body : JSON.stringify(w.body ?? {}),
        });
        assert.equal(res.statusCode, 200, `${where(ex)}: the delivery was refused: ${res.body}`);
        return (res.json() as { execution_id: string }).execution_id;
      }
      if (run.tick) {
        // The first tick only computes the next one; move it into the past and tick again.
        await scheduler.tick();
        await t.db.exec(`UPDATE workflows SET schedule_next_at = now() - interval '1 second' WHERE id = $1`, [
          workflowId,
        ]);
        assert.equal(await scheduler.tick(), 1, `${where(ex)}: the schedule fired once`);
        const rows = await t.db.rows<{ id: string }>('SELECT id FROM executions WHERE workflow_id = $1', [
          workflowId,
        ]);
        assert.equal(rows.length, 1);
        return rows[0]!.id;
      }
      const res = await t.request({
        method: 'POST',
        url: `/v1/workflows/${workflowId}/executions`,
        payload: { inputs: run.inputs ?? {}, ...(run.revision ? { revision: run.revision } : {}) },
      });
      assert.equal(res.statusCode, 201, `${where(ex)}: the run was refused: ${res.body}`);
      return (res.json() as { execution_id: string }).execution_id;
    }

    for (const ex of EXAMPLES) {
      it(`${ex.file}:${ex.line} ${ex.name}`, { timeout: 2 * RUN_TIMEOUT_MS }, async () => {
        const d = ex.directives;
        await ensure('secrets', json<Record<string, string>>(ex, 'secrets') ?? {});
        await ensure('variables', json<Record<string, unknown>>(ex, 'vars') ?? {});
        const created = await t.request({
          method: 'POST',
          url: '/v1/workflows',
          payload: { yaml: toLocal(ex.yaml) },
        });
        if ('refused' in d) {
          assert.equal(created.statusCode, 400, `${where(ex)}: expected a refusal: ${created.body}`);
          assert.equal((created.json() as { code: string }).code, d.refused, created.body);
          assert.deepEqual(created.json(), JSON.parse(ex.answerBlock!), `${where(ex)}: the answer shown`);
          return;
        }
        assert.equal(created.statusCode, 201, `${where(ex)}: ${created.body}`);
        const workflowId = (created.json() as { workflow: { id: string } }).workflow.id;
        if ('validate-only' in d) return;
        if ('publish' in d) {
          const res = await t.request({ method: 'POST', url: `/v1/workflows/${workflowId}/publish` });
          if (d.publish) {
            assert.equal(res.statusCode, 400, `${where(ex)}: publishing is refused: ${res.body}`);
            assert.equal((res.json() as { code: string }).code, d.publish, res.body);
          } else assert.equal(res.statusCode, 200, `${where(ex)}: publish: ${res.body}`);
        }
        const run = json<RunDirective>(ex, 'run')!;
        const expect = json<Expectation>(ex, 'expect')!;
        const executionId = await start(ex, workflowId, run);
        const ans = json<Answer>(ex, 'answer');
        if (ans) await answer(executionId, ans);
        const x = fromLocal(await settled(executionId));
        const vars = {
          'execution.id': x.id,
          'execution.workflow_id': x.workflow_id,
          'execution.revision_id': x.revision_id,
        };
        const problems: string[] = [];
        if (x.status !== expect.status)
          problems.push(`status: expected ${expect.status}, got ${x.status} (${JSON.stringify(x.error)})`);
        if ('output' in expect) problems.push(...matches(x.output, expect.output, vars, 'output'));
        if ('error' in expect) problems.push(...matches(x.error, expect.error, vars, 'error'));
        if (expect.error_code !== undefined && x.error?.code !== expect.error_code)
          problems.push(`error.code: expected ${expect.error_code}, got ${JSON.stringify(x.error)}`);
        for (const [key, fields] of Object.entries(expect.steps ?? {})) {
          const step = x.steps.findLast((s) => s.key === key);
          if (!step) {
            problems.push(`steps: no step run "${key}" (${x.steps.map((s) => s.key).join(', ')})`);
            continue;
          }
          for (const [field, value] of Object.entries(fields))
            problems.push(...matches(step[field], value, vars, `steps["${key}"].${field}`));
        }
        assert.deepEqual(problems, [], `${where(ex)}:\n${JSON.stringify(x, null, 2)}`);
      });
    }
  });
});

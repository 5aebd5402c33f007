// Helpers for the tests that use integrations through the API: create one, run its actions, test its
// connectivity, run a workflow to its end, and keep the body of every answer to check that no
// credential ever shows.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { Worker } from '../../src/engine/worker.js';
import type { ErrorBody } from './api.js';
import { startTestApp, type KeyPair, type TestApp } from './app.js';

/** An integration as the API answers it, secret fields masked. */
export interface Integration {
  id: string;
  name: string;
  display_name: string;
  description: string;
  app: string;
  app_version: string | null;
  configuration: Record<string, unknown>;
  is_default: boolean;
  expires_at: string | null;
  expired: boolean;
  allowed_networks: string[];
  verify_tls: boolean;
  timeout_seconds: number;
  retries: number;
  rate_limit: { requests: number; per_seconds: number } | null;
  connectivity: { status: string; message: string; tested_at: string | null };
  last_used_at: string | null;
  created_at: string;
  created_by: string;
  updated_at: string;
}

/** The answer of POST /v1/integrations/{ref}/execute. */
export interface Outcome {
  status: 'succeeded' | 'failed';
  output?: unknown;
  error?: { code: string; message: string };
  duration_ms: number;
}

/** The result of a connectivity test (POST /v1/integrations/{ref}/test). */
export interface Connectivity {
  status: 'success' | 'failed';
  message: string;
  tested_at: string;
  error_code?: string;
}

/** An execution as GET /v1/executions/{id} answers it. */
export interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: { key: string; status: string; input: unknown; output: unknown; error: unknown }[];
}

/** Where a file's checks differ from the common ones. */
export interface IntegrationHelperOptions {
  /** The params sent when a call gives none (by default the request has no params). */
  defaultParams?: unknown;
  /**
   * What failed() asserts of the error message besides answering it: that it is a string (the
   * default), also that it is not empty, or nothing.
   */
  failedMessage?: 'string' | 'non-empty' | 'none';
  /** invalidParams() also accepts a details[].field below the one named (`<field>.<sub>`). */
  nestedFields?: boolean;
  /** runWorkflow() also asserts that reading the execution answers 200. */
  checkExecutionRead?: boolean;
}

export interface IntegrationHelpers {
  /** The body of every answer of api() and the helpers, to check that no credential ever shows. */
  answers: string[];
  /** t.request(), keeping the body of the answer in `answers`. */
  api: (options: Parameters<TestApp['request']>[0]) => Promise<LightMyRequestResponse>;
  /** POST /v1/integrations (as the owner unless `as`); asserts 201 and answers the integration. */
  createIntegration: (payload: Record<string, unknown>, as?: KeyPair) => Promise<Integration>;
  /** POST /v1/integrations/{ref}/execute; the raw answer. */
  executeRaw: (
    ref: string,
    action: string,
    params?: unknown,
    as?: KeyPair,
  ) => Promise<LightMyRequestResponse>;
  /** Executes the action; asserts 200 and answers the outcome. */
  execute: (ref: string, action: string, params?: unknown) => Promise<Outcome>;
  /** Executes the action; asserts it succeeded and answers its output. */
  succeeded: (ref: string, action: string, params?: unknown) => Promise<unknown>;
  /** Executes the action; asserts it failed with `code` and answers the error message. */
  failed: (ref: string, action: string, params: unknown, code: string) => Promise<string>;
  /** Executes the action; asserts 400 with a details[] entry naming `field`. */
  invalidParams: (ref: string, action: string, params: unknown, field: string) => Promise<void>;
  /** Tests the integration's connectivity; asserts 200 and answers the result. */
  connectivityTest: (ref: string) => Promise<Connectivity>;
  /** connectivityTest(), also asserting a valid tested_at and a string message. */
  connectivity: (ref: string) => Promise<Connectivity>;
  /** Creates the workflow, runs it with `inputs` until the worker is idle; answers the execution. */
  runWorkflow: (yaml: string, inputs?: unknown) => Promise<Execution>;
  /** Asserts that none of the credentials shows in any answer kept so far. */
  assertNoLeak: (secrets: string[]) => void;
}

/** Answers the value and how many milliseconds `fn` took. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = Date.now();
  const value = await fn();
  return [value, Date.now() - started];
}

/**
 * The helpers, acting on the test app (and, for runWorkflow, the worker). Either may be given as a
 * function, for a file that calls this before its `before` hook starts them.
 */
export function integrationHelpers(
  app: TestApp | (() => TestApp),
  worker?: Worker | (() => Worker),
  options: IntegrationHelperOptions = {},
): IntegrationHelpers {
  const t = (): TestApp => (typeof app === 'function' ? app() : app);
  const w = (): Worker => {
    const value = typeof worker === 'function' ? worker() : worker;
    if (!value) throw new Error('runWorkflow needs a worker');
    return value;
  };
  const answers: string[] = [];

  async function api(request: Parameters<TestApp['request']>[0]) {
    const res = await t().request(request);
    answers.push(res.body);
    return res;
  }

  async function createIntegration(payload: Record<string, unknown>, as?: KeyPair): Promise<Integration> {
    const res = await api({ method: 'POST', url: '/v1/integrations', payload, ...(as && { as }) });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { integration: Integration }).integration;
  }

  function executeRaw(ref: string, action: string, params?: unknown, as?: KeyPair) {
    const sent = params === undefined ? options.defaultParams : params;
    return api({
      method: 'POST',
      url: `/v1/integrations/${ref}/execute`,
      payload: { action, ...(sent !== undefined && { params: sent }) },
      ...(as && { as }),
    });
  }

  async function execute(ref: string, action: string, params?: unknown): Promise<Outcome> {
    const res = await executeRaw(ref, action, params);
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Outcome;
  }

  async function succeeded(ref: string, action: string, params?: unknown): Promise<unknown> {
    const outcome = await execute(ref, action, params);
    assert.equal(outcome.status, 'succeeded', JSON.stringify(outcome));
    return outcome.output;
  }

  async function failed(ref: string, action: string, params: unknown, code: string): Promise<string> {
    const outcome = await execute(ref, action, params);
    assert.equal(outcome.status, 'failed', JSON.stringify(outcome));
    assert.equal(outcome.error?.code, code, JSON.stringify(outcome));
    const check = options.failedMessage ?? 'string';
    if (check !== 'none') assert.equal(typeof outcome.error?.message, 'string');
    if (check === 'non-empty') assert.ok(outcome.error!.message.length > 0);
    return outcome.error!.message;
  }

  async function invalidParams(ref: string, action: string, params: unknown, field: string): Promise<void> {
    const res = await executeRaw(ref, action, params);
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json() as ErrorBody;
    assert.ok(
      body.details.some(
        (d) => d.field === field || (options.nestedFields === true && d.field?.startsWith(`${field}.`)),
      ),
      `details[].field names ${field}: ${res.body}`,
    );
  }

  async function testConnectivity(ref: string): Promise<[Connectivity, LightMyRequestResponse]> {
    const res = await api({ method: 'POST', url: `/v1/integrations/${ref}/test` });
    assert.equal(res.statusCode, 200, res.body);
    return [(res.json() as { connectivity: Connectivity }).connectivity, res];
  }

  async function connectivityTest(ref: string): Promise<Connectivity> {
    return (await testConnectivity(ref))[0];
  }

  async function connectivity(ref: string): Promise<Connectivity> {
    const [c, res] = await testConnectivity(ref);
    assert.ok(!Number.isNaN(Date.parse(c.tested_at)), res.body);
    assert.equal(typeof c.message, 'string');
    return c;
  }

  async function runWorkflow(yaml: string, inputs: unknown = {}): Promise<Execution> {
    const created = await api({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    const run = await api({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs, revision: 'current' },
    });
    assert.ok(run.statusCode < 300, run.body);
    const execId = (run.json() as { execution_id: string }).execution_id;
    await w().runUntilIdle();
    const res = await api({ method: 'GET', url: `/v1/executions/${execId}` });
    if (options.checkExecutionRead === true) assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }

  function assertNoLeak(secrets: string[]): void {
    for (const body of answers)
      for (const secret of secrets)
        assert.ok(!body.includes(secret), `${secret.slice(0, 12)}… leaked: ${body.slice(0, 500)}`);
  }

  return {
    answers,
    api,
    createIntegration,
    executeRaw,
    execute,
    succeeded,
    failed,
    invalidParams,
    connectivityTest,
    connectivity,
    runWorkflow,
    assertNoLeak,
  };
}

/**
 * For a file whose tests all use one test app: starts it before them (allowed to reach
 * 127.0.0.0/8, where the stand-ins listen) with a silent worker, closes it after them, and answers
 * the helpers acting on both.
 */
export function integrationTestApp(options: IntegrationHelperOptions = {}): IntegrationHelpers {
  let t: TestApp;
  let worker: Worker;
  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    worker = new Worker({ db: t.db, executor: t.services.executor, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await t.close();
  });
  return integrationHelpers(
    () => t,
    () => worker,
    options,
  );
}

// The Osprey side of the engine benchmark: the services, the HTTP server listening on 127.0.0.1 and
// the worker, set up as `osprey start` does, plus the benchmark's workflows (created, published and
// their webhook tokens read through the API).
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildServer } from '../../src/api/server.js';
import { createServices, type Services } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Principal } from '../../src/domain/actor.js';
import { Worker } from '../../src/engine/worker.js';
import { bootstrap } from '../../src/services/bootstrap.js';
import { Database } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrate.js';

export interface OspreySettings {
  workerConcurrency: number;
  dbPoolSize: number;
}

/** The environment the benchmark configures Osprey with (also given to the worker process). */
export function ospreyEnv(url: string, s: OspreySettings): Record<string, string> {
  return {
    DATABASE_URL: url,
    OSPREY_DATA_DIR: os.tmpdir(),
    OSPREY_LOG_LEVEL: 'silent',
    // Per-workflow webhook limit (default 500/s per process): a throughput benchmark would measure 429s.
    OSPREY_WEBHOOK_RATE_LIMIT: '1000000',
    OSPREY_RATE_LIMIT: '1000000',
    // The HTTP step calls the echo server on 127.0.0.1, which the SSRF guard blocks by default.
    OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8',
    OSPREY_WORKER_CONCURRENCY: String(s.workerConcurrency),
    OSPREY_DB_POOL_SIZE: String(s.dbPoolSize),
    OSPREY_WEBHOOK_SYNC_TIMEOUT_MS: '60000',
  };
}

export class Osprey {
  #worker: Worker | undefined;

  private constructor(
    readonly config: Config,
    readonly db: Database,
    readonly services: Services,
    readonly app: FastifyInstance,
    readonly baseUrl: string,
    readonly masterKey: Buffer,
    private readonly token: string,
  ) {}

  /** Migrates, wires the services, bootstraps a workspace, listens on 127.0.0.1 (any free port). */
  static async start(url: string, settings: OspreySettings): Promise<Osprey> {
    const config = loadConfig(ospreyEnv(url, settings));
    const db = new Database({ connectionString: url, max: config.dbPoolSize });
    try {
      await migrate(db);
      const masterKey = randomBytes(32);
      const services = createServices(db, masterKey, config);
      await services.keyring.load();
      const created = await bootstrap(db, services.workspaces, {
        workspaceName: 'bench',
        ownerEmail: 'owner@bench.example',
        fixedKey: undefined,
      });
      if (!created) throw new Error('bootstrap did not create a workspace');
      const app = await buildServer({ services, config, logger: false });
      const address = await app.listen({ port: 0, host: '127.0.0.1' });
      const res = await app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        payload: { apiKey: `${created.api_key.client_id}:${created.api_key.client_secret}` },
      });
      if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`);
      const token = res.json<{ access_token: string }>().access_token;
      return new Osprey(config, db, services, app, address, masterKey, token);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
  }

  /** The bootstrap owner (its API key's token), for calling the services directly. */
  principal(): Promise<Principal> {
    return this.services.auth.authenticateBearer(this.token, { ip: '127.0.0.1', userAgent: 'osprey-bench' });
  }

  /** A worker as `osprey start` makes it (same options), not started. */
  newWorker(): Worker {
    return new Worker({
      db: this.db,
      executor: this.services.executor,
      logger: pino({ level: 'silent' }),
      concurrency: this.config.workerConcurrency,
      leaseMs: this.config.workerLeaseMs,
      maxResumes: this.config.workerMaxResumes,
      fairShare: this.config.workerFairShare,
    });
  }

  /** Starts the in-process worker (the API and the worker in one process, as `osprey start`). */
  async startWorker(): Promise<void> {
    if (this.#worker) return;
    this.#worker = this.newWorker();
    await this.#worker.start();
  }

  async stopWorker(): Promise<void> {
    await this.#worker?.stop();
    this.#worker = undefined;
  }

  /** Creates and publishes a workflow through the API; returns its id and webhook URL token. */
  async webhookWorkflow(yaml: string): Promise<{ id: string; webhookToken: string }> {
    const call = async (method: 'GET' | 'POST', url: string, payload?: object): Promise<unknown> => {
      const res = await this.app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${this.token}` },
        ...(payload ? { payload } : {}),
      });
      if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
      return res.json();
    };
    const created = (await call('POST', '/v1/workflows', { yaml })) as { workflow: { id: string } };
    const id = created.workflow.id;
    await call('POST', `/v1/workflows/${id}/publish`, {});
    const hook = (await call('GET', `/v1/workflows/${id}/webhook`)) as { url: string };
    const webhookToken = new URL(hook.url).pathname.split('/').at(-1)!;
    return { id, webhookToken };
  }

  webhookUrl(token: string, sync: boolean): string {
    return `${this.baseUrl}/v1/webhooks/${token}${sync ? '/sync' : ''}`;
  }

  async close(): Promise<void> {
    await this.stopWorker();
    await this.app.close();
    await this.db.close();
  }
}

/**
 * (a): transform, then an `if` whose `then` makes the HTTP call to the echo server, a transform
 * ("set") over the answer, and exit with it: five steps run per execution.
 */
export function enrichWorkflow(echoPort: number): string {
  return `name: Bench enrich
trigger: { type: webhook }
steps:
  - id: facts
    kind: transform
    value: { ip: "{{ $.event.ip }}", score: "{{ $.event.score }}", label: "ip {{ $.event.ip }}" }
  - id: risky
    kind: if
    condition: "{{ $.facts.score > 50 }}"
    then:
      - id: lookup
        kind: action
        action: http.request
        with:
          method: POST
          url: "http://127.0.0.1:${echoPort}/intel"
          body: { ip: "{{ $.facts.ip }}", score: "{{ $.facts.score }}" }
  - id: verdict
    kind: transform
    value: { ip: "{{ $.facts.ip }}", verdict: "{{ $.lookup.api_object.verdict }}", echoed: "{{ $.lookup.api_object.request.ip }}" }
  - id: done
    kind: exit
    output: "{{ $.verdict }}"
`;
}

/** (b): `steps` transform steps in a row, each adding 1 to the previous one's output (a JSONata expression). */
export function chainWorkflow(steps: number): string {
  const id = (i: number): string => `step_${String(i).padStart(2, '0')}`;
  const lines = [`name: Bench chain ${steps}`, 'trigger: { type: webhook }', 'steps:'];
  for (let i = 1; i <= steps; i++) {
    const from = i === 1 ? '$.event.n' : `$.${id(i - 1)}.n`;
    lines.push(`  - id: ${id(i)}`, '    kind: transform', `    value: { n: "{{ ${from} + 1 }}" }`);
  }
  return `${lines.join('\n')}\n`;
}

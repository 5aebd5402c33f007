import { resolve } from 'node:path';
import Type, { type Static } from 'typebox';
import Value from 'typebox/value';

const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  OSPREY_DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  OSPREY_MASTER_KEY: Type.Optional(Type.String({ minLength: 1 })),
  OSPREY_BOOTSTRAP_API_KEY: Type.Optional(Type.String({ pattern: '^[^:]+:.+$' })),
  OSPREY_BOOTSTRAP_WORKSPACE: Type.String({ minLength: 1, default: 'default' }),
  OSPREY_BOOTSTRAP_EMAIL: Type.String({ minLength: 3, default: 'admin@osprey.local' }),
  OSPREY_LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info' },
  ),
  OSPREY_BODY_LIMIT: Type.Integer({ minimum: 1024, default: 1_048_576 }),
  OSPREY_RATE_LIMIT: Type.Integer({ minimum: 1, default: 50 }),
  OSPREY_AUDIT_RETENTION_DAYS: Type.Integer({ minimum: 0, default: 365 }),
  OSPREY_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 60, maximum: 86_400, default: 3600 }),
  OSPREY_SESSION_TTL_HOURS: Type.Integer({ minimum: 1, default: 12 }),
  OSPREY_TRUST_PROXY: Type.Boolean({ default: false }),
  OSPREY_DB_POOL_SIZE: Type.Integer({ minimum: 1, default: 10 }),
  OSPREY_HTTP_ALLOW_NETWORKS: Type.String({ default: '' }),
  OSPREY_WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 4 }),
  OSPREY_WORKER_LEASE_MS: Type.Integer({ minimum: 500, default: 30_000 }),
  OSPREY_WORKER_MAX_RESUMES: Type.Integer({ minimum: 0, default: 5 }),
  OSPREY_WORKER_FAIR_SHARE: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.5 }),
  OSPREY_PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  OSPREY_WEBHOOK_RATE_LIMIT: Type.Integer({ minimum: 1, default: 500 }),
  OSPREY_WEBHOOK_SYNC_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 50_000 }),
  OSPREY_EXECUTION_RETENTION_DAYS: Type.Integer({ minimum: 1, default: 30 }),
  OSPREY_STEP_OUTPUT_INLINE_BYTES: Type.Integer({ minimum: 1024, default: 65_536 }),
  OSPREY_EXECUTION_MAX_BYTES: Type.Integer({ minimum: 65_536, default: 67_108_864 }),
  OSPREY_SCHEDULER: Type.Boolean({ default: true }),
  OSPREY_CODE_WORKERS: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
});

/** Osprey's configuration, parsed once from the environment at start-up. */
export interface Config {
  port: number;
  host: string;
  /** Set: use this server. Unset: start the embedded one under dataDir. */
  databaseUrl: string | undefined;
  dataDir: string;
  masterKey: string | undefined;
  bootstrapApiKey: { clientId: string; clientSecret: string } | undefined;
  bootstrapWorkspace: string;
  bootstrapEmail: string;
  logLevel: string;
  bodyLimit: number;
  rateLimitPerSecond: number;
  /** 0 keeps audit entries forever. */
  auditRetentionDays: number;
  tokenTtlSeconds: number;
  sessionTtlHours: number;
  trustProxy: boolean;
  dbPoolSize: number;
  /** CIDRs that steps' HTTP may reach although private or loopback (e.g. 10.1.0.0/16). */
  httpAllowNetworks: string[];
  /** Executions one worker process runs at once. */
  workerConcurrency: number;
  /** A run whose worker has not renewed its lease for this long is resumed by another worker. */
  workerLeaseMs: number;
  /** Resumes after which a run is failed instead of tried again. */
  workerMaxResumes: number;
  /** The largest share of one worker's slots that runs of a single workflow may hold. */
  workerFairShare: number;
  /** The externally reachable base URL (webhook and approval links). */
  publicUrl: string;
  /** Webhook deliveries each workflow accepts per second (per process). */
  webhookRatePerSecond: number;
  /** How long `/sync` webhooks wait for the run before answering 202. */
  webhookSyncTimeoutMs: number;
  /** Days finished executions are kept, unless a workflow sets retention_days. */
  executionRetentionDays: number;
  /** Step outputs larger than this (bytes of JSON) are stored out of line. */
  stepOutputInlineBytes: number;
  /** The most step output one execution may record. */
  executionMaxBytes: number;
  /** Whether this process fires schedules (any number may; each tick fires once). */
  scheduler: boolean;
  /** Worker threads that run code steps (each runs one at a time). */
  codeWorkers: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const withDefaults = Value.Default(EnvSchema, raw);
  const converted = Value.Convert(EnvSchema, withDefaults);
  if (!Value.Check(EnvSchema, converted)) {
    const problems = Value.Errors(EnvSchema, converted).map(
      (e) => `${e.instancePath.replace(/^\//, '') || 'environment'}: ${e.message}`,
    );
    throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
  }
  const e: Static<typeof EnvSchema> = converted;
  let bootstrapApiKey: Config['bootstrapApiKey'];
  if (e.OSPREY_BOOTSTRAP_API_KEY) {
    const at = e.OSPREY_BOOTSTRAP_API_KEY.indexOf(':');
    bootstrapApiKey = {
      clientId: e.OSPREY_BOOTSTRAP_API_KEY.slice(0, at),
      clientSecret: e.OSPREY_BOOTSTRAP_API_KEY.slice(at + 1),
    };
  }
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: resolve(e.OSPREY_DATA_DIR),
    masterKey: e.OSPREY_MASTER_KEY,
    bootstrapApiKey,
    bootstrapWorkspace: e.OSPREY_BOOTSTRAP_WORKSPACE,
    bootstrapEmail: e.OSPREY_BOOTSTRAP_EMAIL,
    logLevel: e.OSPREY_LOG_LEVEL,
    bodyLimit: e.OSPREY_BODY_LIMIT,
    rateLimitPerSecond: e.OSPREY_RATE_LIMIT,
    auditRetentionDays: e.OSPREY_AUDIT_RETENTION_DAYS,
    tokenTtlSeconds: e.OSPREY_TOKEN_TTL_SECONDS,
    sessionTtlHours: e.OSPREY_SESSION_TTL_HOURS,
    trustProxy: e.OSPREY_TRUST_PROXY,
    dbPoolSize: e.OSPREY_DB_POOL_SIZE,
    httpAllowNetworks: e.OSPREY_HTTP_ALLOW_NETWORKS.split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    workerConcurrency: e.OSPREY_WORKER_CONCURRENCY,
    workerLeaseMs: e.OSPREY_WORKER_LEASE_MS,
    workerMaxResumes: e.OSPREY_WORKER_MAX_RESUMES,
    workerFairShare: e.OSPREY_WORKER_FAIR_SHARE,
    publicUrl: e.OSPREY_PUBLIC_URL ?? `http://localhost:${e.PORT}`,
    webhookRatePerSecond: e.OSPREY_WEBHOOK_RATE_LIMIT,
    webhookSyncTimeoutMs: e.OSPREY_WEBHOOK_SYNC_TIMEOUT_MS,
    executionRetentionDays: e.OSPREY_EXECUTION_RETENTION_DAYS,
    stepOutputInlineBytes: e.OSPREY_STEP_OUTPUT_INLINE_BYTES,
    executionMaxBytes: e.OSPREY_EXECUTION_MAX_BYTES,
    scheduler: e.OSPREY_SCHEDULER,
    codeWorkers: e.OSPREY_CODE_WORKERS,
  };
}

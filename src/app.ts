import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { systemClock, type Clock } from './domain/clock.js';
import { PageTokenCodec } from './domain/page-token.js';
import { SignedTokens } from './domain/signed-token.js';
import { loadMasterKey } from './master-key.js';
import { ApiKeyService } from './services/api-keys.js';
import { AuditService } from './services/audit.js';
import { AuthService } from './services/auth.js';
import { Keyring } from './services/keyring.js';
import { SecretService } from './services/secrets.js';
import { UserService } from './services/users.js';
import { VariableService } from './services/variables.js';
import { WorkflowService } from './services/workflows.js';
import { ExecutionService } from './services/executions.js';
import { ActivityLogService } from './services/activity-logs.js';
import { Executor } from './engine/executor.js';
import { RunQueue } from './engine/run-queue.js';
import { LazyCodeSandbox } from './engine/lazy-code-sandbox.js';
import { ApprovalLinkSigner } from './domain/approval-token.js';
import { WebhookService } from './services/webhooks.js';
import { ApprovalService } from './services/approvals.js';
import { ExpressionRuntime } from './engine/expressions.js';
import { AppRuntime } from './integrations/apps/app-runtime.js';
import { AppCatalogue } from './integrations/apps/catalogue.js';
import { nativeHandlers } from './integrations/apps/native-handlers.js';
import { OAuth2Tokens } from './integrations/apps/oauth2.js';
import { OutboundHttp } from './integrations/http/outbound.js';
import { HttpClient } from './integrations/http/request.js';
import { AppService } from './services/apps.js';
import { IntegrationService } from './services/integrations.js';
import { PersistentListService } from './services/persistent-lists.js';
import { EmailTemplateService } from './services/email-templates.js';
import { TagService } from './services/tags.js';
import { CodeSnippetService } from './services/code-snippets.js';
import { LabelService } from './services/labels.js';
import { EventTriggerService } from './services/event-triggers.js';
import { EventService } from './services/events.js';
import { EventWebhookService } from './services/event-webhooks.js';
import { AnalyticsService } from './services/analytics.js';
import { RunLogService } from './services/run-logs.js';
import { LogStreamService } from './services/log-streams.js';
import { TemplateService } from './services/templates.js';
import type { AppManifest } from './domain/apps/manifest.js';
import { WorkspaceService } from './services/workspaces.js';
import { Database } from './store/database.js';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from './store/embedded-postgres.js';
import { migrate } from './store/migrate.js';
import { deleteExpiredTokens } from './store/tokens.js';
import { pruneTriggerEvents } from './store/webhooks.js';
import { pruneEvents } from './store/events.js';
import { FinishedRuns } from './store/finished-runs.js';
import { StepRunBatcher } from './store/step-run-batcher.js';

/** Every service, wired once; the three API surfaces and the CLI all call these. */
export interface Services {
  db: Database;
  keyring: Keyring;
  audit: AuditService;
  apiKeys: ApiKeyService;
  auth: AuthService;
  workspaces: WorkspaceService;
  users: UserService;
  secrets: SecretService;
  variables: VariableService;
  workflows: WorkflowService;
  executions: ExecutionService;
  activityLogs: ActivityLogService;
  webhooks: WebhookService;
  approvals: ApprovalService;
  apps: AppService;
  integrations: IntegrationService;
  persistentLists: PersistentListService;
  emailTemplates: EmailTemplateService;
  tags: TagService;
  codeSnippets: CodeSnippetService;
  labels: LabelService;
  eventTriggers: EventTriggerService;
  events: EventService;
  eventWebhooks: EventWebhookService;
  analytics: AnalyticsService;
  runLogs: RunLogService;
  logStreams: LogStreamService;
  templates: TemplateService;
  /** Outbound HTTP with the installation's SSRF guard (log streams deliver through it). */
  outbound: OutboundHttp;
  /** Signs the Orchestrate API's short-lived download links. */
  exportLinks: SignedTokens;
  /** Where callers reach this installation (OSPREY_PUBLIC_URL). */
  publicUrl: string;
  /** The manifests of the apps a workspace can use (built-in and custom). */
  appManifests(workspaceId: string): Promise<AppManifest[]>;
  /** Tells waiting callers that runs ended; closed with the HTTP server. */
  finished: FinishedRuns;
  queue: RunQueue;
  /** Runs executions; workers (engine/worker.ts) drive it. */
  executor: Executor;
  /** Deletes expired tokens and sessions and prunes the audit log past retention. */
  maintain(): Promise<void>;
}

export function createServices(
  db: Database,
  masterKey: Buffer,
  config: Config,
  clock: Clock = systemClock,
): Services {
  const now = (): number => clock.now();
  const keyring = new Keyring(masterKey, db);
  const pageTokens = new PageTokenCodec(
    createHmac('sha256', masterKey).update('osprey page tokens').digest(),
  );
  const audit = new AuditService({ db, clock, pageTokens });
  const apiKeys = new ApiKeyService({ db, keyring, audit, now });
  const auth = new AuthService({
    db,
    apiKeys,
    audit,
    keyring,
    now,
    tokenTtlSeconds: config.tokenTtlSeconds,
    sessionTtlHours: config.sessionTtlHours,
  });
  const secrets = new SecretService({ db, keyring, audit, pageTokens });
  const variables = new VariableService({ db, audit, pageTokens });
  const approvalLinks = new ApprovalLinkSigner(
    createHmac('sha256', masterKey).update('osprey approval links').digest(),
  );
  const queue = new RunQueue({ defaultRetentionDays: config.executionRetentionDays });
  const finished = new FinishedRuns(db);
  const tags = new TagService({ db, audit, pageTokens });
  const executions = new ExecutionService({
    db,
    clock,
    pageTokens,
    queue,
    audit,
    finished,
    mayRun: (sql, principal, workflow) => tags.assertMayRun(sql, principal, workflow),
  });
  const webhooks = new WebhookService({
    db,
    clock,
    keyring,
    audit,
    queue,
    finished,
    revealSecret: (workspaceId, name) => secrets.reveal(workspaceId, name),
    ratePerSecond: config.webhookRatePerSecond,
    syncTimeoutMs: config.webhookSyncTimeoutMs,
    publicUrl: config.publicUrl,
  });
  const expressions = new ExpressionRuntime();
  const code = new LazyCodeSandbox({ size: config.codeWorkers });
  const outbound = new OutboundHttp({ allow: config.httpAllowNetworks });
  const persistentLists = new PersistentListService({ db, audit, pageTokens });
  const emailTemplates = new EmailTemplateService({ db, audit, pageTokens });
  const codeSnippets = new CodeSnippetService({ db, audit, pageTokens });
  const labels = new LabelService({ db, audit, pageTokens });
  const events = new EventService({ db, queue, pageTokens });
  const native = nativeHandlers(new HttpClient(outbound), persistentLists, emailTemplates);
  const catalogue = new AppCatalogue(db, new Set([...native.handlers.keys(), ...native.tests.keys()]));
  const integrations = new IntegrationService({
    db,
    keyring,
    audit,
    pageTokens,
    catalogue,
    runtime: new AppRuntime({
      http: outbound,
      expressions,
      code,
      handlers: native.handlers,
      tests: native.tests,
      oauth: new OAuth2Tokens(outbound),
      catalogue,
    }),
  });
  const workflows = new WorkflowService({
    db,
    audit,
    pageTokens,
    webhooks,
    actions: (workspaceId) => catalogue.actionShapes(workspaceId),
  });
  const appManifests = async (workspaceId: string): Promise<AppManifest[]> =>
    (await catalogue.list(workspaceId)).map((a) => a.manifest);
  const executor = new Executor({
    db,
    clock,
    expressions,
    async resolveSecrets(workspaceId, names) {
      const out: Record<string, string> = {};
      for (const name of names) {
        const value = await secrets.reveal(workspaceId, name);
        if (value !== undefined) out[name] = value;
      }
      return out;
    },
    resolveVariables: (workspaceId, names) => variables.valuesByName(workspaceId, names),
    actions: integrations,
    queue,
    code,
    snippets: (workspaceId, names) => codeSnippets.source(workspaceId, names),
    approvals: { signer: approvalLinks, publicUrl: config.publicUrl },
    inlineOutputBytes: config.stepOutputInlineBytes,
    maxExecutionBytes: config.executionMaxBytes,
    checkpoints: new StepRunBatcher(db),
  });
  return {
    db,
    keyring,
    audit,
    apiKeys,
    auth,
    workspaces: new WorkspaceService({ db, audit, apiKeys }),
    users: new UserService({ db, audit, now }),
    secrets,
    variables,
    executions,
    activityLogs: new ActivityLogService({ db, clock, pageTokens }),
    executor,
    workflows,
    templates: new TemplateService({ workflows }),
    webhooks,
    queue,
    finished,
    approvals: new ApprovalService({ db, clock, audit, signer: approvalLinks }),
    apps: new AppService({ db, audit, catalogue }),
    integrations,
    persistentLists,
    emailTemplates,
    tags,
    codeSnippets,
    labels,
    eventTriggers: new EventTriggerService({ db, audit, labels }),
    events,
    eventWebhooks: new EventWebhookService({
      db,
      audit,
      events,
      publicUrl: config.publicUrl,
      clock,
      ratePerSecond: config.webhookRatePerSecond,
    }),
    analytics: new AnalyticsService({ db, apps: appManifests }),
    runLogs: new RunLogService({ db, executions }),
    logStreams: new LogStreamService({ db, audit }),
    outbound,
    exportLinks: new SignedTokens(createHmac('sha256', masterKey).update('osprey export links').digest()),
    publicUrl: config.publicUrl,
    appManifests,
    async maintain() {
      // Picks up a data key rotated by another process, so new values are sealed with it.
      await keyring.load();
      await deleteExpiredTokens(db);
      await audit.prune(config.auditRetentionDays);
      await executions.prune();
      await pruneTriggerEvents(db, config.executionRetentionDays);
      await pruneEvents(db, config.executionRetentionDays);
    },
  };
}

export interface Runtime {
  services: Services;
  embedded: EmbeddedPostgresHandle | undefined;
  /** Closes the pool, then stops the embedded server if this process started it. */
  close(): Promise<void>;
}

/**
 * Connects to Postgres (DATABASE_URL, or the embedded server under the data directory), applies
 * migrations, loads the keyring. `shareEmbedded` makes a CLI command use a running server's database.
 */
export async function openRuntime(
  config: Config,
  logger: Logger,
  options: { shareEmbedded?: boolean } = {},
): Promise<Runtime> {
  let embedded: EmbeddedPostgresHandle | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      reuseRunning: options.shareEmbedded ?? false,
      log: (m) => logger.debug({ component: 'postgres' }, m),
    });
    url = embedded.connectionString;
    logger.info({ dataDir: config.dataDir, shared: embedded.shared }, 'embedded PostgreSQL ready');
  }
  const db = new Database({ connectionString: url, max: config.dbPoolSize });
  try {
    const report = await migrate(db);
    if (report.applied.length) logger.info({ applied: report.applied }, 'database migrated');
    const master = await loadMasterKey(config.masterKey, config.dataDir, (m) => logger.warn(m));
    if (master.source === 'new-file') {
      logger.warn(
        { file: `${config.dataDir}/master.key` },
        'created a new master key file; back it up: without it, secrets cannot be decrypted',
      );
    }
    const services = createServices(db, master.key, config);
    await services.keyring.load();
    return {
      services,
      embedded,
      async close() {
        await db.close();
        await embedded?.stop();
      },
    };
  } catch (error) {
    await db.close().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import type { Clock } from '../domain/clock.js';
import { OspreyError, notFound } from '../domain/errors.js';
import { newId, randomToken } from '../domain/ids.js';
import type { RunQueue } from '../engine/run-queue.js';
import type { Database, Sql } from '../store/database.js';
import { TERMINAL_STATUSES, executionById } from '../store/executions.js';
import type { FinishedRuns } from '../store/finished-runs.js';
import {
  insertTriggerEvent,
  sealedWebhookToken,
  setWebhookToken,
  workflowByWebhookHash,
  type WebhookTarget,
} from '../store/webhooks.js';
import { toExecutionView, type ExecutionView } from './executions.js';
import { rowAad, type Keyring } from './keyring.js';
import type { AuditService } from './audit.js';
import { PerSecondLimit } from './per-second-limit.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { workflowById } from '../store/workflows.js';
import { mediaType, parseWebhookBody } from './webhook-payload.js';

export interface WebhookRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
  query: Record<string, unknown>;
  sourceIp: string;
}

export type WebhookResult =
  | { kind: 'queued'; execution_id: string }
  | { kind: 'finished'; execution: ExecutionView }
  | { kind: 'still-running'; execution_id: string };

export interface WebhookServiceDeps {
  db: Database;
  clock: Clock;
  keyring: Keyring;
  audit: AuditService;
  queue: RunQueue;
  finished: FinishedRuns;
  revealSecret(workspaceId: string, name: string): Promise<string | undefined>;
  /** Requests per second each workflow's webhook accepts (per process). */
  ratePerSecond: number;
  /** How long a `/sync` call waits for the run to end before answering 202 with its id. */
  syncTimeoutMs: number;
  /** The externally reachable base URL, for the webhook URLs shown to editors. */
  publicUrl: string;
}

const ACCEPTED_METHODS = ['POST', 'GET'];

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sameSecret(a: string, b: string): boolean {
  const x = sha256(a);
  const y = sha256(b);
  return timingSafeEqual(x, y);
}

/** `content-type` → `Content-Type`: the canonical spelling Torq's raw events use. */
function canonical(name: string): string {
  return name
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1).toLowerCase())
    .join('-');
}

/** Headers as `{Name: [values]}` (raw mode), with the required header's, authorization and cookie values hidden. */
function headerLists(
  headers: WebhookRequest['headers'],
  hidden: string | undefined,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const secret = lower === hidden || lower === 'authorization' || lower === 'cookie';
    const values = Array.isArray(value) ? value : [value];
    out[canonical(name)] = secret ? values.map(() => '[secret]') : values;
  }
  return out;
}

/**
 * Webhook triggers: each webhook-triggered workflow has a secret URL token (only its SHA-256 is
 * looked up; the token is sealed so editors can read the URL again). A delivery queues a run of the
 * published revision; `/sync` waits for its exit output.
 */
export class WebhookService {
  constructor(private readonly deps: WebhookServiceDeps) {
    this.#limit = new PerSecondLimit(deps.clock, deps.ratePerSecond, 'this webhook');
  }

  readonly #limit: PerSecondLimit;

  /** Gives a workflow a new URL token (in the caller's transaction); the old one stops working. */
  async issueToken(tx: Sql, workflowId: string): Promise<string> {
    const token = randomToken(24);
    const sealed = this.deps.keyring.encrypt(token, rowAad('workflows', workflowId));
    await setWebhookToken(tx, workflowId, {
      hash: sha256(token),
      sealed: sealed.data,
      version: sealed.version,
    });
    return token;
  }

  urlFor(token: string): { url: string; sync_url: string } {
    const base = `${this.deps.publicUrl.replace(/\/+$/, '')}/v1/webhooks/${token}`;
    return { url: base, sync_url: `${base}/sync` };
  }

  /** A new URL for the workflow; the old one answers 404 from now on. */
  async rotate(principal: Principal, workflowId: string): Promise<{ url: string; sync_url: string }> {
    authorize(principal, 'workflows.edit');
    return this.deps.db.transaction(async (tx) => {
      const row = await workflowById(tx, principal.workspaceId, workflowId, true);
      if (!row) throw notFound('WORKFLOW_NOT_FOUND', 'workflow', workflowId);
      if (row.trigger_type !== 'webhook') {
        throw new OspreyError('CONFLICT', 409, 'the workflow has no webhook trigger', {
          details: [{ field: 'trigger.type', message: 'set trigger.type to webhook to get a URL' }],
        });
      }
      const token = await this.issueToken(tx, workflowId);
      await this.deps.audit.record(tx, principal, {
        action: AUDIT_ACTIONS.workflowWebhookRotated,
        resourceId: row.id,
        resourceName: row.name,
        extraData: { revision_id: row.current_revision_id },
      });
      return this.urlFor(token);
    });
  }

  /** The workflow's webhook URLs; editors only, as the URL is a credential. */
  async show(principal: Principal, workflowId: string): Promise<{ url: string; sync_url: string }> {
    authorize(principal, 'workflows.edit');
    const sealed = await sealedWebhookToken(this.deps.db, principal.workspaceId, workflowId);
    if (!sealed) throw notFound('WORKFLOW_NOT_FOUND', 'workflow', workflowId);
    if (!sealed.data || sealed.version === null) {
      throw new OspreyError('CONFLICT', 409, 'the workflow has no webhook trigger', {
        details: [{ field: 'trigger.type', message: 'set trigger.type to webhook to get a URL' }],
      });
    }
    const token = await this.deps.keyring.decrypt(
      sealed.data,
      sealed.version,
      rowAad('workflows', workflowId),
    );
    return this.urlFor(token);
  }

  async #refuse(target: WebhookTarget, reason: string, body: unknown, error: OspreyError): Promise<never> {
    await insertTriggerEvent(this.deps.db, {
      id: newId(),
      workspace_id: target.workspace_id,
      workflow_id: target.workflow_id,
      workflow_name: target.name,
      source: 'webhook',
      reason,
      body,
    });
    throw error;
  }

  /** Handles one delivery to `/v1/webhooks/{token}` (or `…/sync`). */
  async receive(
    token: string,
    request: WebhookRequest,
    sync: boolean,
    workflowId?: string,
  ): Promise<WebhookResult> {
    const method = request.method.toUpperCase();
    if (!ACCEPTED_METHODS.includes(method)) {
      throw new OspreyError(
        'METHOD_NOT_ALLOWED',
        405,
        `webhooks accept ${ACCEPTED_METHODS.join(' and ')}, not ${method}`,
        {
          headers: { allow: `${ACCEPTED_METHODS.join(', ')}, OPTIONS` },
        },
      );
    }
    const target = token.length <= 200 ? await workflowByWebhookHash(this.deps.db, sha256(token)) : undefined;
    if (!target || (workflowId !== undefined && workflowId.toLowerCase() !== target.workflow_id)) {
      throw new OspreyError('WEBHOOK_NOT_FOUND', 404, 'no workflow listens on this webhook URL');
    }
    this.#limit.take(target.workflow_id);
    const revisionId = target.published_revision_id;
    // The published revision decides: editing the draft changes nothing until it is published.
    const definition = revisionId ? await this.deps.queue.definition(this.deps.db, revisionId) : undefined;
    if ((definition?.trigger.type ?? target.trigger_type) !== 'webhook') {
      throw new OspreyError('WEBHOOK_NOT_FOUND', 404, 'no workflow listens on this webhook URL');
    }
    const trigger = definition?.trigger as
      { type: string; raw?: boolean; required_header?: { name: string; secret: string } } | undefined;
    const required = trigger?.required_header;
    // The header is checked before the body is read: a caller without it learns nothing else.
    if (required) {
      const sent = request.headers[required.name.toLowerCase()];
      const expected = await this.deps.revealSecret(target.workspace_id, required.secret);
      const given = Array.isArray(sent) ? sent[0] : sent;
      if (expected === undefined || given === undefined || !sameSecret(given, expected)) {
        await this.#refuse(
          target,
          given === undefined
            ? `the ${required.name} header is missing`
            : `the ${required.name} header is wrong`,
          null,
          new OspreyError('WEBHOOK_UNAUTHORIZED', 401, `this webhook needs a valid ${required.name} header`),
        );
      }
    }
    const raw = trigger?.raw === true;
    const parsed =
      method === 'GET'
        ? { ...request.query }
        : parseWebhookBody(request.body, request.headers['content-type'] as string | undefined, raw);
    const event = raw
      ? {
          body: parsed,
          headers: headerLists(request.headers, required?.name.toLowerCase()),
          http_method: method,
        }
      : parsed;
    if (!revisionId || !definition) {
      return this.#refuse(
        target,
        'the workflow is not published',
        event,
        new OspreyError(
          'WEBHOOK_INACTIVE',
          409,
          'the workflow is not published; publish it to receive webhooks',
        ),
      );
    }
    if (!target.enabled) {
      return this.#refuse(
        target,
        'the trigger is disabled',
        event,
        new OspreyError('WEBHOOK_INACTIVE', 409, "the workflow's trigger is disabled"),
      );
    }
    // One statement (insert and notify): no explicit transaction needed.
    const row = await this.deps.queue.enqueue(this.deps.db, {
      workspaceId: target.workspace_id,
      workflowId: target.workflow_id,
      revisionId,
      trigger: {
        type: 'webhook',
        revision: 'published',
        http_method: method,
        content_type: mediaType(request.headers['content-type'] as string | undefined),
        source_ip: request.sourceIp,
        sync,
      },
      input: event,
    });
    if (!sync) return { kind: 'queued', execution_id: row.id };
    const ended = await this.deps.finished.waitFor(
      row.id,
      async () => {
        const current = await executionById(this.deps.db, target.workspace_id, row.id);
        return current && TERMINAL_STATUSES.has(current.status) ? current : undefined;
      },
      this.deps.syncTimeoutMs,
    );
    return ended
      ? { kind: 'finished', execution: toExecutionView(ended) }
      : { kind: 'still-running', execution_id: row.id };
  }
}

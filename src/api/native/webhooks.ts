import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { ErrorCode } from '../../domain/error-codes.js';
import type { ExecutionView } from '../../services/executions.js';
import type { WebhookResult } from '../../services/webhooks.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const TokenParams = Type.Object({ token: Type.String({ minLength: 1 }) });
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** An exit output shaped `{status_code, body, headers?}` sets the `/sync` response; anything else is the body. */
function syncResponse(reply: FastifyReply, execution: ExecutionView): FastifyReply {
  if (execution.status !== 'succeeded') {
    return reply.status(500).send({
      code: 'EXECUTION_FAILED' satisfies ErrorCode,
      message: execution.error?.message ?? `the execution ended ${execution.status}`,
      details: [],
      execution_id: execution.id,
      status: execution.status,
      error: execution.error,
      output: execution.output,
    });
  }
  const out = execution.output as { status_code?: unknown; body?: unknown; headers?: unknown } | null;
  if (
    out &&
    typeof out === 'object' &&
    Number.isInteger(out.status_code) &&
    (out.status_code as number) >= 200 &&
    (out.status_code as number) <= 599 &&
    'body' in out
  ) {
    if (out.headers && typeof out.headers === 'object') {
      for (const [name, value] of Object.entries(out.headers as Record<string, unknown>)) {
        if (typeof value === 'string' && /^[A-Za-z0-9-]+$/.test(name)) void reply.header(name, value);
      }
    }
    const body = out.body;
    if (typeof body !== 'string' && !reply.hasHeader('content-type'))
      void reply.header('content-type', 'application/json; charset=utf-8');
    return reply
      .status(out.status_code as number)
      .send(typeof body === 'string' ? body : JSON.stringify(body ?? null));
  }
  return reply
    .status(200)
    .header('x-osprey-execution-id', execution.id)
    .send(execution.output ?? null);
}

function answer(reply: FastifyReply, result: WebhookResult): FastifyReply {
  switch (result.kind) {
    case 'queued':
      return reply.status(200).send({ execution_id: result.execution_id, status: 'ok' });
    case 'still-running':
      return reply.status(202).send({ execution_id: result.execution_id, status: 'running' });
    case 'finished':
      return syncResponse(reply, result.execution);
    default: {
      const unknownKind: never = result;
      throw new Error(`unknown webhook result ${String(unknownKind)}`);
    }
  }
}

/**
 * Webhook triggers: public URLs whose token is the credential (plus an optional required header).
 * Bodies are read raw here and parsed by the service by content type.
 */
export function webhookRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    const handle = (sync: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
      if (request.method === 'OPTIONS') return reply.status(204).header('allow', 'GET, POST, OPTIONS').send();
      const { token, workflowId } = request.params as { token: string; workflowId?: string };
      const result = await services.webhooks.receive(
        token,
        {
          method: request.method,
          headers: request.headers,
          body: Buffer.isBuffer(request.body) ? request.body : undefined,
          query: request.query as Record<string, unknown>,
          sourceIp: request.ip,
        },
        sync,
        workflowId,
      );
      return answer(reply, result);
    };
    // Webhooks have their own per-workflow limit; the per-caller API limit does not apply.
    const config = { public: true, rateLimit: false as const };
    const schema = { tags: ['webhooks'], params: TokenParams, hide: false };
    app.route({
      method: [...METHODS],
      url: '/webhooks/:token',
      config,
      schema: { ...schema, summary: 'Trigger a workflow (answers with the execution id)' },
      handler: handle(false),
    });
    app.route({
      method: [...METHODS],
      url: '/webhooks/:token/sync',
      config,
      schema: { ...schema, summary: 'Trigger a workflow and answer with its exit output' },
      handler: handle(true),
    });
    // Torq's per-workflow URL shapes (…/webhooks/{id}/workflows/{workflow_id}[/sync]); the
    // workflow id must be the token's own workflow.
    const TorqParams = Type.Object({ token: Type.String({ minLength: 1 }), workflowId: Type.String() });
    app.route({
      method: [...METHODS],
      url: '/webhooks/:token/workflows/:workflowId',
      config,
      schema: { ...schema, params: TorqParams, summary: "Torq's asynchronous URL shape" },
      handler: handle(false),
    });
    app.route({
      method: [...METHODS],
      url: '/webhooks/:token/workflows/:workflowId/sync',
      config,
      schema: { ...schema, params: TorqParams, summary: "Torq's synchronous URL shape" },
      handler: handle(true),
    });
  };
}

/** The webhook URL of a workflow, for editors, and its rotation. */
export function webhookAdminRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    const tags = ['workflows'];
    app.get(
      '/workflows/:id/webhook',
      {
        schema: {
          tags,
          summary: "The workflow's webhook URLs (editors only)",
          params: IdParams,
          response: ok(),
        },
      },
      async (request) => services.webhooks.show(principalOf(request), request.params.id),
    );
    app.post(
      '/workflows/:id/webhook/rotate',
      {
        schema: {
          tags,
          summary: 'A new webhook URL; the old one stops working',
          params: IdParams,
          response: ok(),
        },
      },
      async (request) => services.webhooks.rotate(principalOf(request), request.params.id),
    );
  };
}

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { EventWebhookRow } from '../../services/event-webhooks.js';
import type { EventInput } from '../../services/events.js';
import { conciseEvent, eventObject } from './events.js';

const Token = Type.Object({ token: Type.Optional(Type.String({ maxLength: 200 })) });
const Data = Type.Optional(
  Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Array(Type.Unknown())], {
    description: 'event data',
  }),
);
const Fields = {
  title: Type.String({ minLength: 1, maxLength: 500 }),
  data: Data,
  extra_data: Data,
  labels: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 50 })),
  source: Type.Optional(Type.String({ maxLength: 200 })),
  severity: Type.Optional(Type.String({ maxLength: 50 })),
};
const Identifier = Type.String({ minLength: 1, maxLength: 200 });

const hooks = new WeakMap<FastifyRequest, EventWebhookRow>();

function hookOf(request: FastifyRequest): EventWebhookRow {
  const hook = hooks.get(request);
  if (!hook) throw new Error('webhook route without its token check');
  return hook;
}

/**
 * Orchestrate's inbound webhooks under /soarapi/webhooks_auth: `?token=` instead of a signature.
 * `/events/` answers the detailed event; `/v2/events/` (and `/events/v2/`) the concise one.
 */
export function orchestrateWebhookRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    // Token-authenticated, with their own per-webhook limit: the per-caller API limit does not apply.
    const config = { public: true, rateLimit: false as const };
    // The token is checked before the body: a caller without it learns nothing else.
    const preValidation = async (request: FastifyRequest): Promise<void> => {
      const token = (request.query as { token?: unknown }).token;
      hooks.set(
        request,
        await services.eventWebhooks.authenticate(typeof token === 'string' ? token : undefined),
      );
    };
    const tags = ['orchestrate'];
    for (const [base, concise] of [
      ['/events', false],
      ['/v2/events', true],
      ['/events/v2', true],
    ] as const) {
      const answer = async (
        request: FastifyRequest,
        input: Omit<EventInput, 'data' | 'extra_data'> & { data?: unknown; extra_data?: unknown },
      ): Promise<Record<string, unknown>> => {
        const hook = hookOf(request);
        const e = await services.eventWebhooks.receive(hook, input);
        return concise ? conciseEvent(e) : eventObject(services, hook.workspace_id, e);
      };
      app.get(
        `${base}/test_connectivity/`,
        { config, preValidation, schema: { tags, querystring: Token } },
        () => ({
          status: 'ok',
        }),
      );
      app.post(
        `${base}/`,
        {
          config,
          preValidation,
          schema: {
            tags,
            querystring: Token,
            body: Type.Object(
              { ...Fields, app_identifier: Identifier, action_identifier: Identifier },
              { additionalProperties: false },
            ),
          },
        },
        async (request, reply) => {
          const { title, app_identifier, action_identifier, data, extra_data, labels } = request.body;
          const input = { title, app_identifier, action_identifier, data, extra_data, labels };
          return reply.status(201).send(await answer(request, input));
        },
      );
      app.post(
        `${base}/:app/:action/`,
        {
          config,
          preValidation,
          schema: {
            tags,
            querystring: Token,
            params: Type.Object({ app: Identifier, action: Identifier }),
            body: Type.Object(Fields, { additionalProperties: false }),
          },
        },
        async (request, reply) => {
          const { title, data, extra_data, labels } = request.body;
          const rest = { title, data, extra_data, labels };
          return reply.status(201).send(
            await answer(request, {
              ...rest,
              app_identifier: request.params.app,
              action_identifier: request.params.action,
            }),
          );
        },
      );
    }
  };
}

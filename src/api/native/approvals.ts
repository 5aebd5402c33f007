import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Services } from '../../app.js';
import type { ApprovalView } from '../../services/approvals.js';
import { IdParams, ok } from '../common-schemas.js';
import { principalOf } from '../plugins/auth.js';

const TokenParams = Type.Object({ token: Type.String({ minLength: 10, maxLength: 2000 }) });
const AnswerBody = Type.Object(
  {
    outcome: Type.String({ minLength: 1, maxLength: 200 }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page an approval link opens in a browser: the question and one button per option. */
function page(view: ApprovalView & { approver: string | null }, token: string): string {
  const body =
    view.status === 'pending'
      ? `<form method="post" action="${escapeHtml(token)}">
<p><label>Comment <input name="comment" maxlength="2000"></label></p>
${view.options.map((o) => `<button name="outcome" value="${escapeHtml(o)}">${escapeHtml(o)}</button>`).join('\n')}
</form>`
      : `<p>This approval is ${view.status}${view.outcome ? `: ${escapeHtml(view.outcome)}` : ''}.</p>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>Osprey approval</title></head>
<body><h1>Approval requested</h1><p>${escapeHtml(view.message)}</p>
<p>For: ${escapeHtml(view.approver ?? 'anyone holding this link')}. Expires ${escapeHtml(view.expires_at)}.</p>
${body}</body></html>`;
}

/** Approval links (public: the signed link is the credential) and answers by signed-in members. */
export function approvalRoutes(services: Services): FastifyPluginAsyncTypebox {
  return async (app) => {
    await app.register(formbody);
    const tags = ['approvals'];
    const approvals = services.approvals;
    app.get(
      '/approvals/:token',
      {
        config: { public: true },
        schema: { tags, summary: 'What an approval link asks', params: TokenParams },
      },
      async (request, reply) => {
        const view = await approvals.byLink(request.params.token);
        if ((request.headers.accept ?? '').includes('text/html')) {
          return reply.type('text/html; charset=utf-8').send(page(view, request.params.token));
        }
        return { approval: view };
      },
    );
    app.post(
      '/approvals/:token',
      {
        config: { public: true },
        schema: {
          tags,
          summary: 'Answer through an approval link (single use)',
          params: TokenParams,
          body: AnswerBody,
        },
      },
      async (request, reply) => {
        const view = await approvals.answerByLink(request.params.token, request.body, {
          ip: request.ip,
          userAgent: request.headers['user-agent'] ?? '',
        });
        if ((request.headers.accept ?? '').includes('text/html')) {
          return reply
            .type('text/html; charset=utf-8')
            .send(
              `<!doctype html><p>Thank you: your answer "${escapeHtml(view.outcome ?? '')}" was recorded.</p>`,
            );
        }
        return { approval: view };
      },
    );
    app.get(
      '/approvals',
      {
        schema: {
          tags,
          summary: 'Unanswered approvals (mine=true: those I may answer)',
          querystring: Type.Object({ mine: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
          response: ok(),
        },
      },
      async (request) => ({
        approvals: await approvals.pending(principalOf(request), request.query.mine === true),
      }),
    );
    app.post(
      '/approvals/:id/answer',
      {
        schema: {
          tags,
          summary: 'Answer an approval as the signed-in member',
          params: IdParams,
          body: AnswerBody,
          response: ok(),
        },
      },
      async (request) => ({
        approval: await approvals.answer(principalOf(request), request.params.id, request.body),
      }),
    );
  };
}

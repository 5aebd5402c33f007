import { ActionError } from '../action-error.js';
import type { HttpClient } from '../http/request.js';
import { sendEmail, testSmtp } from '../smtp/send-email.js';
import type { NativeHandler, NativeTest } from './native-handler.js';

/** The `lists` app's actions (persistent lists, services/persistent-lists.ts). */
export const LIST_ACTIONS = ['get', 'get_all', 'put', 'delete', 'append', 'contains'] as const;

/** The native (non-manifest) actions of built-in apps, by the names manifests use in `handler:`. */
export function nativeHandlers(
  http: HttpClient,
  lists: { apply(workspaceId: string, action: string, params: Record<string, unknown>): Promise<unknown> },
  templates: EmailTemplates,
): {
  handlers: Map<string, NativeHandler>;
  tests: Map<string, NativeTest>;
} {
  return {
    handlers: new Map<string, NativeHandler>([
      ['http.request', (ctx) => http.run(ctx.params, ctx.signal, ctx.policy, ctx.retries)],
      ['smtp.send_email', withTemplate(templates, sendEmail)],
      ...LIST_ACTIONS.map(
        (a) =>
          [`lists.${a}`, (ctx) => lists.apply(ctx.workspaceId, a, ctx.params)] as [string, NativeHandler],
      ),
    ]),
    tests: new Map<string, NativeTest>([['smtp.test', testSmtp]]),
  };
}

/** Renders email templates for the email action (services/email-templates.ts). */
export interface EmailTemplates {
  render(
    workspaceId: string,
    ref: string,
    data: Record<string, unknown>,
  ): Promise<{ subject: string; html: string; missing: string[] }>;
}

/** `template` and `template_data` become the message's HTML (and subject, unless given). */
function withTemplate(templates: EmailTemplates, send: NativeHandler): NativeHandler {
  return async (ctx) => {
    const { template, template_data: data, ...params } = ctx.params;
    if (typeof template !== 'string') return send({ ...ctx, params });
    const rendered = await templates.render(
      ctx.workspaceId,
      template,
      (data ?? {}) as Record<string, unknown>,
    );
    if (rendered.missing.length)
      throw new ActionError(
        'INVALID_INPUT',
        `template "${template}" needs ${rendered.missing.join(', ')} in template_data`,
        undefined,
        rendered.missing.map((m) => ({
          field: `template_data.${m}`,
          message: 'is required by the template',
        })),
      );
    return send({
      ...ctx,
      params: { ...params, html: rendered.html, subject: params.subject ?? rendered.subject },
    });
  };
}

import type { HttpClient } from '../http/request.js';
import { sendEmail, testSmtp } from '../smtp/send-email.js';
import type { NativeHandler, NativeTest } from './native-handler.js';

/** The `lists` app's actions (persistent lists, services/persistent-lists.ts). */
export const LIST_ACTIONS = ['get', 'get_all', 'put', 'delete', 'append', 'contains'] as const;

/** The native (non-manifest) actions of built-in apps, by the names manifests use in `handler:`. */
export function nativeHandlers(
  http: HttpClient,
  lists: { apply(workspaceId: string, action: string, params: Record<string, unknown>): Promise<unknown> },
): {
  handlers: Map<string, NativeHandler>;
  tests: Map<string, NativeTest>;
} {
  return {
    handlers: new Map<string, NativeHandler>([
      ['http.request', (ctx) => http.run(ctx.params, ctx.signal, ctx.policy, ctx.retries)],
      ['smtp.send_email', sendEmail],
      ...LIST_ACTIONS.map(
        (a) =>
          [`lists.${a}`, (ctx) => lists.apply(ctx.workspaceId, a, ctx.params)] as [string, NativeHandler],
      ),
    ]),
    tests: new Map<string, NativeTest>([['smtp.test', testSmtp]]),
  };
}

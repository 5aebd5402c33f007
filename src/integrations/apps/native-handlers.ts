import type { HttpClient } from '../http/request.js';
import { sendEmail, testSmtp } from '../smtp/send-email.js';
import type { NativeHandler, NativeTest } from './native-handler.js';

/** The native (non-manifest) actions of built-in apps, by the names manifests use in `handler:`. */
export function nativeHandlers(http: HttpClient): {
  handlers: Map<string, NativeHandler>;
  tests: Map<string, NativeTest>;
} {
  return {
    handlers: new Map<string, NativeHandler>([
      ['http.request', (ctx) => http.run(ctx.params, ctx.signal, ctx.policy, ctx.retries)],
      ['smtp.send_email', sendEmail],
    ]),
    tests: new Map<string, NativeTest>([['smtp.test', testSmtp]]),
  };
}

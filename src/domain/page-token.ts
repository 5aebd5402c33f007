import { createHmac, timingSafeEqual } from 'node:crypto';
import { invalidArgument } from './errors.js';

/**
 * Opaque, signed page tokens. The payload is the cursor plus the query it belongs to, so a token
 * cannot be forged or replayed against another query without a 400 that names `page_token`.
 */
export class PageTokenCodec {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  encode(payload: Record<string, unknown>): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.#sign(body)}`;
  }

  decode(token: string, field = 'page_token'): Record<string, unknown> {
    const [body, signature, extra] = token.split('.');
    if (!body || !signature || extra !== undefined) {
      throw invalidArgument(field, `${field} is not a token this server issued`, 'INVALID_PAGE_TOKEN');
    }
    const expected = Buffer.from(this.#sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw invalidArgument(field, `${field} is not a token this server issued`, 'INVALID_PAGE_TOKEN');
    }
    const parsed: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw invalidArgument(field, `${field} is malformed`, 'INVALID_PAGE_TOKEN');
    }
    return parsed as Record<string, unknown>;
  }

  #sign(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url').slice(0, 22);
  }
}

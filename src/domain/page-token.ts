import { invalidArgument } from './errors.js';
import { SignedTokens } from './signed-token.js';

/**
 * Opaque, signed page tokens. The payload is the cursor plus the query it belongs to, so a token
 * cannot be forged or replayed against another query without a 400 that names `page_token`.
 */
export class PageTokenCodec {
  readonly #tokens: SignedTokens;

  constructor(key: Buffer) {
    this.#tokens = new SignedTokens(key);
  }

  encode(payload: Record<string, unknown>): string {
    return this.#tokens.sign(payload);
  }

  decode(token: string, field = 'page_token'): Record<string, unknown> {
    const payload = this.#tokens.open(token);
    if (!payload) {
      throw invalidArgument(field, `${field} is not a token this server issued`, 'INVALID_PAGE_TOKEN');
    }
    return payload;
  }
}

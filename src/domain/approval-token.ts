import { createHmac, timingSafeEqual } from 'node:crypto';
import { OspreyError } from './errors.js';

export interface ApprovalLink {
  /** The approval (one asked question). */
  approvalId: string;
  /** Who the link was made for; null for a link anyone holding it may answer. */
  approver: string | null;
  /** Milliseconds since the epoch after which the link is refused. */
  expiresAt: number;
}

function notValid(): OspreyError {
  return new OspreyError('APPROVAL_NOT_FOUND', 404, 'this approval link is not valid', {
    details: [{ field: 'token', message: 'not a link this server issued' }],
  });
}

/**
 * Signed approval links: the token names the approval, the approver and the expiry, and an HMAC
 * proves Osprey made it. The approval row makes a link single-use.
 */
export class ApprovalLinkSigner {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  sign(link: ApprovalLink): string {
    const body = Buffer.from(
      JSON.stringify({ a: link.approvalId, p: link.approver, x: link.expiresAt }),
    ).toString('base64url');
    return `${body}.${this.#mac(body)}`;
  }

  /** The link's contents; 404 APPROVAL_NOT_FOUND for anything Osprey did not sign. */
  verify(token: string): ApprovalLink {
    const [body, mac, extra] = token.split('.');
    if (!body || !mac || extra !== undefined) throw notValid();
    const expected = Buffer.from(this.#mac(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw notValid();
    const p = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as {
      a?: unknown;
      p?: unknown;
      x?: unknown;
    };
    if (typeof p.a !== 'string' || typeof p.x !== 'number' || (p.p !== null && typeof p.p !== 'string'))
      throw notValid();
    return { approvalId: p.a, approver: p.p, expiresAt: p.x };
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('base64url');
  }
}

import { OspreyError } from './errors.js';
import { SignedTokens } from './signed-token.js';

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
  readonly #tokens: SignedTokens;

  constructor(key: Buffer) {
    this.#tokens = new SignedTokens(key);
  }

  sign(link: ApprovalLink): string {
    return this.#tokens.sign({ a: link.approvalId, p: link.approver, x: link.expiresAt });
  }

  /** The link's contents; 404 APPROVAL_NOT_FOUND for anything Osprey did not sign. */
  verify(token: string): ApprovalLink {
    const p = this.#tokens.open(token);
    if (!p || typeof p.a !== 'string' || typeof p.x !== 'number' || (p.p !== null && typeof p.p !== 'string'))
      throw notValid();
    return { approvalId: p.a, approver: p.p, expiresAt: p.x };
  }
}

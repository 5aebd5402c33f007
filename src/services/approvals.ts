import type { Principal } from '../domain/actor.js';
import type { ApprovalLinkSigner } from '../domain/approval-token.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import { authorize } from '../domain/authorize.js';
import type { Clock } from '../domain/clock.js';
import { OspreyError, invalidArgument, notFound } from '../domain/errors.js';
import type { Database } from '../store/database.js';
import { TERMINAL_STATUSES } from '../store/executions.js';
import { approvalById, decideApproval, pendingApprovals, type ApprovalRow } from '../store/approvals.js';
import type { AuditScope, AuditService } from './audit.js';

export interface ApprovalView {
  id: string;
  execution_id: string;
  step: string;
  message: string;
  options: string[];
  approvers: string[];
  expires_at: string;
  status: 'pending' | 'decided' | 'expired';
  outcome: string | null;
  decided_by: string | null;
  decided_at: string | null;
  comment: string | null;
}

export interface Answer {
  outcome: string;
  comment?: string | undefined;
}

/** A question whose run has ended (cancelled, failed elsewhere) can no longer be answered. */
function runEnded(a: ApprovalRow): boolean {
  return a.execution_status !== undefined && TERMINAL_STATUSES.has(a.execution_status);
}

function toView(a: ApprovalRow, now: number): ApprovalView {
  return {
    id: a.id,
    execution_id: a.execution_id,
    step: a.step_key,
    message: a.message,
    options: a.options,
    approvers: a.approvers,
    expires_at: a.expires_at.toISOString(),
    status: a.decided_at ? 'decided' : a.expires_at.getTime() <= now || runEnded(a) ? 'expired' : 'pending',
    outcome: a.outcome,
    decided_by: a.decided_by,
    decided_at: a.decided_at ? a.decided_at.toISOString() : null,
    comment: a.comment,
  };
}

/**
 * Answers to approval steps, by signed link (no sign-in: the link names the approver) or by a
 * signed-in member. An answer is accepted once, before the expiry, from an allowed approver who is
 * not the person who started the run (unless the step allows it), and wakes the waiting run.
 */
export class ApprovalService {
  constructor(
    private readonly deps: { db: Database; clock: Clock; audit: AuditService; signer: ApprovalLinkSigner },
  ) {}

  async #load(id: string): Promise<ApprovalRow> {
    const row = await approvalById(this.deps.db, id);
    if (!row) throw notFound('APPROVAL_NOT_FOUND', 'approval', id);
    return row;
  }

  /** What a link asks, for the page the link opens. */
  async byLink(token: string): Promise<ApprovalView & { approver: string | null }> {
    const link = this.deps.signer.verify(token);
    const row = await this.#load(link.approvalId);
    return { ...toView(row, this.deps.clock.now()), approver: link.approver };
  }

  async answerByLink(
    token: string,
    answer: Answer,
    meta: { ip: string; userAgent: string },
  ): Promise<ApprovalView> {
    const link = this.deps.signer.verify(token);
    if (link.expiresAt <= this.deps.clock.now()) {
      throw new OspreyError('APPROVAL_EXPIRED', 410, 'this approval link has expired');
    }
    const row = await this.#load(link.approvalId);
    const ws = await this.deps.db.one<{ name: string }>('SELECT name FROM workspaces WHERE id = $1', [
      row.workspace_id,
    ]);
    return this.#answer(row, link.approver, answer, {
      workspaceId: row.workspace_id,
      workspaceName: ws?.name ?? '',
      actor: {
        type: 'web_app',
        email: link.approver ?? '',
        name: link.approver ?? 'holder of an approval link',
        ip: meta.ip,
        userAgent: meta.userAgent,
      },
    });
  }

  async answer(principal: Principal, id: string, answer: Answer): Promise<ApprovalView> {
    authorize(principal, 'workflows.read');
    const row = await approvalById(this.deps.db, id);
    if (!row || row.workspace_id !== principal.workspaceId)
      throw notFound('APPROVAL_NOT_FOUND', 'approval', id);
    const who = principal.actor.email.toLowerCase();
    // Without a list of approvers, anyone who may run workflows may answer.
    if (row.approvers.length === 0) authorize(principal, 'workflows.run');
    return this.#answer(row, who || null, answer, principal);
  }

  async pending(principal: Principal, mine: boolean): Promise<ApprovalView[]> {
    authorize(principal, 'workflows.read');
    const rows = await pendingApprovals(
      this.deps.db,
      principal.workspaceId,
      mine ? principal.actor.email || '-' : undefined,
      500,
    );
    return rows.map((r) => toView(r, this.deps.clock.now()));
  }

  async #answer(
    row: ApprovalRow,
    approver: string | null,
    answer: Answer,
    scope: AuditScope,
  ): Promise<ApprovalView> {
    if (!row.options.includes(answer.outcome)) {
      throw invalidArgument(
        'outcome',
        `outcome must be one of ${row.options.map((o) => `"${o}"`).join(', ')}`,
      );
    }
    if (row.decided_at) {
      throw new OspreyError(
        'APPROVAL_ALREADY_DECIDED',
        409,
        `this approval was already answered (${row.outcome})`,
      );
    }
    if (row.expires_at.getTime() <= this.deps.clock.now()) {
      throw new OspreyError('APPROVAL_EXPIRED', 410, 'this approval has expired');
    }
    if (runEnded(row)) {
      throw new OspreyError(
        'APPROVAL_EXPIRED',
        410,
        `the run this approval belongs to has ended (${row.execution_status})`,
      );
    }
    const who = approver?.toLowerCase() ?? null;
    if (row.approvers.length && (!who || !row.approvers.includes(who))) {
      throw new OspreyError('APPROVER_NOT_ALLOWED', 403, 'you are not one of the approvers of this step');
    }
    if (!row.requester_may_approve && who && row.requester && who === row.requester) {
      throw new OspreyError(
        'APPROVER_NOT_ALLOWED',
        403,
        'the person who started the run cannot approve it; another approver must answer',
      );
    }
    return this.deps.db.transaction(async (tx) => {
      const decided = await decideApproval(tx, row.id, {
        outcome: answer.outcome,
        decided_by: who ?? 'approval link',
        comment: answer.comment ?? null,
      });
      if (!decided) {
        throw new OspreyError('APPROVAL_ALREADY_DECIDED', 409, 'this approval was already answered');
      }
      await this.deps.audit.record(tx, scope, {
        action: AUDIT_ACTIONS.approvalDecided,
        resourceId: row.id,
        resourceName: row.message.slice(0, 200),
        extraData: { execution_id: row.execution_id, step: row.step_key, outcome: answer.outcome },
      });
      return toView(decided, this.deps.clock.now());
    });
  }
}

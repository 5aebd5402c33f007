import { newId } from '../../domain/ids.js';
import type { StepDefinition } from '../../domain/workflow/validate.js';
import { approvalByStep, upsertApproval, type ApprovalRow } from '../../store/approvals.js';
import type { StepRunRow } from '../../store/executions.js';
import { durationMs } from '../duration.js';
import type { Scope } from '../expressions.js';
import { StepFailure, WaitSignal } from '../signals.js';
import type { StepHost } from '../step-host.js';

const DEFAULT_EXPIRY = '24h';

function outcomeOf(a: ApprovalRow): Record<string, unknown> {
  return {
    approval_id: a.id,
    outcome: a.outcome,
    decided_by: a.decided_by,
    comment: a.comment,
    decided_at: a.decided_at ? a.decided_at.toISOString() : null,
    timed_out: false,
  };
}

/**
 * Asks people a question and waits (holding no worker) for the first answer or the expiry. Each
 * approver gets a signed, single-use, expiring link; `notify` steps run first with `$approval`
 * bound (links included) to deliver them. At the expiry the step takes `default_outcome`, or fails
 * with APPROVAL_EXPIRED when there is none.
 */
export async function approval(
  host: StepHost,
  step: StepDefinition,
  key: string,
  ctx: Record<string, unknown>,
  prefix: string,
  bindings: Record<string, unknown>,
  scope: Scope,
  rec: StepRunRow | undefined,
): Promise<unknown> {
  const { db, clock, approvals } = host.deps;
  const existing = rec?.status === 'waiting' ? await approvalByStep(db, host.execution.id, key) : undefined;
  if (existing && rec) {
    if (existing.decided_at) {
      const output = outcomeOf(existing);
      await host.save(step, key, 'succeeded', { input: rec.input, output });
      return output;
    }
    if (existing.expires_at.getTime() > clock.now())
      throw new WaitSignal(existing.expires_at, { kind: 'approval', id: existing.id });
    if (existing.default_outcome === null) {
      throw new StepFailure(
        'APPROVAL_EXPIRED',
        `nobody answered before ${existing.expires_at.toISOString()}`,
        step.id,
      );
    }
    const output = { ...outcomeOf(existing), outcome: existing.default_outcome, timed_out: true };
    await host.save(step, key, 'succeeded', { input: rec.input, output });
    return output;
  }
  const message = String(await host.render(step.message, scope));
  const approvers = ((await host.render(step.approvers ?? [], scope)) as unknown[]).map((a) =>
    String(a).toLowerCase(),
  );
  const options = (step.options as string[] | undefined) ?? ['approve', 'reject'];
  const expiresAt = new Date(
    clock.now() +
      durationMs(
        (step.expires_in as string | undefined) ?? (step.timeout as string | undefined) ?? DEFAULT_EXPIRY,
      ),
  );
  const trigger = host.execution.trigger;
  const row = await upsertApproval(db, {
    id: newId(),
    workspace_id: host.execution.workspace_id,
    execution_id: host.execution.id,
    step_key: key,
    message,
    options,
    approvers,
    requester: typeof trigger.by === 'string' ? trigger.by.toLowerCase() : '',
    requester_may_approve: step.requester_may_approve === true,
    default_outcome: typeof step.default_outcome === 'string' ? step.default_outcome : null,
    expires_at: expiresAt,
  });
  const base = `${approvals.publicUrl.replace(/\/+$/, '')}/v1/approvals/`;
  const expiry = row.expires_at.getTime();
  const links = (approvers.length ? approvers : [null]).map((approver) => ({
    approver,
    url: base + approvals.signer.sign({ approvalId: row.id, approver, expiresAt: expiry }),
  }));
  const input = {
    approval_id: row.id,
    message,
    options,
    approvers,
    expires_at: row.expires_at.toISOString(),
  };
  if (Array.isArray(step.notify) && step.notify.length) {
    // The links are credentials: masked like secrets in whatever the notify steps record.
    for (const link of links) {
      host.conceal(link.url);
      host.conceal(link.url.slice(base.length));
    }
    await host.steps(step.notify as StepDefinition[], { ...ctx }, `${key}.notify.`, {
      ...bindings,
      approval: { ...input, links, url: links[0]!.url },
    });
  }
  await host.save(step, key, 'waiting', { input, resume_at: row.expires_at });
  throw new WaitSignal(row.expires_at, { kind: 'approval', id: row.id });
}

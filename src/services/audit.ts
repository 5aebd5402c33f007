import { SYSTEM_ACTOR, type Actor, type Principal } from '../domain/actor.js';
import { AUDIT_ACTIONS, type AuditAction } from '../domain/audit-actions.js';
import { chainHash } from '../domain/audit-chain.js';
import { authorize } from '../domain/authorize.js';
import type { Clock } from '../domain/clock.js';
import { invalidArgument } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { resolveLogWindow } from '../domain/log-window.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';
import type { Database, Sql } from '../store/database.js';
import { workspaceById } from '../store/workspaces.js';
import {
  GENESIS_HASH,
  appendEntry,
  chainState,
  chainWorkspaces,
  entriesFrom,
  lockChainHead,
  pageEntries,
  pruneOldest,
  type AuditRow,
} from '../store/audit-logs.js';

/** Where an entry is written and by whom. A Principal is one. */
export interface AuditScope {
  workspaceId: string;
  workspaceName: string;
  actor: Actor;
}

export interface AuditEvent {
  action: AuditAction;
  resourceId: string;
  resourceName: string;
  extraData?: Record<string, unknown>;
}

/** An entry as the API returns it: the fields of the seed `003_…`, exactly. */
export interface AuditLogEntry {
  id: string;
  timestamp: string;
  email: string;
  actor_name: string;
  actor_type: string;
  action: string;
  resource_id: string;
  resource_name: string;
  ip: string;
  user_agent: string;
  extra_data: Record<string, unknown>;
  account_id: string;
  account_name: string;
}

export interface AuditListQuery {
  start_time?: string | undefined;
  end_time?: string | undefined;
  page_size?: number | undefined;
  page_token?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
}

export interface BrokenLink {
  workspace_id: string;
  seq: string;
  id: string | null;
  reason: string;
}

export interface VerifyReport {
  workspace_id: string;
  entries_checked: number;
  /** The newest entry's seq and hash: record them elsewhere to detect a rewrite of the whole chain. */
  last_seq: string;
  head_hash: string;
  ok: boolean;
  first_broken: BrokenLink | null;
}

const PRUNE_BATCH = 5000;

export function toAuditEntry(row: AuditRow): AuditLogEntry {
  return {
    id: row.id,
    timestamp: row.ts,
    email: row.email,
    actor_name: row.actor_name,
    actor_type: row.actor_type,
    action: row.action,
    resource_id: row.resource_id,
    resource_name: row.resource_name,
    ip: row.ip,
    user_agent: row.user_agent,
    extra_data: row.extra_data,
    account_id: row.workspace_id,
    account_name: row.account_name,
  };
}

/** What a page token carries: workspace, window (µs), order, and the last entry's seq and ts. */
interface CursorPayload {
  w: string;
  s: string;
  e: string;
  o: 'asc' | 'desc';
  q: string;
  t: string;
}

export interface AuditServiceDeps {
  db: Database;
  clock: Clock;
  pageTokens: PageTokenCodec;
}

/** The append-only, hash-chained audit log. */
export class AuditService {
  constructor(private readonly deps: AuditServiceDeps) {}

  /**
   * Appends one entry inside the caller's transaction, so the entry commits with the change or not
   * at all. Appends are serialised per workspace by the chain head's row lock.
   */
  async record(tx: Sql, scope: AuditScope, event: AuditEvent): Promise<void> {
    const head = await lockChainHead(tx, scope.workspaceId);
    const fields = {
      workspace_id: scope.workspaceId,
      seq: (BigInt(head.last_seq) + 1n).toString(),
      id: newId(),
      ts: head.next_ts,
      email: scope.actor.email,
      actor_name: scope.actor.name,
      actor_type: scope.actor.type,
      action: event.action,
      resource_id: event.resourceId,
      resource_name: event.resourceName,
      ip: scope.actor.ip,
      user_agent: scope.actor.userAgent,
      extra_data: JSON.parse(JSON.stringify(event.extraData ?? {})) as Record<string, unknown>,
      account_name: scope.workspaceName,
    };
    await appendEntry(tx, { ...fields, prev_hash: head.last_hash, hash: chainHash(head.last_hash, fields) });
  }

  /** GET /v1alpha/audit_logs: the seed's window, paging and order rules. Owner only. */
  async list(
    principal: Principal,
    query: AuditListQuery,
  ): Promise<{ audit_logs: AuditLogEntry[]; next_page_token?: string }> {
    authorize(principal, 'audit_logs.read');
    const size = pageSize(query.page_size, 100, 500);
    let window;
    let order = query.order ?? 'desc';
    let after: { seq: string; ts: string } | undefined;
    if (query.page_token) {
      const c = this.deps.pageTokens.decode(query.page_token) as Partial<CursorPayload>;
      if (
        c.w !== principal.workspaceId ||
        typeof c.s !== 'string' ||
        typeof c.e !== 'string' ||
        typeof c.q !== 'string' ||
        typeof c.t !== 'string'
      ) {
        throw invalidArgument('page_token', 'page_token does not belong to this query', 'INVALID_PAGE_TOKEN');
      }
      if (query.order !== undefined && query.order !== c.o) {
        throw invalidArgument(
          'order',
          'order must stay the same while paging with page_token',
          'INVALID_PAGE_TOKEN',
        );
      }
      window = { startMicros: BigInt(c.s), endMicros: BigInt(c.e) };
      order = c.o === 'asc' ? 'asc' : 'desc';
      after = { seq: c.q, ts: c.t };
    } else {
      window = resolveLogWindow(query.start_time, query.end_time, this.deps.clock.now());
    }
    const rows = await pageEntries(this.deps.db, {
      workspaceId: principal.workspaceId,
      ...window,
      order,
      after,
      limit: size + 1,
    });
    const page = rows.slice(0, size);
    const result: { audit_logs: AuditLogEntry[]; next_page_token?: string } = {
      audit_logs: page.map(toAuditEntry),
    };
    const last = page.at(-1);
    if (rows.length > size && last) {
      const payload: CursorPayload = {
        w: principal.workspaceId,
        s: window.startMicros.toString(),
        e: window.endMicros.toString(),
        o: order,
        q: last.seq,
        t: last.ts,
      };
      result.next_page_token = this.deps.pageTokens.encode({ ...payload });
    }
    return result;
  }

  /** Recomputes the workspace's chain and reports the first entry whose link does not hold. */
  async verify(workspaceId: string): Promise<VerifyReport> {
    const db = this.deps.db;
    const state = await chainState(db, workspaceId);
    const report: VerifyReport = {
      workspace_id: workspaceId,
      entries_checked: 0,
      last_seq: state?.last_seq ?? '0',
      head_hash: (state?.last_hash ?? GENESIS_HASH).toString('hex'),
      ok: true,
      first_broken: null,
    };
    if (!state) return report;
    const broken = (seq: bigint, id: string | null, reason: string): VerifyReport => ({
      ...report,
      ok: false,
      first_broken: { workspace_id: workspaceId, seq: seq.toString(), id, reason },
    });
    let expectedSeq = BigInt(state.pruned_through_seq) + 1n;
    let prevHash = state.pruned_last_hash ?? GENESIS_HASH;
    for (;;) {
      const rows = await entriesFrom(db, workspaceId, expectedSeq.toString(), 2000);
      for (const row of rows) {
        if (BigInt(row.seq) !== expectedSeq) return broken(expectedSeq, null, 'entry is missing (deleted)');
        if (!row.prev_hash.equals(prevHash))
          return broken(expectedSeq, row.id, 'prev_hash does not match the previous entry');
        if (!chainHash(prevHash, row).equals(row.hash))
          return broken(expectedSeq, row.id, 'entry was modified after it was written');
        prevHash = row.hash;
        expectedSeq += 1n;
        report.entries_checked += 1;
      }
      if (rows.length < 2000) break;
    }
    const lastSeq = BigInt(state.last_seq);
    if (expectedSeq - 1n !== lastSeq)
      return broken(expectedSeq, null, `entries after seq ${expectedSeq - 1n} are missing`);
    if (lastSeq > 0n && !prevHash.equals(state.last_hash))
      return broken(lastSeq, null, 'the chain head does not match the last entry');
    return report;
  }

  async verifyAll(): Promise<VerifyReport[]> {
    const ids = await chainWorkspaces(this.deps.db);
    const reports: VerifyReport[] = [];
    for (const { workspace_id } of ids) reports.push(await this.verify(workspace_id));
    return reports;
  }

  /** Deletes entries older than the retention period; returns how many were removed per workspace. */
  async prune(retentionDays: number): Promise<{ workspace_id: string; pruned: number }[]> {
    if (retentionDays <= 0) return [];
    const cutoff = new Date(this.deps.clock.now() - retentionDays * 86_400_000);
    const results: { workspace_id: string; pruned: number }[] = [];
    for (const { workspace_id } of await chainWorkspaces(this.deps.db)) {
      let pruned = 0;
      for (;;) {
        // One batch per transaction, recorded in that transaction. Locking the chain head first
        // serialises pruners, so two processes never prune (or record) the same entries.
        const n = await this.deps.db.transaction(async (tx) => {
          await lockChainHead(tx, workspace_id);
          const count = await pruneOldest(tx, workspace_id, cutoff, PRUNE_BATCH);
          if (count > 0) {
            const ws = await workspaceById(tx, workspace_id);
            await this.record(
              tx,
              { workspaceId: workspace_id, workspaceName: ws?.name ?? '', actor: SYSTEM_ACTOR },
              {
                action: AUDIT_ACTIONS.auditLogPruned,
                resourceId: workspace_id,
                resourceName: 'audit log',
                extraData: { pruned: count, older_than: cutoff.toISOString(), retention_days: retentionDays },
              },
            );
          }
          return count;
        });
        pruned += n;
        if (n < PRUNE_BATCH) break;
      }
      if (pruned > 0) results.push({ workspace_id, pruned });
    }
    return results;
  }
}

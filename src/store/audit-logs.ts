import type { ChainedFields } from '../domain/audit-chain.js';
import { microsToIso } from '../domain/log-window.js';
import type { Sql } from './database.js';

export const GENESIS_HASH = Buffer.alloc(32);

/** Timestamps as text with microseconds, so the hash and the API see exactly what is stored. */
const TS = `to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export interface ChainHead {
  last_seq: string;
  last_hash: Buffer;
  next_ts: string;
}

/**
 * Locks the workspace's chain head (creating it on first use) and returns it with the timestamp the
 * next entry gets: now, but never earlier than one microsecond after the previous entry.
 */
export async function lockChainHead(sql: Sql, workspaceId: string): Promise<ChainHead> {
  const head = await sql.one<ChainHead>(
    `INSERT INTO audit_chain_heads AS h (workspace_id, last_hash) VALUES ($1, $2)
     ON CONFLICT (workspace_id) DO UPDATE SET last_seq = h.last_seq
     RETURNING last_seq, last_hash,
       to_char(greatest(clock_timestamp(), last_ts + interval '1 microsecond') AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS next_ts`,
    [workspaceId, GENESIS_HASH],
  );
  if (!head) throw new Error('audit chain head was not returned');
  return head;
}

/** A stored entry: the hashed fields plus the chain links. */
export interface AuditRow extends ChainedFields {
  prev_hash: Buffer;
  hash: Buffer;
}

export async function appendEntry(sql: Sql, row: AuditRow): Promise<void> {
  await sql.exec(
    `WITH entry AS (
       INSERT INTO audit_logs (workspace_id, seq, id, ts, email, actor_name, actor_type, action, resource_id,
                               resource_name, ip, user_agent, extra_data, account_name, prev_hash, hash)
       VALUES ($1, $2, $3, $4::timestamptz, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     )
     UPDATE audit_chain_heads SET last_seq = $2, last_hash = $16, last_ts = $4::timestamptz WHERE workspace_id = $1`,
    [
      row.workspace_id,
      row.seq,
      row.id,
      row.ts,
      row.email,
      row.actor_name,
      row.actor_type,
      row.action,
      row.resource_id,
      row.resource_name,
      row.ip,
      row.user_agent,
      JSON.stringify(row.extra_data),
      row.account_name,
      row.prev_hash,
      row.hash,
    ],
  );
}

const COLUMNS = `workspace_id, seq, id, ${TS} AS ts, email, actor_name, actor_type, action, resource_id,
  resource_name, ip, user_agent, extra_data, account_name, prev_hash, hash`;

export interface AuditPageQuery {
  workspaceId: string;
  /** Exclusive bounds, microseconds since the epoch. */
  startMicros: bigint;
  endMicros: bigint;
  order: 'asc' | 'desc';
  /** The last entry of the previous page. */
  after: { seq: string; ts: string } | undefined;
  limit: number;
}

/**
 * One page by keyset on (ts, seq), read straight off the (workspace_id, ts, seq) index. Within a
 * workspace ts and seq grow together and commit in order, so the cursor never skips or repeats an
 * entry while new ones arrive. (`audit_logs.ts` is qualified: a bare `ts` would name the text column
 * of the select list and force a sort of the whole window.)
 */
export function pageEntries(sql: Sql, q: AuditPageQuery): Promise<AuditRow[]> {
  const cmp = q.order === 'asc' ? '>' : '<';
  const params: unknown[] = [q.workspaceId, microsToIso(q.startMicros), microsToIso(q.endMicros), q.limit];
  let cursor = '';
  if (q.after !== undefined) {
    // ts and seq grow together, so "seq beyond the cursor" is exact; the ts bound lets the index
    // scan start at the cursor instead of at the window's edge.
    params.push(q.after.ts, q.after.seq);
    cursor = `AND audit_logs.ts ${cmp}= $5::timestamptz AND seq ${cmp} $6::bigint`;
  }
  return sql.rows<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_logs
      WHERE workspace_id = $1 AND audit_logs.ts > $2::timestamptz AND audit_logs.ts < $3::timestamptz ${cursor}
      ORDER BY audit_logs.ts ${q.order}, seq ${q.order} LIMIT $4`,
    params,
  );
}

/** Entries in chain order from seq onwards, for verification. */
export function entriesFrom(
  sql: Sql,
  workspaceId: string,
  fromSeq: string,
  limit: number,
): Promise<AuditRow[]> {
  return sql.rows<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_logs WHERE workspace_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`,
    [workspaceId, fromSeq, limit],
  );
}

export interface ChainState {
  last_seq: string;
  last_hash: Buffer;
  pruned_through_seq: string;
  pruned_last_hash: Buffer | null;
}

export function chainState(sql: Sql, workspaceId: string): Promise<ChainState | undefined> {
  return sql.one<ChainState>(
    'SELECT last_seq, last_hash, pruned_through_seq, pruned_last_hash FROM audit_chain_heads WHERE workspace_id = $1',
    [workspaceId],
  );
}

export function chainWorkspaces(sql: Sql): Promise<{ workspace_id: string }[]> {
  return sql.rows('SELECT workspace_id FROM audit_chain_heads ORDER BY workspace_id');
}

/**
 * Deletes up to `limit` of the workspace's oldest entries older than the cut-off and records the
 * last pruned hash on the chain head, so verification can start from the oldest kept entry.
 */
export async function pruneOldest(
  sql: Sql,
  workspaceId: string,
  cutoff: Date,
  limit: number,
): Promise<number> {
  const row = await sql.one<{ n: string }>(
    `WITH doomed AS (
       SELECT seq FROM audit_logs WHERE workspace_id = $1 AND ts < $2
        AND seq < (SELECT last_seq FROM audit_chain_heads WHERE workspace_id = $1)
        ORDER BY seq LIMIT $3
     ), gone AS (
       DELETE FROM audit_logs a USING doomed d WHERE a.workspace_id = $1 AND a.seq = d.seq
       RETURNING a.seq, a.hash
     ), last AS (
       SELECT seq, hash FROM gone ORDER BY seq DESC LIMIT 1
     ), head AS (
       UPDATE audit_chain_heads h SET pruned_through_seq = last.seq, pruned_last_hash = last.hash
         FROM last WHERE h.workspace_id = $1
     )
     SELECT count(*)::text AS n FROM gone`,
    [workspaceId, cutoff, limit],
  );
  return Number(row?.n ?? 0);
}

/** Entries after `afterSeq` (chain order), for log streams; `since` bounds a stream's first read. */
export function entriesAfter(
  sql: Sql,
  workspaceId: string,
  afterSeq: string | undefined,
  since: Date,
  actions: readonly string[] | undefined,
  limit: number,
): Promise<AuditRow[]> {
  return sql.rows<AuditRow>(
    `SELECT ${COLUMNS} FROM audit_logs
      WHERE workspace_id = $1 AND ($2::bigint IS NULL OR seq > $2) AND ($2::bigint IS NOT NULL OR ts >= $3)
        AND ($4::text[] IS NULL OR action = ANY($4))
      ORDER BY seq LIMIT $5`,
    [workspaceId, afterSeq ?? null, since, actions ?? null, limit],
  );
}

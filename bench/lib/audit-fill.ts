// Bulk fill of the audit log with a valid hash chain: rows computed in JS (the service's chainHash,
// the store's timestamp text) and inserted with INSERT ... SELECT FROM unnest, in batches.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { AUDIT_ACTIONS } from '../../src/domain/audit-actions.js';
import { chainHash, type ChainedFields } from '../../src/domain/audit-chain.js';
import { microsToIso, parseRfc3339 } from '../../src/domain/log-window.js';
import { GENESIS_HASH, entriesFrom, type AuditRow } from '../../src/store/audit-logs.js';

export const FILL_DAYS = 30;
export const FILL_BATCH = 10_000;
const DAY_MICROS = 86_400_000_000;

/** A small deterministic PRNG (mulberry32), so every run writes the same kind of data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ACTIONS = Object.values(AUDIT_ACTIONS);
const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5',
  'python-requests/2.32.3',
  'curl/8.5.0',
  'splunk-soar-connector/6.2',
];
const RESOURCE_KINDS = ['workflow', 'secret', 'variable', 'integration', 'api-key', 'user'];

interface ChainCursor {
  workspaceId: string;
  accountName: string;
  seq: bigint;
  hash: Buffer;
  lastTs: string;
}

const COLUMN_TYPES = [
  'uuid',
  'bigint',
  'uuid',
  'timestamptz',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'jsonb',
  'text',
  'bytea',
  'bytea',
] as const;
const INSERT_SQL = `INSERT INTO audit_logs (workspace_id, seq, id, ts, email, actor_name, actor_type, action,
    resource_id, resource_name, ip, user_agent, extra_data, account_name, prev_hash, hash)
  SELECT * FROM unnest(${COLUMN_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')})`;

class Batch {
  readonly cols: unknown[][] = COLUMN_TYPES.map(() => []);
  get size(): number {
    return this.cols[0]!.length;
  }
  /** Chains the fields onto the cursor and adds the row. */
  push(cursor: ChainCursor, f: Omit<ChainedFields, 'workspace_id' | 'seq' | 'account_name'>): void {
    const seq = (cursor.seq + 1n).toString();
    const fields: ChainedFields = {
      ...f,
      workspace_id: cursor.workspaceId,
      seq,
      account_name: cursor.accountName,
    };
    const hash = chainHash(cursor.hash, fields);
    const values = [
      fields.workspace_id,
      seq,
      fields.id,
      fields.ts,
      fields.email,
      fields.actor_name,
      fields.actor_type,
      fields.action,
      fields.resource_id,
      fields.resource_name,
      fields.ip,
      fields.user_agent,
      JSON.stringify(fields.extra_data),
      fields.account_name,
      cursor.hash,
      hash,
    ];
    for (let c = 0; c < values.length; c++) this.cols[c]!.push(values[c]);
    cursor.seq += 1n;
    cursor.hash = hash;
    cursor.lastTs = fields.ts;
  }
}

function syntheticFields(
  rand: () => number,
  ts: string,
): Omit<ChainedFields, 'workspace_id' | 'seq' | 'account_name'> {
  const user = Math.floor(rand() * 40);
  const r = rand();
  const actorType = r < 0.6 ? 'web_app' : r < 0.9 ? 'api_key' : r < 0.97 ? 'system' : 'slack';
  const kind = RESOURCE_KINDS[Math.floor(rand() * RESOURCE_KINDS.length)]!;
  const n = Math.floor(rand() * 5000);
  const extra: Record<string, unknown> =
    rand() < 0.4
      ? {}
      : {
          changed_fields: ['name', 'description', 'steps'].slice(0, 1 + Math.floor(rand() * 3)),
          revision: Math.floor(rand() * 200),
          source: rand() < 0.5 ? 'console' : 'api',
        };
  return {
    id: randomUUID(),
    ts,
    email: actorType === 'system' ? '' : `analyst${user}@bench.example`,
    actor_name: actorType === 'system' ? 'Osprey' : `Analyst ${user}`,
    actor_type: actorType,
    action: ACTIONS[Math.floor(rand() * ACTIONS.length)]!,
    resource_id: `${kind}-${n.toString(16).padStart(8, '0')}`,
    resource_name: `${kind} ${n}`,
    ip: actorType === 'system' ? '' : `10.${user}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`,
    user_agent: actorType === 'system' ? '' : USER_AGENTS[Math.floor(rand() * USER_AGENTS.length)]!,
    extra_data: extra,
  };
}

export interface FillWorkspace {
  id: string;
  /** The workspace name, stored as account_name. */
  name: string;
  /** Synthetic entries to write. */
  count: number;
}

export interface FillResult {
  inserted: number;
  seconds: number;
  reappended: number;
}

/**
 * Replaces each workspace's chain by `count` synthetic entries spread over the last FILL_DAYS days,
 * interleaved in time (so both workspaces' rows share heap pages, as in production), followed by
 * the entries the workspace already had (bootstrap: workspace and key creation), re-chained with
 * their original ids and timestamps. All in one transaction, with the chain heads locked.
 */
export async function fillAuditLog(
  url: string,
  workspaces: FillWorkspace[],
  progress: (done: number, total: number) => void,
): Promise<FillResult> {
  const client = new pg.Client({ connectionString: url, application_name: 'osprey-bench-fill' });
  await client.connect();
  const started = performance.now();
  try {
    await client.query('BEGIN');
    const ids = workspaces.map((w) => w.id);
    await client.query('SELECT workspace_id FROM audit_chain_heads WHERE workspace_id = ANY($1) FOR UPDATE', [
      ids,
    ]);
    // The entries written so far (via the store, so their ts text is exactly the store's).
    const sql = {
      rows: async <R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> =>
        (await client.query<R>(text, params as unknown[])).rows,
    };
    const existing = new Map<string, AuditRow[]>();
    for (const w of workspaces) {
      const rows = await entriesFrom(
        { ...sql, one: async () => undefined, exec: async () => 0 },
        w.id,
        '1',
        100_000,
      );
      existing.set(w.id, rows);
    }
    await client.query('DELETE FROM audit_logs WHERE workspace_id = ANY($1)', [ids]);

    const firstExisting = [...existing.values()].flat().map((r) => parseRfc3339('ts', r.ts));
    const endMicros =
      (firstExisting.length ? firstExisting.reduce((a, b) => (a < b ? a : b)) : BigInt(Date.now()) * 1000n) -
      1000n;
    const spanMicros = FILL_DAYS * DAY_MICROS;
    const startMicros = Number(endMicros) - spanMicros;
    const total = workspaces.reduce((s, w) => s + w.count, 0);
    const step = spanMicros / total;
    const cursors = workspaces.map<ChainCursor>((w) => ({
      workspaceId: w.id,
      accountName: w.name,
      seq: 0n,
      hash: GENESIS_HASH,
      lastTs: '',
    }));
    // Which workspace each global event belongs to: spread evenly by a running quota.
    const written = workspaces.map(() => 0);
    const rand = prng(0x05b7e4);
    let pending: Promise<unknown> | undefined;
    let inserted = 0;
    let batch = new Batch();
    for (let i = 0; i < total; i++) {
      let pick = 0;
      let best = -Infinity;
      for (let w = 0; w < workspaces.length; w++) {
        const lag = ((i + 1) * workspaces[w]!.count) / total - written[w]!;
        if (written[w]! < workspaces[w]!.count && lag > best) {
          best = lag;
          pick = w;
        }
      }
      written[pick]! += 1;
      // Strictly increasing: each event gets its own step-wide slot (step is ~2 s) and a jitter in it.
      const micros = BigInt(Math.floor(startMicros + i * step + rand() * 0.9 * step));
      batch.push(cursors[pick]!, syntheticFields(rand, microsToIso(micros)));
      if (batch.size >= FILL_BATCH || i === total - 1) {
        await pending;
        const cols = batch.cols;
        inserted += batch.size;
        pending = client.query(INSERT_SQL, cols);
        batch = new Batch();
        progress(inserted, total);
      } else if (i % 1000 === 0) {
        // Let the socket flush the batch in flight while the next one is computed.
        await new Promise((r) => setImmediate(r));
      }
    }
    await pending;

    // Re-chain the entries that existed before, after the synthetic ones, keeping id and ts.
    let reappended = 0;
    const tail = new Batch();
    for (let w = 0; w < workspaces.length; w++) {
      const cursor = cursors[w]!;
      for (const row of existing.get(cursor.workspaceId) ?? []) {
        tail.push(cursor, {
          id: row.id,
          ts: row.ts,
          email: row.email,
          actor_name: row.actor_name,
          actor_type: row.actor_type,
          action: row.action,
          resource_id: row.resource_id,
          resource_name: row.resource_name,
          ip: row.ip,
          user_agent: row.user_agent,
          extra_data: row.extra_data,
        });
        reappended += 1;
      }
    }
    if (tail.size) await client.query(INSERT_SQL, tail.cols);
    for (const c of cursors) {
      await client.query(
        `INSERT INTO audit_chain_heads (workspace_id, last_seq, last_hash, last_ts)
         VALUES ($1, $2, $3, $4::timestamptz)
         ON CONFLICT (workspace_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash,
           last_ts = EXCLUDED.last_ts, pruned_through_seq = 0, pruned_last_hash = NULL`,
        [c.workspaceId, c.seq.toString(), c.hash, c.lastTs],
      );
    }
    await client.query('COMMIT');
    return { inserted, seconds: (performance.now() - started) / 1000, reappended };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

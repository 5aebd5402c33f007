// Counting what the engine asks of PostgreSQL: the server's own counters (pg_stat_database) and,
// client-side, every statement this process's pg clients send (by statement text), with the
// transactions they make (a statement outside BEGIN…COMMIT is a transaction of its own).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** Collapsed statement text, short enough to print, as the key statements are counted under. */
function label(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 90 ? `${flat.slice(0, 87)}...` : flat;
}

export interface StatementCounts {
  statements: number;
  transactions: number;
  byText: Map<string, number>;
}

/**
 * Wraps pg.Client.prototype.query (once per process) and counts every statement sent by a client
 * not marked with `exclude`. Covers both the promise form (transactions) and the callback form
 * (pg.Pool#query).
 */
export class StatementCounter {
  static #installed: StatementCounter | undefined;
  readonly #excluded = new WeakSet<object>();
  readonly #inTransaction = new WeakSet<object>();
  #statements = 0;
  #transactions = 0;
  #byText = new Map<string, number>();

  static install(): StatementCounter {
    if (StatementCounter.#installed) return StatementCounter.#installed;
    const counter = new StatementCounter();
    const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const original = proto.query;
    proto.query = function (this: object, ...args: unknown[]): unknown {
      counter.#record(this, args[0]);
      return original.apply(this, args);
    };
    StatementCounter.#installed = counter;
    return counter;
  }

  /** The benchmark's own clients (probes, polls) are not counted. */
  exclude(client: object): void {
    this.#excluded.add(client);
  }

  #record(client: object, query: unknown): void {
    if (this.#excluded.has(client)) return;
    const text =
      typeof query === 'string'
        ? query
        : query && typeof query === 'object' && typeof (query as { text?: unknown }).text === 'string'
          ? (query as { text: string }).text
          : '';
    const verb = text.trimStart().slice(0, 8).toUpperCase();
    if (verb.startsWith('LISTEN') || verb.startsWith('UNLISTEN')) return;
    this.#statements += 1;
    const key = label(text);
    this.#byText.set(key, (this.#byText.get(key) ?? 0) + 1);
    if (verb.startsWith('BEGIN')) this.#inTransaction.add(client);
    else if (verb.startsWith('COMMIT') || verb.startsWith('ROLLBACK')) {
      this.#inTransaction.delete(client);
      this.#transactions += 1;
    } else if (!this.#inTransaction.has(client)) this.#transactions += 1;
  }

  snapshot(): StatementCounts {
    return { statements: this.#statements, transactions: this.#transactions, byText: new Map(this.#byText) };
  }

  /** What was counted between two snapshots. */
  static since(before: StatementCounts, after: StatementCounts): StatementCounts {
    const byText = new Map<string, number>();
    for (const [k, v] of after.byText) {
      const d = v - (before.byText.get(k) ?? 0);
      if (d > 0) byText.set(k, d);
    }
    return {
      statements: after.statements - before.statements,
      transactions: after.transactions - before.transactions,
      byText,
    };
  }
}

export interface PgStat {
  xacts: number;
  /** The probe's own statements sent before this reading (each is a transaction, counted too). */
  probeStatements: number;
  commits: number;
  rollbacks: number;
  inserted: number;
  updated: number;
}

/** How long other backends may hold their counters before reporting them (PGSTAT_MIN_INTERVAL is 1 s). */
export const PG_STAT_FLUSH_WAIT_MS = 1200;

/** One statement as pg_stat_statements saw it (top-level calls in the benchmark's database). */
export interface ServerStatement {
  query: string;
  calls: number;
  /** Total execution time in the server, ms. */
  ms: number;
  /** Total planning time, ms (0 unless pg_stat_statements.track_planning is on). */
  planMs: number;
}

/**
 * The benchmark's own queries carry this marker after their first word (pg_stat_statements keeps
 * the text from the first token on), so its readings can leave them out.
 */
const MARK = '/* osprey-bench probe */';
const marked = (sql: string): string => sql.replace(/^\s*(\w+)/, `$1 ${MARK}`);

/**
 * A connection of the benchmark's own (not counted) that reads pg_stat_database for the database,
 * and pg_stat_statements when the server has it loaded. Other backends report their counters at
 * most once a second when busy and within about a second after going idle, so a reading after
 * activity waits PG_STAT_FLUSH_WAIT_MS first.
 */
export class PgStatProbe {
  #statements = 0;
  #toplevel = true;

  private constructor(private readonly client: pg.Client) {}

  static async open(url: string, counter: StatementCounter): Promise<PgStatProbe> {
    const client = new pg.Client({ connectionString: url, application_name: 'osprey-bench-probe' });
    counter.exclude(client);
    await client.connect();
    return new PgStatProbe(client);
  }

  async #query<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    this.#statements += 1;
    return (await this.client.query<R>(marked(sql), params)).rows;
  }

  async read(waitForFlush = true): Promise<PgStat> {
    if (waitForFlush) await sleep(PG_STAT_FLUSH_WAIT_MS);
    const probeStatements = this.#statements;
    // Each autocommit statement reads a fresh snapshot (stats_fetch_consistency caches per transaction).
    const [row] = await this.#query<Record<Exclude<keyof PgStat, 'probeStatements'>, string>>(
      `SELECT xact_commit + xact_rollback AS xacts, xact_commit AS commits, xact_rollback AS rollbacks,
              tup_inserted AS inserted, tup_updated AS updated
         FROM pg_stat_database WHERE datname = current_database()`,
    );
    return {
      xacts: Number(row!.xacts),
      probeStatements,
      commits: Number(row!.commits),
      rollbacks: Number(row!.rollbacks),
      inserted: Number(row!.inserted),
      updated: Number(row!.updated),
    };
  }

  /**
   * Creates the pg_stat_statements extension in the database if the server has the library loaded
   * (shared_preload_libraries); false when it cannot be used.
   */
  async enableStatements(): Promise<boolean> {
    try {
      await this.#query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
      await this.statements();
    } catch {
      return false;
    }
    // Planning time too (node-postgres plans every parameterized statement anew), for connections
    // opened from now on; needs a superuser, as the embedded server's role is.
    await this.#query(
      `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET pg_stat_statements.track_planning = on', current_database()); END $$`,
    ).catch(() => undefined);
    return true;
  }

  /** pg_stat_statements for this database by queryid, the probe's own statements left out. */
  async statements(): Promise<Map<string, ServerStatement>> {
    const sql = (toplevel: boolean): string =>
      `SELECT queryid::text AS id, query, calls, total_exec_time AS ms, total_plan_time AS plan_ms
         FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          ${toplevel ? 'AND toplevel' : ''} AND strpos(query, $1) = 0`;
    let rows: { id: string; query: string; calls: string; ms: number; plan_ms: number }[];
    try {
      rows = await this.#query(sql(this.#toplevel), [MARK]);
    } catch (error) {
      if (!this.#toplevel) throw error;
      this.#toplevel = false; // before PostgreSQL 14 there is no toplevel column
      rows = await this.#query(sql(false), [MARK]);
    }
    return new Map(
      rows.map((r) => [
        r.id,
        { query: r.query, calls: Number(r.calls), ms: Number(r.ms), planMs: Number(r.plan_ms) },
      ]),
    );
  }

  /** One value from the database (the benchmark's own queries: counts, settings). */
  async value(sql: string, params: unknown[] = []): Promise<string> {
    const [row] = await this.#query<{ v: string }>(sql, params);
    return String(row?.v ?? '');
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

/** What pg_stat_statements counted between two readings, statement by statement. */
export function statementsBetween(
  before: Map<string, ServerStatement>,
  after: Map<string, ServerStatement>,
): ServerStatement[] {
  const out: ServerStatement[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    const calls = a.calls - (b?.calls ?? 0);
    if (calls > 0)
      out.push({
        query: label(a.query),
        calls,
        ms: a.ms - (b?.ms ?? 0),
        planMs: a.planMs - (b?.planMs ?? 0),
      });
  }
  return out.sort((x, y) => y.ms + y.planMs - (x.ms + x.planMs));
}

/** Transactions the server counted between two readings, less the probe's own. */
export function xactsBetween(before: PgStat, after: PgStat): number {
  return after.xacts - before.xacts - (after.probeStatements - before.probeStatements);
}

import { createHash } from 'node:crypto';
import pg from 'pg';
import { mapPgError } from './pg-errors.js';

/** Something that runs a parameterized SQL statement: the pool, or a transaction. */
export interface Sql {
  /** Runs one statement and returns its rows. */
  rows<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs one statement and returns its first row, or undefined. */
  one<R extends object>(text: string, params?: readonly unknown[]): Promise<R | undefined>;
  /** Runs one statement and returns how many rows it touched. */
  exec(text: string, params?: readonly unknown[]): Promise<number>;
}

// timestamptz and bigint come back as strings: Osprey converts them where it needs to.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

const names = new Map<string, string>();

/**
 * A parameterized statement as a named (prepared) one: each connection parses and plans it once,
 * which halves the server time of the engine's short statements. Statements without parameters
 * (migrations, which may hold several statements) are sent as they are.
 */
function statement(text: string, params: readonly unknown[]): pg.QueryConfig | string {
  if (params.length === 0) return text;
  let name = names.get(text);
  if (!name) {
    name = `osprey_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    if (names.size >= 5000) names.clear();
    names.set(text, name);
  }
  return { name, text, values: params as unknown[] };
}

class SqlRunner implements Sql {
  constructor(private readonly client: pg.Pool | pg.PoolClient) {}

  async rows<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    try {
      const result = await this.client.query<R>(statement(text, params));
      return result.rows;
    } catch (error) {
      throw mapPgError(error);
    }
  }

  async one<R extends object>(text: string, params: readonly unknown[] = []): Promise<R | undefined> {
    const rows = await this.rows<R>(text, params);
    return rows[0];
  }

  async exec(text: string, params: readonly unknown[] = []): Promise<number> {
    try {
      const result = await this.client.query(statement(text, params));
      return result.rowCount ?? 0;
    } catch (error) {
      throw mapPgError(error);
    }
  }
}

export interface DatabaseOptions {
  connectionString: string;
  max?: number;
  applicationName?: string;
}

/** The pool and the one way to open a transaction. */
export class Database implements Sql {
  readonly pool: pg.Pool;
  readonly #runner: SqlRunner;

  constructor(options: DatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      application_name: options.applicationName ?? 'osprey',
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', () => undefined);
    this.#runner = new SqlRunner(this.pool);
  }

  rows<R extends object>(text: string, params?: readonly unknown[]): Promise<R[]> {
    return this.#runner.rows<R>(text, params);
  }

  one<R extends object>(text: string, params?: readonly unknown[]): Promise<R | undefined> {
    return this.#runner.one<R>(text, params);
  }

  exec(text: string, params?: readonly unknown[]): Promise<number> {
    return this.#runner.exec(text, params);
  }

  /** Runs `fn` in one transaction: committed if it resolves, rolled back if it throws. */
  async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw mapPgError(error);
    }
    try {
      await client.query('BEGIN');
      const result = await fn(new SqlRunner(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw mapPgError(error);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

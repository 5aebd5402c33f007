import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the test run uses (set by scripts/run-tests.ts, or DATABASE_URL when run directly). */
export function adminUrl(): string {
  const url = process.env.OSPREY_TEST_ADMIN_URL ?? process.env.DATABASE_URL;
  if (!url)
    throw new Error('run tests with `npm test` (it provides a PostgreSQL server), or set DATABASE_URL');
  return url;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh, empty database on the test server, dropped by `drop()`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `osprey_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

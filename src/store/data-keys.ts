import type { Sql } from './database.js';

export interface DataKeyRow {
  version: number;
  wrapped_key: Buffer;
  retired_at: Date | null;
}

export function listDataKeys(sql: Sql): Promise<DataKeyRow[]> {
  return sql.rows<DataKeyRow>('SELECT version, wrapped_key, retired_at FROM data_keys ORDER BY version');
}

export async function insertDataKey(sql: Sql, version: number, wrapped: Buffer): Promise<boolean> {
  const n = await sql.exec(
    'INSERT INTO data_keys (version, wrapped_key) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [version, wrapped],
  );
  return n === 1;
}

export async function retireDataKeysBelow(sql: Sql, version: number): Promise<void> {
  await sql.exec('UPDATE data_keys SET retired_at = now() WHERE version < $1 AND retired_at IS NULL', [
    version,
  ]);
}

/** A column that holds ciphertext, with the row id that its associated data binds it to. */
export interface EncryptedColumn {
  table: string;
  column: string;
  versionColumn: string;
}

/** Every encrypted column in the schema; rotation re-encrypts each. Later resources add theirs. */
export const ENCRYPTED_COLUMNS: readonly EncryptedColumn[] = [
  { table: 'secrets', column: 'value_encrypted', versionColumn: 'key_version' },
  { table: 'api_keys', column: 'secret_encrypted', versionColumn: 'secret_key_version' },
  { table: 'workflows', column: 'webhook_token_encrypted', versionColumn: 'webhook_key_version' },
  { table: 'integrations', column: 'secrets_encrypted', versionColumn: 'secrets_key_version' },
];

export function rowsBelowVersion(
  sql: Sql,
  col: EncryptedColumn,
  version: number,
  limit: number,
): Promise<{ id: string; data: Buffer; version: number }[]> {
  return sql.rows(
    `SELECT id, ${col.column} AS data, ${col.versionColumn} AS version FROM ${col.table}
      WHERE ${col.versionColumn} < $1 ORDER BY id LIMIT $2 FOR UPDATE`,
    [version, limit],
  );
}

export async function updateCiphertexts(
  sql: Sql,
  col: EncryptedColumn,
  updates: { id: string; data: Buffer }[],
  version: number,
): Promise<void> {
  await sql.exec(
    `UPDATE ${col.table} t SET ${col.column} = u.data, ${col.versionColumn} = $3
       FROM unnest($1::uuid[], $2::bytea[]) AS u(id, data) WHERE t.id = u.id`,
    [updates.map((u) => u.id), updates.map((u) => u.data), version],
  );
}

import type { Sql } from './database.js';

export interface AppPackageRow {
  id: string;
  workspace_id: string;
  identifier: string;
  version: string;
  title: string;
  manifest: unknown;
  sha256: string;
  created_at: Date;
  created_by: string;
}

const COLUMNS = 'id, workspace_id, identifier, version, title, manifest, sha256, created_at, created_by';

export async function insertAppPackage(
  sql: Sql,
  row: Omit<AppPackageRow, 'created_at'> & { package: Buffer },
): Promise<AppPackageRow> {
  return (await sql.one<AppPackageRow>(
    `INSERT INTO app_packages (id, workspace_id, identifier, version, title, manifest, package, sha256, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
    [
      row.id,
      row.workspace_id,
      row.identifier,
      row.version,
      row.title,
      JSON.stringify(row.manifest),
      row.package,
      row.sha256,
      row.created_by,
    ],
  ))!;
}

/** Every custom app version in the workspace (manifests only, not the archives). */
export function appPackages(sql: Sql, workspaceId: string): Promise<AppPackageRow[]> {
  return sql.rows<AppPackageRow>(
    `SELECT ${COLUMNS} FROM app_packages WHERE workspace_id = $1 ORDER BY identifier, created_at`,
    [workspaceId],
  );
}

export async function appPackageArchive(
  sql: Sql,
  workspaceId: string,
  identifier: string,
  version: string,
): Promise<Buffer | undefined> {
  const row = await sql.one<{ package: Buffer }>(
    'SELECT package FROM app_packages WHERE workspace_id = $1 AND identifier = $2 AND version = $3',
    [workspaceId, identifier, version],
  );
  return row?.package;
}

export async function deleteAppPackage(
  sql: Sql,
  workspaceId: string,
  identifier: string,
  version: string,
): Promise<boolean> {
  return (
    (await sql.exec('DELETE FROM app_packages WHERE workspace_id = $1 AND identifier = $2 AND version = $3', [
      workspaceId,
      identifier,
      version,
    ])) === 1
  );
}

import { SYSTEM_ACTOR } from '../domain/actor.js';
import type { Database } from '../store/database.js';
import { countWorkspaces } from '../store/workspaces.js';
import type { CreatedWorkspace, WorkspaceService } from './workspaces.js';

// Any constant: keeps two processes starting together from both creating the first workspace.
const BOOTSTRAP_LOCK = 7_316_902_442;

export interface BootstrapOptions {
  workspaceName: string;
  ownerEmail: string;
  fixedKey: { clientId: string; clientSecret: string } | undefined;
}

/**
 * On a new installation, creates the first workspace, its owner and an owner API key, and returns
 * them so the caller can show the key once. On an existing installation it does nothing.
 */
export async function bootstrap(
  db: Database,
  workspaces: WorkspaceService,
  options: BootstrapOptions,
): Promise<CreatedWorkspace | undefined> {
  return db.transaction(async (tx) => {
    await tx.exec('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK]);
    if ((await countWorkspaces(tx)) > 0) return undefined;
    return workspaces.createInTx(
      tx,
      SYSTEM_ACTOR,
      options.workspaceName,
      options.ownerEmail,
      options.fixedKey,
    );
  });
}

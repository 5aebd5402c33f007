import { SYSTEM_ACTOR } from '../domain/actor.js';
import { AUDIT_ACTIONS } from '../domain/audit-actions.js';
import type { Database } from '../store/database.js';
import { allWorkspaces } from '../store/workspaces.js';
import type { AuditService } from './audit.js';
import type { Keyring } from './keyring.js';

/**
 * Rotates the data encryption key (re-encrypting every stored secret under the new one) and
 * records "Encryption key rotated" in every workspace's audit log.
 */
export async function rotateEncryptionKey(
  deps: { db: Database; keyring: Keyring; audit: AuditService },
  onProgress?: (done: number) => void,
): Promise<{ version: number; reencrypted: number }> {
  const result = await deps.keyring.rotate(onProgress);
  await deps.db.transaction(async (tx) => {
    for (const ws of await allWorkspaces(tx)) {
      await deps.audit.record(
        tx,
        { workspaceId: ws.id, workspaceName: ws.name, actor: { ...SYSTEM_ACTOR, name: 'osprey CLI' } },
        {
          action: AUDIT_ACTIONS.encryptionKeyRotated,
          resourceId: `data-key-${result.version}`,
          resourceName: 'encryption keyring',
          extraData: { version: result.version, reencrypted: result.reencrypted },
        },
      );
    }
  });
  return result;
}

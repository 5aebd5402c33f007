import type { ActorType } from './audit-actions.js';
import type { RoleName } from './roles.js';

/** Who did something, as the audit log records it. */
export interface Actor {
  type: ActorType;
  email: string;
  name: string;
  ip: string;
  userAgent: string;
  userId?: string;
  apiKeyId?: string;
}

/** An authenticated caller: a workspace, a role in it, and the actor to record. */
export interface Principal {
  workspaceId: string;
  workspaceName: string;
  role: RoleName;
  actor: Actor;
  sessionId?: string;
}

export const SYSTEM_ACTOR: Actor = {
  type: 'system',
  email: '',
  name: 'Osprey',
  ip: '',
  userAgent: '',
};

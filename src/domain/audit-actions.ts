/**
 * Audit action strings, exactly as the seed `001_…` lists them. Actions Osprey adds for resources
 * the seed does not name follow the same "<Resource> <past participle>" pattern and are marked.
 */
export const AUDIT_ACTIONS = {
  userInvited: 'User invited',
  userAcceptedInvitation: 'User accepted invitation',
  userRoleUpdated: 'User role updated',
  userDeleted: 'User deleted',
  userLoggedIn: 'User logged in',
  userLoggedOut: 'User logged out',
  userSwitchedAccounts: 'User switched accounts',
  userLoginFailed: 'User login failed',
  workflowCreated: 'Workflow created',
  workflowDeleted: 'Workflow deleted',
  workflowUpdated: 'Workflow updated',
  workflowPublished: 'Workflow published',
  workflowUnpublished: 'Workflow unpublished',
  workflowEdited: 'Workflow edited',
  workflowReverted: 'Workflow reverted',
  workflowEnabled: 'Workflow enabled',
  workflowDisabled: 'Workflow disabled',
  variableCreated: 'Workspace variable created',
  variableUpdated: 'Workspace variable updated',
  variableDeleted: 'Workspace variable deleted',
  apiKeyEnabled: 'API key enabled',
  apiKeyDeleted: 'API key deleted',
  secretCreated: 'Secret created',
  secretDeleted: 'Secret deleted',
  secretUpdated: 'Secret updated',
  integrationCreated: 'Integration created',
  integrationDeleted: 'Integration deleted',
  integrationUpdated: 'Integration updated',
  customStepCreated: 'Custom step created',
  customStepDeleted: 'Custom step deleted',
  // Osprey additions (not in the seed list), same naming pattern:
  apiKeyDisabled: 'API key disabled',
  apiKeyUpdated: 'API key updated',
  workspaceCreated: 'Workspace created',
  encryptionKeyRotated: 'Encryption key rotated',
  auditLogPruned: 'Audit log pruned',
  userPasswordSet: 'User password set',
  workflowWebhookRotated: 'Workflow webhook rotated',
  executionRetried: 'Execution retried',
  executionCancelled: 'Execution cancelled',
  approvalDecided: 'Approval decided',
  workspaceNetworkPolicyUpdated: 'Workspace network policy updated',
  persistentListCreated: 'Persistent list created',
  persistentListUpdated: 'Persistent list updated',
  persistentListDeleted: 'Persistent list deleted',
  emailTemplateCreated: 'Email template created',
  emailTemplateUpdated: 'Email template updated',
  emailTemplateDeleted: 'Email template deleted',
} as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[keyof typeof AUDIT_ACTIONS];

export const ACTOR_TYPES = ['web_app', 'api_key', 'slack', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

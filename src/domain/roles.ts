/**
 * Preset roles (Torq's names) and the permission matrix. docs/permissions.md documents the same
 * matrix; a test checks the two agree.
 */
export const ROLE_NAMES = ['owner', 'contributor', 'creator', 'operator', 'viewer'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** Stable ids, so a role_id means the same thing in every installation. */
export const ROLE_IDS: Record<RoleName, string> = {
  owner: '00000000-0000-4000-8000-000000000001',
  contributor: '00000000-0000-4000-8000-000000000002',
  creator: '00000000-0000-4000-8000-000000000003',
  operator: '00000000-0000-4000-8000-000000000004',
  viewer: '00000000-0000-4000-8000-000000000005',
};

export const ROLE_DESCRIPTIONS: Record<RoleName, string> = {
  owner: 'Full control of the workspace: users, API keys, audit logs and every resource.',
  contributor: 'Builds and publishes workflows; manages secrets, variables and integrations.',
  creator: 'Builds and edits workflows and runs them; cannot publish or manage credentials.',
  operator: 'Runs workflows and works cases; read-only on definitions.',
  viewer: 'Read-only access to workflows, executions and activity logs.',
};

export const PERMISSIONS = [
  'workspace.read',
  'workspace.create',
  'workspace.manage',
  'users.read',
  'users.manage',
  'api_keys.read',
  'api_keys.manage',
  'audit_logs.read',
  'secrets.read',
  'secrets.manage',
  'variables.read',
  'variables.manage',
  'workflows.read',
  'workflows.edit',
  'workflows.publish',
  'workflows.run',
  'apps.read',
  'apps.manage',
  'integrations.read',
  'integrations.manage',
  'integrations.execute',
  'lists.read',
  'lists.manage',
  'templates.read',
  'templates.manage',
  'tags.manage',
  'events.read',
  'events.create',
  'events.manage',
  'log_streams.read',
  'log_streams.manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const VIEWER: Permission[] = [
  'workspace.read',
  'variables.read',
  'workflows.read',
  'apps.read',
  'integrations.read',
  'lists.read',
  'templates.read',
  'events.read',
];
const OPERATOR: Permission[] = [...VIEWER, 'workflows.run'];
const CREATOR: Permission[] = [
  ...OPERATOR,
  'secrets.read',
  'users.read',
  'workflows.edit',
  'integrations.execute',
  'lists.manage',
  'templates.manage',
  'events.create',
];
const CONTRIBUTOR: Permission[] = [
  ...CREATOR,
  'secrets.manage',
  'variables.manage',
  'workflows.publish',
  'apps.manage',
  'integrations.manage',
  'tags.manage',
  'events.manage',
  'log_streams.read',
];
const OWNER: Permission[] = [...PERMISSIONS];

export const ROLE_PERMISSIONS: Record<RoleName, ReadonlySet<Permission>> = {
  owner: new Set(OWNER),
  contributor: new Set(CONTRIBUTOR),
  creator: new Set(CREATOR),
  operator: new Set(OPERATOR),
  viewer: new Set(VIEWER),
};

export function can(role: RoleName, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

/** A role ranks above another when it holds every permission of it. Used so nobody grants more than they hold. */
export function roleRank(role: RoleName): number {
  return ROLE_NAMES.length - ROLE_NAMES.indexOf(role);
}

export function isRoleName(value: string): value is RoleName {
  return (ROLE_NAMES as readonly string[]).includes(value);
}

export function roleById(id: string): RoleName | undefined {
  return ROLE_NAMES.find((name) => ROLE_IDS[name] === id);
}

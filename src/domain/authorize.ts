import type { Principal } from './actor.js';
import { forbidden } from './errors.js';
import { can, type Permission } from './roles.js';

/** Throws 403 unless the principal's role grants the permission. */
export function authorize(principal: Principal, permission: Permission): void {
  if (!can(principal.role, permission)) throw forbidden();
}

import { createHash } from 'node:crypto';

/** The fields of an audit entry that its hash covers. */
export interface ChainedFields {
  workspace_id: string;
  seq: string;
  id: string;
  ts: string;
  email: string;
  actor_name: string;
  actor_type: string;
  action: string;
  resource_id: string;
  resource_name: string;
  ip: string;
  user_agent: string;
  extra_data: Record<string, unknown>;
  account_name: string;
}

/** JSON with object keys sorted at every depth, so the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** hash = SHA-256(prev_hash ‖ canonical JSON of the entry's fields). */
export function chainHash(prevHash: Buffer, f: ChainedFields): Buffer {
  const body = canonicalJson([
    f.workspace_id,
    f.seq,
    f.id,
    f.ts,
    f.email,
    f.actor_name,
    f.actor_type,
    f.action,
    f.resource_id,
    f.resource_name,
    f.ip,
    f.user_agent,
    f.extra_data,
    f.account_name,
  ]);
  return createHash('sha256').update(prevHash).update(body).digest();
}

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { AUDIT_ACTIONS } from '../src/domain/audit-actions.js';
import { ERROR_CODES } from '../src/domain/error-codes.js';
import { PERMISSIONS, ROLE_NAMES, can } from '../src/domain/roles.js';

/** The documentation promises what the code does: every error code, action and permission cell. */
describe('docs agree with the code', () => {
  it('docs/errors.md documents every error code', async () => {
    const text = await readFile('docs/errors.md', 'utf8');
    const missing = ERROR_CODES.filter((code) => !text.includes(`\`${code}\``));
    assert.deepEqual(missing, []);
  });

  it('docs/audit-log.md lists every audit action', async () => {
    const text = await readFile('docs/audit-log.md', 'utf8');
    const missing = Object.values(AUDIT_ACTIONS).filter((action) => !text.includes(action));
    assert.deepEqual(missing, []);
  });

  it('docs/permissions.md has the permission matrix exactly', async () => {
    const text = await readFile('docs/permissions.md', 'utf8');
    const lines = text.split('\n');
    const header = lines.findIndex((l) => /^\|\s*permission\s*\|/.test(l));
    assert.ok(header >= 0, 'the matrix table is there');
    const columns = lines[header]!.split('|')
      .map((c) => c.trim())
      .filter(Boolean)
      .slice(1);
    assert.deepEqual(columns, [...ROLE_NAMES]);
    const rows = new Map<string, string[]>();
    for (const line of lines.slice(header + 2)) {
      if (!line.startsWith('|')) break;
      const cells = line
        .split('|')
        .map((c) => c.trim())
        .filter(Boolean);
      rows.set(cells[0]!.replace(/`/g, ''), cells.slice(1));
    }
    assert.deepEqual([...rows.keys()].sort(), [...PERMISSIONS].sort());
    for (const permission of PERMISSIONS) {
      ROLE_NAMES.forEach((role, i) => {
        const documented = rows.get(permission)![i] === 'yes';
        assert.equal(documented, can(role, permission), `${permission} for ${role}`);
      });
    }
  });
});

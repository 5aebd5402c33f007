import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalJson, chainHash, type ChainedFields } from './audit-chain.js';

const entry: ChainedFields = {
  workspace_id: 'w',
  seq: '1',
  id: 'i',
  ts: '2024-01-01T00:00:00.000000Z',
  email: 'a@b.c',
  actor_name: 'A',
  actor_type: 'api_key',
  action: 'Secret created',
  resource_id: 'r',
  resource_name: 'n',
  ip: '127.0.0.1',
  user_agent: 'ua',
  extra_data: { b: 1, a: [{ y: 2, x: 1 }] },
  account_name: 'default',
};

describe('audit chain hashing', () => {
  it('is independent of key order', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: 1, c: 2 } }), '{"a":{"c":2,"d":1},"b":1}');
    const reordered = { ...entry, extra_data: { a: [{ x: 1, y: 2 }], b: 1 } };
    assert.ok(chainHash(Buffer.alloc(32), entry).equals(chainHash(Buffer.alloc(32), reordered)));
  });

  it('changes with any field and with the previous hash', () => {
    const base = chainHash(Buffer.alloc(32), entry);
    for (const key of Object.keys(entry) as (keyof ChainedFields)[]) {
      const changed = {
        ...entry,
        [key]: key === 'extra_data' ? { b: 2 } : `${String(entry[key])}x`,
      } as ChainedFields;
      assert.ok(!chainHash(Buffer.alloc(32), changed).equals(base), key);
    }
    assert.ok(!chainHash(Buffer.alloc(32, 1), entry).equals(base));
  });
});

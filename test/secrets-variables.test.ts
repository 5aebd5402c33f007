import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Secret {
  id: string;
  name: string;
  description: string;
}

describe('secrets', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  async function actions(): Promise<string[]> {
    const res = await t.request({ method: 'GET', url: '/v1alpha/audit_logs?order=asc&page_size=500' });
    return (res.json() as { audit_logs: { action: string }[] }).audit_logs.map((e) => e.action);
  }

  it('creates, lists, gets, updates and deletes without ever returning the value', async () => {
    const value = 'hec-token-5f1a9c2e';
    const created = await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'splunk_hec', value, description: 'HEC' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const secret = (created.json() as { secret: Secret }).secret;
    assert.deepEqual(Object.keys(secret).sort(), ['created_at', 'description', 'id', 'name', 'updated_at']);
    const responses = [
      created,
      await t.request({ method: 'GET', url: '/v1/secrets' }),
      await t.request({ method: 'GET', url: `/v1/secrets/${secret.id}` }),
      await t.request({
        method: 'PATCH',
        url: `/v1/secrets/${secret.id}`,
        payload: { value: `${value}-v2`, description: 'rotated' },
      }),
    ];
    for (const r of responses) {
      assert.ok(r.statusCode < 300, r.body);
      assert.doesNotMatch(r.body, /hec-token-5f1a9c2e/);
    }
    assert.equal((responses[3]!.json() as { secret: Secret }).secret.description, 'rotated');
    assert.equal(await t.services.secrets.reveal(t.workspaceId, 'splunk_hec'), `${value}-v2`);
    const raw = await t.db.rows<{ value_encrypted: Buffer }>('SELECT value_encrypted FROM secrets');
    for (const r of raw)
      assert.equal(r.value_encrypted.includes(Buffer.from('hec-token')), false, 'stored encrypted');
    const del = await t.request({ method: 'DELETE', url: `/v1/secrets/${secret.id}` });
    assert.equal(del.statusCode, 204);
    assert.equal((await t.request({ method: 'GET', url: `/v1/secrets/${secret.id}` })).statusCode, 404);
    const log = await actions();
    assert.deepEqual(log.slice(-3), ['Secret created', 'Secret updated', 'Secret deleted']);
  });

  it('refuses bad names, duplicates, oversize values and unknown fields, writing nothing', async () => {
    const before = (await actions()).length;
    const cases: [unknown, number, string, string][] = [
      [{ name: '1bad', value: 'x' }, 400, 'INVALID_ARGUMENT', 'name'],
      [{ name: 'has space', value: 'x' }, 400, 'INVALID_ARGUMENT', 'name'],
      [{ name: 'ok' }, 400, 'INVALID_ARGUMENT', 'value'],
      [{ name: 'ok', value: 42 }, 400, 'INVALID_ARGUMENT', 'value'],
      [{ name: 'ok', value: 'x'.repeat(65_537) }, 400, 'INVALID_ARGUMENT', 'value'],
      [{ name: 'ok', value: 'x', extra: true }, 400, 'UNKNOWN_FIELD', 'extra'],
    ];
    for (const [payload, status, code, field] of cases) {
      const res = await t.request({ method: 'POST', url: '/v1/secrets', payload: payload as object });
      assert.equal(res.statusCode, status, res.body);
      const body = res.json() as { code: string; details: { field: string }[] };
      assert.equal(body.code, code, res.body);
      assert.ok(
        body.details.some((d) => d.field === field),
        res.body,
      );
    }
    assert.equal(
      (await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: 'dup', value: 'a' } }))
        .statusCode,
      201,
    );
    const dup = await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: 'dup', value: 'b' } });
    assert.equal(dup.statusCode, 409);
    assert.equal((dup.json() as { code: string }).code, 'SECRET_NAME_TAKEN');
    assert.equal((await actions()).length, before + 1, 'only the one successful create is audited');
    const empty = await t.request({
      method: 'PATCH',
      url: `/v1/secrets/00000000-0000-4000-8000-000000000000`,
      payload: {},
    });
    assert.equal(empty.statusCode, 400);
  });

  it('lets creators read names but only contributors and owners change secrets', async () => {
    const viewer = await t.keyWithRole('viewer');
    const creator = await t.keyWithRole('creator');
    const contributor = await t.keyWithRole('contributor');
    assert.equal((await t.request({ method: 'GET', url: '/v1/secrets', as: viewer })).statusCode, 403);
    assert.equal((await t.request({ method: 'GET', url: '/v1/secrets', as: creator })).statusCode, 200);
    assert.equal(
      (
        await t.request({
          method: 'POST',
          url: '/v1/secrets',
          payload: { name: 'c1', value: 'x' },
          as: creator,
        })
      ).statusCode,
      403,
    );
    assert.equal(
      (
        await t.request({
          method: 'POST',
          url: '/v1/secrets',
          payload: { name: 'c1', value: 'x' },
          as: contributor,
        })
      ).statusCode,
      201,
    );
  });

  it('pages by name with a token that cannot be reused on another list', async () => {
    for (let i = 0; i < 7; i++)
      await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: `page_${i}`, value: 'v' } });
    const names: string[] = [];
    let token: string | undefined;
    do {
      const res = await t.request({
        method: 'GET',
        url: `/v1/secrets?page_size=3${token ? `&page_token=${token}` : ''}`,
      });
      const body = res.json() as { secrets: Secret[]; next_page_token?: string };
      names.push(...body.secrets.map((s) => s.name));
      token = body.next_page_token;
      if (token) {
        const wrong = await t.request({ method: 'GET', url: `/v1/variables?page_token=${token}` });
        assert.equal(wrong.statusCode, 400);
      }
    } while (token);
    assert.deepEqual(names, [...names].sort());
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.includes('page_6'));
  });

  it('rotation re-encrypts every value under a new data key and they still decrypt', async () => {
    await t.request({
      method: 'POST',
      url: '/v1/secrets',
      payload: { name: 'before_rotation', value: 'plain-1' },
    });
    const result = await t.services.keyring.rotate();
    assert.equal(result.version, 2);
    assert.ok(result.reencrypted >= 10);
    const versions = await t.db.rows<{ v: number }>(
      'SELECT DISTINCT key_version AS v FROM secrets UNION SELECT DISTINCT secret_key_version FROM api_keys',
    );
    assert.deepEqual(
      versions.map((r) => r.v),
      [2],
    );
    assert.equal(await t.services.secrets.reveal(t.workspaceId, 'before_rotation'), 'plain-1');
    // API keys still exchange for tokens after rotation.
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { apiKey: `${t.owner.client_id}:${t.owner.client_secret}` },
    });
    assert.equal(res.statusCode, 200);
  });

  it('binds each ciphertext to its row: swapping ciphertexts between rows fails to decrypt', async () => {
    await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: 'swap_a', value: 'A' } });
    await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: 'swap_b', value: 'B' } });
    await t.db.exec(
      `UPDATE secrets SET value_encrypted = (SELECT value_encrypted FROM secrets WHERE name = 'swap_a') WHERE name = 'swap_b'`,
    );
    await assert.rejects(t.services.secrets.reveal(t.workspaceId, 'swap_b'), /could not be decrypted/);
  });
});

describe('workspace variables', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  it('stores any JSON value and audits each change', async () => {
    const values: unknown[] = [{ a: [1, 2, { b: null }] }, 'text', 42, true, null, [1, 'x']];
    for (const [i, value] of values.entries()) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/variables',
        payload: { name: `var_${i}`, value },
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.deepEqual((res.json() as { variable: { value: unknown } }).variable.value, value);
    }
    const id = (
      (await t.request({ method: 'GET', url: '/v1/variables?page_size=1' })).json() as {
        variables: { id: string }[];
      }
    ).variables[0]!.id;
    const upd = await t.request({
      method: 'PATCH',
      url: `/v1/variables/${id}`,
      payload: { value: { changed: true } },
    });
    assert.equal(upd.statusCode, 200);
    assert.deepEqual((upd.json() as { variable: { value: unknown } }).variable.value, { changed: true });
    assert.equal((await t.request({ method: 'DELETE', url: `/v1/variables/${id}` })).statusCode, 204);
    const log = (
      (await t.request({ method: 'GET', url: '/v1alpha/audit_logs?order=asc' })).json() as {
        audit_logs: { action: string }[];
      }
    ).audit_logs.map((e) => e.action);
    assert.deepEqual(log.slice(-2), ['Workspace variable updated', 'Workspace variable deleted']);
    assert.equal(log.filter((a) => a === 'Workspace variable created').length, values.length);
  });

  it('needs a value, refuses oversize values, and lets viewers read but not write', async () => {
    const missing = await t.request({ method: 'POST', url: '/v1/variables', payload: { name: 'nothing' } });
    assert.equal(missing.statusCode, 400);
    assert.ok((missing.json() as { details: { field: string }[] }).details.some((d) => d.field === 'value'));
    const big = await t.request({
      method: 'POST',
      url: '/v1/variables',
      payload: { name: 'big', value: 'x'.repeat(300_000) },
    });
    assert.equal(big.statusCode, 400, big.body);
    const viewer = await t.keyWithRole('viewer');
    assert.equal((await t.request({ method: 'GET', url: '/v1/variables', as: viewer })).statusCode, 200);
    assert.equal(
      (
        await t.request({
          method: 'POST',
          url: '/v1/variables',
          payload: { name: 'v', value: 1 },
          as: viewer,
        })
      ).statusCode,
      403,
    );
  });
});

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';
import { standIn, type StandIn } from './vendors/stand-in.js';

/** The workspace's network policy: networks its actions may reach despite the SSRF rules. */
describe('workspace network policy', () => {
  let t: TestApp;
  let server: StandIn;
  const url = (): string => `/v1/workspaces/${t.workspaceId}/network-policy`;

  before(async () => {
    // No installation-wide allow-list: loopback is blocked unless the workspace allows it.
    t = await startTestApp();
    server = await standIn({ 'GET /ping': () => ({ json: { pong: true } }) });
  });
  after(async () => {
    await t.close();
    await server.close();
  });

  async function ping(): Promise<{ status: string; error?: { code: string; message: string } }> {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations/local-http/execute',
      payload: { action: 'request', params: { url: `${server.url}/ping` } },
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as { status: string; error?: { code: string; message: string } };
  }

  it('starts empty; loopback is refused until the owner allows it, then reachable, and audited', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: { name: 'local-http', app: 'http' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const read = await t.request({ method: 'GET', url: url() });
    assert.deepEqual(read.json(), { network_policy: { allowed_networks: [] } });
    const refused = await ping();
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'ADDRESS_BLOCKED');
    assert.match(refused.error!.message, /127\.0\.0\.1/);

    const set = await t.request({
      method: 'PUT',
      url: url(),
      payload: { allowed_networks: ['127.0.0.1/32', '10.20.0.0/16', '127.0.0.1/32'] },
    });
    assert.equal(set.statusCode, 200, set.body);
    assert.deepEqual(set.json(), { network_policy: { allowed_networks: ['127.0.0.1/32', '10.20.0.0/16'] } });
    // The policy is read when an integration is resolved (cached for up to 2 s).
    await new Promise((r) => setTimeout(r, 2100));
    assert.equal((await ping()).status, 'succeeded');

    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=10' });
    const entry = (
      audit.json() as { audit_logs: { action: string; extra_data: { allowed_networks?: string[] } }[] }
    ).audit_logs.find((e) => e.action === 'Workspace network policy updated');
    assert.deepEqual(entry?.extra_data.allowed_networks, ['127.0.0.1/32', '10.20.0.0/16']);
  });

  it('refuses bad ranges by field, other roles and other workspaces', async () => {
    const bad = await t.request({
      method: 'PUT',
      url: url(),
      payload: { allowed_networks: ['10.0.0.0/8', 'nope'] },
    });
    assert.equal(bad.statusCode, 400, bad.body);
    assert.equal((bad.json() as { details: { field: string }[] }).details[0]?.field, 'allowed_networks[1]');
    const wide = await t.request({
      method: 'PUT',
      url: url(),
      payload: { allowed_networks: ['10.0.0.0/33'] },
    });
    assert.equal(wide.statusCode, 400);
    const contributor = await t.keyWithRole('contributor');
    const denied = await t.request({
      method: 'PUT',
      url: url(),
      payload: { allowed_networks: [] },
      as: contributor,
    });
    assert.equal(denied.statusCode, 403);
    assert.equal((await t.request({ method: 'GET', url: url(), as: contributor })).statusCode, 200);
    const other = await t.request({
      method: 'PUT',
      url: '/v1/workspaces/00000000-0000-4000-8000-00000000abcd/network-policy',
      payload: { allowed_networks: [] },
    });
    assert.equal(other.statusCode, 404);
  });
});

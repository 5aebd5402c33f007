import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UNAUTHENTICATED_MESSAGE } from '../src/domain/errors.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface Entry {
  id: string;
  timestamp: string;
  action: string;
  resource_name: string;
  extra_data: Record<string, unknown>;
  account_id: string;
}
interface Page {
  audit_logs: Entry[];
  next_page_token?: string;
}

const FIELDS = [
  'account_id',
  'account_name',
  'action',
  'actor_name',
  'actor_type',
  'email',
  'extra_data',
  'id',
  'ip',
  'resource_id',
  'resource_name',
  'timestamp',
  'user_agent',
];

describe('GET /v1alpha/audit_logs', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    for (let i = 0; i < 25; i++) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/variables',
        payload: { name: `v${i}`, value: i },
      });
      assert.equal(res.statusCode, 201, res.body);
    }
  });
  after(() => t.close());

  async function all(url: string): Promise<Entry[]> {
    const out: Entry[] = [];
    let next: string | undefined;
    do {
      const sep = url.includes('?') ? '&' : '?';
      const res = await t.request({
        method: 'GET',
        url: next ? `${url}${sep}page_token=${encodeURIComponent(next)}` : url,
      });
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json() as Page;
      out.push(...page.audit_logs);
      next = page.next_page_token;
      if (next !== undefined) assert.notEqual(next, '');
    } while (next);
    return out;
  }

  it('returns entries with exactly the seed fields, newest first by default', async () => {
    const res = await t.request({ method: 'GET', url: '/v1alpha/audit_logs' });
    assert.equal(res.statusCode, 200);
    const page = res.json() as Page;
    assert.equal(page.next_page_token, undefined, 'the token is absent on the last page');
    assert.equal(page.audit_logs.length, 27); // workspace created, owner key, 25 variables
    for (const e of page.audit_logs) assert.deepEqual(Object.keys(e).sort(), FIELDS);
    const times = page.audit_logs.map((e) => e.timestamp);
    assert.deepEqual(times, [...times].sort().reverse());
    assert.match(times[0]!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
    assert.equal(page.audit_logs[0]!.action, 'Workspace variable created');
    assert.equal(page.audit_logs[0]!.account_id, t.workspaceId);
  });

  it('is served under /public/v1alpha too', async () => {
    const res = await t.request({ method: 'GET', url: '/public/v1alpha/audit_logs?page_size=1' });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as Page).audit_logs.length, 1);
  });

  it('pages in both orders without skipping or repeating, even while entries arrive', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const seen: Entry[] = [];
      let next: string | undefined;
      let writes = 0;
      do {
        const res = await t.request({
          method: 'GET',
          url: `/v1alpha/audit_logs?page_size=4&order=${order}${next ? `&page_token=${encodeURIComponent(next)}` : ''}`,
        });
        assert.equal(res.statusCode, 200, res.body);
        const page = res.json() as Page;
        seen.push(...page.audit_logs);
        next = page.next_page_token;
        // A write between pages must not shift the pages of a query already under way.
        const w = await t.request({
          method: 'POST',
          url: '/v1/variables',
          payload: { name: `during_${order}_${writes++}`, value: 1 },
        });
        assert.equal(w.statusCode, 201);
      } while (next);
      const ids = seen.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, 'no entry repeats');
      const times = seen.map((e) => e.timestamp);
      assert.deepEqual(times, order === 'asc' ? [...times].sort() : [...times].sort().reverse());
      if (order === 'desc') assert.ok(seen.length >= 27);
    }
    const everything = await all('/v1alpha/audit_logs?order=asc&page_size=7');
    const ids = everything.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('keeps the order of the first page when later pages send only page_token', async () => {
    const first = (
      await t.request({ method: 'GET', url: '/v1alpha/audit_logs?order=asc&page_size=5' })
    ).json() as Page;
    const second = await t.request({
      method: 'GET',
      url: `/v1alpha/audit_logs?page_size=5&page_token=${encodeURIComponent(first.next_page_token!)}`,
    });
    assert.equal(second.statusCode, 200, second.body);
    const page = second.json() as Page;
    assert.ok(page.audit_logs[0]!.timestamp > first.audit_logs.at(-1)!.timestamp);
    const flipped = await t.request({
      method: 'GET',
      url: `/v1alpha/audit_logs?order=desc&page_token=${encodeURIComponent(first.next_page_token!)}`,
    });
    assert.equal(flipped.statusCode, 400);
  });

  it('applies the 24-hour window rules', async () => {
    const now = Date.now();
    const iso = (ms: number): string => new Date(ms).toISOString();
    const total = (await all('/v1alpha/audit_logs')).length;
    assert.equal((await all(`/v1alpha/audit_logs?start_time=${iso(now - 3_600_000)}`)).length, total);
    assert.equal((await all(`/v1alpha/audit_logs?end_time=${iso(now - 3_600_000)}`)).length, 0);
    assert.equal((await all(`/v1alpha/audit_logs?end_time=${iso(now + 3_600_000)}`)).length, total);
    // Only an end: the 24 hours before it — two days ahead excludes everything written now.
    assert.equal((await all(`/v1alpha/audit_logs?end_time=${iso(now + 2 * 86_400_000)}`)).length, 0);
    // start_time is exclusive ("created after"), with nanosecond-precision input accepted.
    const newest = (await all('/v1alpha/audit_logs?page_size=1')).at(0)!;
    const after = await all(`/v1alpha/audit_logs?start_time=${newest.timestamp.replace('Z', '000Z')}`);
    assert.equal(after.length, 0);
  });

  it('answers 400 naming the parameter for bad page_size, time, order and page_token', async () => {
    const cases: [string, string][] = [
      ['page_size=0', 'page_size'],
      ['page_size=501', 'page_size'],
      ['page_size=ten', 'page_size'],
      ['start_time=yesterday', 'start_time'],
      ['end_time=2024-13-45T00:00:00Z', 'end_time'],
      [`start_time=2024-01-02T00:00:00Z&end_time=2024-01-01T00:00:00Z`, 'start_time'],
      ['order=sideways', 'order'],
      ['page_token=not-a-token', 'page_token'],
      ['page_token=eyJ3IjoiYSJ9.AAAAAAAAAAAAAAAAAAAAAA', 'page_token'],
      ['color=blue', 'color'],
    ];
    for (const [query, field] of cases) {
      const res = await t.request({ method: 'GET', url: `/v1/audit-logs?${query}` });
      assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
      const body = res.json() as { code: string; message: string; details: { field: string }[] };
      assert.ok(
        body.details.some((d) => d.field === field),
        `${query} names ${field}: ${res.body}`,
      );
      assert.match(body.message, new RegExp(field));
    }
  });

  it('accepts page_size 500 and defaults to 100', async () => {
    for (let i = 0; i < 80; i++)
      await t.request({ method: 'POST', url: '/v1/variables', payload: { name: `bulk${i}`, value: i } });
    const res = await t.request({ method: 'GET', url: '/v1alpha/audit_logs' });
    const page = res.json() as Page;
    assert.equal(page.audit_logs.length, 100);
    assert.ok(page.next_page_token);
    const big = (await t.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=500' })).json() as Page;
    assert.ok(big.audit_logs.length > 100 && big.next_page_token === undefined);
  });

  it("answers 401 with the seed's message for a bad token and 403 for a non-owner key", async () => {
    const res = await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: 'not-a-real-token' });
    assert.equal(res.statusCode, 401);
    assert.equal((res.json() as { message: string }).message, UNAUTHENTICATED_MESSAGE);
    const none = await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: null });
    assert.equal(none.statusCode, 401);
    for (const role of ['contributor', 'creator', 'operator', 'viewer']) {
      const key = await t.keyWithRole(role);
      const r = await t.request({ method: 'GET', url: '/v1alpha/audit_logs', as: key });
      assert.equal(r.statusCode, 403, role);
      assert.equal(
        (r.json() as { message: string }).message,
        "You don't have permission to access this resource.",
      );
    }
  });

  it('writes no entry for reads', async () => {
    const before = (await all('/v1alpha/audit_logs')).length;
    await t.request({ method: 'GET', url: '/v1/variables' });
    await t.request({ method: 'GET', url: '/v1/secrets' });
    await t.request({ method: 'GET', url: '/v1alpha/users' });
    assert.equal((await all('/v1alpha/audit_logs')).length, before);
  });
});

describe('audit hash chain', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
    for (let i = 0; i < 5; i++)
      await t.request({ method: 'POST', url: '/v1/secrets', payload: { name: `s${i}`, value: 'x' } });
  });
  after(() => t.close());

  it('verifies an untouched chain', async () => {
    const report = await t.services.audit.verify(t.workspaceId);
    assert.equal(report.ok, true);
    assert.equal(report.entries_checked, 7);
    const res = await t.request({ method: 'GET', url: '/v1/audit-logs/verify' });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as { ok: boolean }).ok, true);
  });

  it('names the entry changed behind the API', async () => {
    const target = await t.db.one<{ id: string; seq: string }>(
      `SELECT id, seq FROM audit_logs WHERE workspace_id = $1 AND resource_name = 's2'`,
      [t.workspaceId],
    );
    await t.db.exec(`UPDATE audit_logs SET resource_name = 'innocent' WHERE id = $1`, [target!.id]);
    const report = await t.services.audit.verify(t.workspaceId);
    assert.equal(report.ok, false);
    assert.equal(report.first_broken?.id, target!.id);
    assert.equal(report.first_broken?.seq, target!.seq);
    assert.match(report.first_broken!.reason, /modified/);
    await t.db.exec(`UPDATE audit_logs SET resource_name = 's2' WHERE id = $1`, [target!.id]);
    assert.equal((await t.services.audit.verify(t.workspaceId)).ok, true);
  });

  it('notices a deleted entry and a deleted tail', async () => {
    await t.db.exec(`DELETE FROM audit_logs WHERE workspace_id = $1 AND resource_name = 's1'`, [
      t.workspaceId,
    ]);
    const report = await t.services.audit.verify(t.workspaceId);
    assert.equal(report.ok, false);
    assert.match(report.first_broken!.reason, /missing/);
  });

  it('keeps verifying after retention prunes old entries', async () => {
    const t2 = await startTestApp();
    try {
      for (let i = 0; i < 4; i++)
        await t2.request({ method: 'POST', url: '/v1/variables', payload: { name: `p${i}`, value: i } });
      await t2.db.exec(`UPDATE audit_logs SET ts = ts - interval '400 days' WHERE seq <= 3`);
      // Moving timestamps breaks their hashes; re-verify from a chain that prunes exactly those entries.
      const pruned = await t2.services.audit.prune(365);
      assert.deepEqual(pruned, [{ workspace_id: t2.workspaceId, pruned: 3 }]);
      const report = await t2.services.audit.verify(t2.workspaceId);
      assert.equal(report.ok, true, JSON.stringify(report));
      assert.equal(report.entries_checked, 4, 'three kept entries and the "Audit log pruned" entry');
      const newest = await t2.request({ method: 'GET', url: '/v1alpha/audit_logs?page_size=1' });
      const entry = (newest.json() as Page).audit_logs[0]!;
      assert.equal(entry.action, 'Audit log pruned');
      assert.equal(entry.extra_data.pruned, 3);
    } finally {
      await t2.close();
    }
  });
});

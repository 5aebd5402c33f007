import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { Worker } from '../src/engine/worker.js';
import { assertError, member, sleep, withSession, type AuditEntry } from './helpers/api.js';
import { startTestApp, type TestApp } from './helpers/app.js';

interface StepRun {
  key: string;
  step_id: string;
  kind: string;
  status: string;
  input: unknown;
  output: unknown;
  error: unknown;
}

interface Execution {
  id: string;
  status: string;
  trigger: Record<string, unknown>;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: StepRun[];
}

interface Link {
  approver: string | null;
  url: string;
}

/** What a notify step hands to the outside world: `$approval`. */
interface Delivered {
  approval_id: string;
  message: string;
  options: string[];
  approvers: string[];
  expires_at: string;
  links: Link[];
  url: string;
}

interface ApprovalView {
  id: string;
  execution_id: string;
  step: string;
  message: string;
  options: string[];
  approvers: string[];
  expires_at: string;
  status: 'pending' | 'decided' | 'expired';
  outcome: string | null;
  decided_by: string | null;
  decided_at: string | null;
  comment: string | null;
  approver?: string | null;
}

const PUBLIC_URL = 'https://osprey.example.test';

describe('approval steps: asking people and waiting for the answer', () => {
  let t: TestApp;
  let worker: Worker;
  let server: Server;
  let base: string;
  /** Approvals delivered by notify steps, by approval id. */
  const delivered = new Map<string, Delivered>();
  /** Run while a /deliver-and-answer request is held open (before the notify step gets its answer). */
  let whileNotifying: ((approval: Delivered) => Promise<void>) | undefined;

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        void (async () => {
          const parsed = JSON.parse(body || '{}') as { approval?: Delivered };
          if (parsed.approval) delivered.set(parsed.approval.approval_id, parsed.approval);
          if (req.url === '/deliver-and-answer' && parsed.approval && whileNotifying)
            await whileNotifying(parsed.approval);
          // Echoes the body, so the notify step's recorded output holds the links too.
          res.writeHead(200, { 'content-type': 'application/json' }).end(body);
        })();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    t = await startTestApp({
      env: { OSPREY_PUBLIC_URL: `${PUBLIC_URL}/`, OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' },
    });
    worker = new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
      leaseMs: 2000,
      pollMs: 50,
    });
  });
  after(async () => {
    await t.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** A notify step that delivers `$approval` (links included) to the capture server. */
  function notify(id = 'deliver', path = '/deliver'): string {
    return `    notify:
      - id: ${id}
        kind: action
        action: http.request
        with: { method: POST, url: "${base}${path}", body: { approval: "{{ $approval }}" } }
`;
  }

  async function workflow(yaml: string, publish = true, as = t.owner): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml }, as });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    if (publish) {
      const p = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, as });
      assert.equal(p.statusCode, 200, p.body);
    }
    return id;
  }
  async function run(id: string, inputs: unknown = {}): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions`,
      payload: { inputs },
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }
  async function get(id: string): Promise<Execution> {
    const res = await t.request({ method: 'GET', url: `/v1/executions/${id}` });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { execution: Execution }).execution;
  }
  /** Runs the workflow until it parks on its approval; answers what the notify step delivered. */
  async function parked(executionId: string): Promise<Delivered> {
    await worker.runUntilIdle();
    const x = await get(executionId);
    assert.equal(x.status, 'waiting', JSON.stringify(x.error));
    const approvalId = (
      x.steps.find((s) => s.kind === 'approval' && s.status === 'waiting')?.input as {
        approval_id: string;
      }
    )?.approval_id;
    assert.ok(approvalId, 'the waiting approval step records its approval id');
    const d = delivered.get(approvalId);
    assert.ok(d, 'the notify step delivered the approval');
    return d;
  }
  function pathOf(url: string): string {
    assert.ok(url.startsWith(`${PUBLIC_URL}/v1/approvals/`), url);
    return url.slice(PUBLIC_URL.length);
  }
  function tokenOf(url: string): string {
    return pathOf(url).slice('/v1/approvals/'.length);
  }
  function linkFor(d: Delivered, approver: string | null): string {
    const link = d.links.find((l) => l.approver === approver);
    assert.ok(link, `a link for ${approver}: ${JSON.stringify(d.links)}`);
    return link.url;
  }
  /** Fails clearly when the router refuses the link before Osprey sees it. */
  function routed(res: LightMyRequestResponse): LightMyRequestResponse {
    assert.notEqual(
      res.statusCode,
      414,
      `the router refused an approval link as too long (Fastify's maxParamLength is 100): ${res.body}`,
    );
    return res;
  }
  /** POST to an approval link: no bearer token, the link is the credential. */
  async function answer(url: string, payload: unknown, headers: Record<string, string> = {}) {
    return routed(
      await t.app.inject({
        method: 'POST',
        url: pathOf(url),
        payload: payload as Record<string, unknown>,
        headers,
      }),
    );
  }
  async function look(url: string, headers: Record<string, string> = {}) {
    return routed(await t.app.inject({ method: 'GET', url: pathOf(url), headers }));
  }
  async function auditEntries(): Promise<AuditEntry[]> {
    const res = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=500' });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { audit_logs: AuditEntry[] }).audit_logs;
  }

  const BLOCK_IP = (notifyBlock: string, extra = '') => `name: Block IP
trigger:
  type: on_demand
  inputs: { type: object, required: [ip], properties: { ip: { type: string } } }
steps:
  - id: ask
    kind: approval
    message: "Block {{ $.event.ip }}?"
    approvers: [Alice@Example.com, bob@example.com]
${extra}${notifyBlock}  - id: decide
    kind: if
    condition: "{{ $.ask.outcome = 'approve' }}"
    then:
      - { id: blocked, kind: exit, output: { blocked: true, by: "{{ $.ask.decided_by }}", note: "{{ $.ask.comment }}" } }
    else:
      - { id: allowed, kind: exit, output: { blocked: false, outcome: "{{ $.ask.outcome }}" } }
`;

  it('issues links the server can route (a real link opens, as GET and POST)', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '192.0.2.1' });
    const d = await parked(e);
    for (const link of d.links) {
      const token = tokenOf(link.url);
      const res = await t.app.inject({ method: 'GET', url: `/v1/approvals/${token}` });
      assert.equal(
        res.statusCode,
        200,
        `GET of a ${token.length}-character approval link answered ${res.statusCode}: ${res.body}`,
      );
    }
    const res = await t.app.inject({
      method: 'POST',
      url: pathOf(linkFor(d, 'bob@example.com')),
      payload: { outcome: 'reject' },
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(await worker.runUntilIdle(), 1);
    assert.equal((await get(e)).status, 'succeeded');
  });

  it('parks the run without a worker, delivers one link per approver, and resumes with the answer', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '203.0.113.9' });
    const started = Date.now();
    assert.equal(await worker.runUntilIdle(), 1);
    const d = await parked(e);
    assert.equal(await worker.runUntilIdle(), 0, 'a parked approval is not claimable before it is answered');
    const lease = await t.db.one<{ lease_owner: string | null }>(
      'SELECT lease_owner FROM executions WHERE id = $1',
      [e],
    );
    assert.equal(lease?.lease_owner, null, 'the waiting run holds no worker');

    assert.equal(d.message, 'Block 203.0.113.9?');
    assert.deepEqual(d.options, ['approve', 'reject'], 'the default options');
    assert.deepEqual(d.approvers, ['alice@example.com', 'bob@example.com']);
    assert.deepEqual(
      d.links.map((l) => l.approver),
      ['alice@example.com', 'bob@example.com'],
    );
    assert.equal(d.url, d.links[0]!.url);
    assert.notEqual(d.links[0]!.url, d.links[1]!.url, 'each approver has an own link');
    for (const l of d.links) assert.match(l.url, /^https:\/\/osprey\.example\.test\/v1\/approvals\/[^/]+$/);
    const expiresIn = Date.parse(d.expires_at) - started;
    assert.ok(Math.abs(expiresIn - 24 * 3_600_000) < 60_000, `expires in 24h by default: ${expiresIn} ms`);

    // The link is public: it opens without a bearer token and names its approver.
    const alice = linkFor(d, 'alice@example.com');
    const seen = await look(alice);
    assert.equal(seen.statusCode, 200, seen.body);
    const view = (seen.json() as { approval: ApprovalView }).approval;
    assert.equal(view.status, 'pending');
    assert.equal(view.approver, 'alice@example.com');
    assert.equal(view.execution_id, e);
    assert.equal(view.message, 'Block 203.0.113.9?');
    assert.deepEqual(view.options, ['approve', 'reject']);

    const html = await look(alice, { accept: 'text/html' });
    assert.equal(html.statusCode, 200);
    assert.match(String(html.headers['content-type']), /^text\/html/);
    assert.match(html.body, /Block 203\.0\.113\.9\?/);
    assert.match(html.body, /<button name="outcome" value="approve">/);
    assert.match(html.body, /<button name="outcome" value="reject">/);

    const res = await answer(alice, { outcome: 'approve', comment: 'seen it beaconing' });
    assert.equal(res.statusCode, 200, res.body);
    const decided = (res.json() as { approval: ApprovalView }).approval;
    assert.equal(decided.status, 'decided');
    assert.equal(decided.outcome, 'approve');
    assert.equal(decided.decided_by, 'alice@example.com');

    assert.equal(await worker.runUntilIdle(), 1, 'the answer wakes the run at once');
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { blocked: true, by: 'alice@example.com', note: 'seen it beaconing' });
    const ask = x.steps.find((s) => s.key === 'ask');
    assert.equal(ask?.status, 'succeeded');
    const out = ask?.output as Record<string, unknown>;
    assert.deepEqual(Object.keys(out).sort(), [
      'approval_id',
      'comment',
      'decided_at',
      'decided_by',
      'outcome',
      'timed_out',
    ]);
    assert.equal(out.approval_id, d.approval_id);
    assert.equal(out.outcome, 'approve');
    assert.equal(out.decided_by, 'alice@example.com');
    assert.equal(out.comment, 'seen it beaconing');
    assert.equal(out.timed_out, false);
    assert.ok(!Number.isNaN(Date.parse(String(out.decided_at))), String(out.decided_at));
    assert.deepEqual(
      x.steps.filter((s) => s.key === 'ask.notify.deliver').map((s) => s.status),
      ['succeeded'],
      'the notify step ran once, before the wait, and not again on resume',
    );

    // Single use: the same link, or another approver's, cannot answer again.
    const again = await answer(alice, { outcome: 'reject' });
    assertError(again, 409, 'APPROVAL_ALREADY_DECIDED');
    assertError(
      await answer(linkFor(d, 'bob@example.com'), { outcome: 'reject' }),
      409,
      'APPROVAL_ALREADY_DECIDED',
    );
    const after = (await look(alice)).json() as { approval: ApprovalView };
    assert.equal(after.approval.status, 'decided');
    assert.equal(after.approval.outcome, 'approve');
    assert.equal((await get(e)).status, 'succeeded');

    const audit = (await auditEntries()).filter(
      (a) => a.action === 'Approval decided' && a.resource_id === d.approval_id,
    );
    assert.equal(audit.length, 1, JSON.stringify(audit));
    assert.equal(audit[0]!.resource_id, d.approval_id);
    assert.equal(audit[0]!.email, 'alice@example.com');
    assert.equal(audit[0]!.extra_data.outcome, 'approve');
    assert.equal(audit[0]!.extra_data.execution_id, e);
  });

  it('answers through the HTML form (form-urlencoded) and branches on the outcome; escapes the message', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '<script>alert(1)</script>' });
    const d = await parked(e);
    const bob = linkFor(d, 'bob@example.com');
    const page = await look(bob, { accept: 'text/html,application/xhtml+xml' });
    assert.equal(page.statusCode, 200);
    assert.doesNotMatch(page.body, /<script>/, 'the message is escaped in the page');
    assert.match(page.body, /&#60;script&#62;/);
    const res = await t.app.inject({
      method: 'POST',
      url: pathOf(bob),
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      payload: 'outcome=reject&comment=false+positive',
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.match(res.body, /reject/);
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { blocked: false, outcome: 'reject' });
    const ask = x.steps.find((s) => s.key === 'ask')?.output as Record<string, unknown>;
    assert.equal(ask.decided_by, 'bob@example.com');
    assert.equal(ask.comment, 'false positive');
  });

  it('accepts only the step options, naming outcome when another is given', async () => {
    const id = await workflow(`name: Triage
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: What now?
    options: [block, ignore, escalate]
${notify()}  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    const e = await run(id);
    const d = await parked(e);
    assert.deepEqual(d.options, ['block', 'ignore', 'escalate']);
    assert.deepEqual(d.links, [{ approver: null, url: d.url }], 'without approvers, one link for anyone');
    assertError(await answer(d.url, { outcome: 'approve' }), 400, 'INVALID_ARGUMENT', 'outcome', {
      messageNamesField: false,
    });
    assert.equal(
      ((await look(d.url)).json() as { approval: ApprovalView }).approval.status,
      'pending',
      'a refused answer does not use the link up',
    );
    const res = await answer(d.url, { outcome: 'escalate' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((res.json() as { approval: ApprovalView }).approval.decided_by, 'approval link');
    await worker.runUntilIdle();
    assert.equal((await get(e)).output, 'escalate');
  });

  it('renders approvers from expressions and compares them without case', async () => {
    const id = await workflow(`name: On-call approver
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: "Page {{ $.event.team }}?"
    approvers: ["{{ $.event.on_call }}", "lead-{{ $.event.team }}@example.com"]
${notify()}  - { id: done, kind: exit, output: { outcome: "{{ $.ask.outcome }}", by: "{{ $.ask.decided_by }}" } }
`);
    const e = await run(id, { on_call: 'Dana.Ops@Example.COM', team: 'soc' });
    const d = await parked(e);
    assert.deepEqual(d.approvers, ['dana.ops@example.com', 'lead-soc@example.com']);
    const res = await answer(linkFor(d, 'dana.ops@example.com'), { outcome: 'approve' });
    assert.equal(res.statusCode, 200, res.body);
    await worker.runUntilIdle();
    assert.deepEqual((await get(e)).output, { outcome: 'approve', by: 'dana.ops@example.com' });
  });

  it('refuses forged and mangled links with 404 APPROVAL_NOT_FOUND', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '198.51.100.7' });
    const d = await parked(e);
    const token = tokenOf(linkFor(d, 'alice@example.com'));
    const [body, mac] = token.split('.') as [string, string];
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    // A link for the same approval, approver and expiry, signed with a key Osprey does not have.
    const forgedMac = createHmac('sha256', randomBytes(32)).update(body).digest('base64url');
    // A link naming another approver, keeping the original signature.
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>;
    const otherBody = Buffer.from(JSON.stringify({ ...claims, p: 'mallory@example.com' })).toString(
      'base64url',
    );
    for (const bad of [
      `${body}.${forgedMac}`,
      `${body}.${flip(mac, 5)}`,
      `${flip(body, 3)}.${mac}`,
      `${otherBody}.${mac}`,
      `${body}.${mac}.extra`,
      `${body}${mac}`,
      'definitely-not-a-token',
    ]) {
      const url = `${PUBLIC_URL}/v1/approvals/${bad}`;
      assertError(await look(url), 404, 'APPROVAL_NOT_FOUND');
      assertError(await answer(url, { outcome: 'approve' }), 404, 'APPROVAL_NOT_FOUND');
    }
    assert.equal((await get(e)).status, 'waiting', 'nothing was decided');
    const res = await answer(linkFor(d, 'alice@example.com'), { outcome: 'reject' });
    assert.equal(res.statusCode, 200, 'the genuine link still works');
  });

  it('does not let the person who started the run approve it, unless requester_may_approve', async () => {
    const strict = await workflow(`name: Strict approval
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Disable the account?
    approvers: [OWNER@example.COM, bob@example.com]
${notify()}  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    const e = await run(strict);
    const x = await get(e);
    assert.equal(x.trigger.by, 'owner@example.com', 'a run by the owner key is started by the owner');
    const d = await parked(e);
    const own = linkFor(d, 'owner@example.com');
    assertError(await answer(own, { outcome: 'approve' }), 403, 'APPROVER_NOT_ALLOWED');
    // Signed in (the owner key acts as owner@example.com), the same refusal.
    assertError(
      await t.request({
        method: 'POST',
        url: `/v1/approvals/${d.approval_id}/answer`,
        payload: { outcome: 'approve' },
      }),
      403,
      'APPROVER_NOT_ALLOWED',
    );
    assert.equal(((await look(own)).json() as { approval: ApprovalView }).approval.status, 'pending');
    const res = await answer(linkFor(d, 'bob@example.com'), { outcome: 'approve' });
    assert.equal(res.statusCode, 200, res.body);
    await worker.runUntilIdle();
    assert.equal((await get(e)).output, 'approve');

    const lenient = await workflow(`name: Lenient approval
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Disable the account?
    approvers: [owner@example.com]
    requester_may_approve: true
${notify()}  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    const e2 = await run(lenient);
    const d2 = await parked(e2);
    const ok = await answer(linkFor(d2, 'owner@example.com'), { outcome: 'reject' });
    assert.equal(ok.statusCode, 200, ok.body);
    await worker.runUntilIdle();
    assert.equal((await get(e2)).output, 'reject');
  });

  it('lets signed-in approvers answer by id, lists pending approvals and ?mine=true', async () => {
    const alice = await member(t, 'alice@example.com', 'operator');
    const carol = await member(t, 'carol@example.com', 'operator');
    const viewer = await member(t, 'vera@example.com', 'viewer');
    const named = await workflow(`name: Named approvers
trigger: { type: on_demand }
steps:
  - { id: ask, kind: approval, message: Isolate the host?, approvers: [ALICE@Example.COM] }
  - { id: done, kind: exit, output: { outcome: "{{ $.ask.outcome }}", by: "{{ $.ask.decided_by }}" } }
`);
    const open = await workflow(`name: Open approval
trigger: { type: on_demand }
steps:
  - { id: ask_anyone, kind: approval, message: Reset the password? }
  - { id: done, kind: exit, output: { outcome: "{{ $.ask_anyone.outcome }}", by: "{{ $.ask_anyone.decided_by }}" } }
`);
    const e1 = await run(named);
    const e2 = await run(open);
    assert.equal(await worker.runUntilIdle(), 2);
    assert.equal((await get(e1)).status, 'waiting');
    const list = async (url: string, session?: string): Promise<ApprovalView[]> => {
      const res = session
        ? await withSession(t, session, { method: 'GET', url })
        : await t.request({ method: 'GET', url });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { approvals: ApprovalView[] }).approvals;
    };
    assert.equal((await t.app.inject({ method: 'GET', url: '/v1/approvals' })).statusCode, 401);
    const all = await list('/v1/approvals');
    const a1 = all.find((a) => a.execution_id === e1);
    const a2 = all.find((a) => a.execution_id === e2);
    assert.ok(a1 && a2, JSON.stringify(all));
    assert.equal(a1.status, 'pending');
    assert.equal(a1.step, 'ask');
    assert.deepEqual(a1.approvers, ['alice@example.com']);
    assert.doesNotMatch(JSON.stringify(all), /\/v1\/approvals\/[A-Za-z0-9_-]+\./, 'no links in the list');

    const mineAlice = (await list('/v1/approvals?mine=true', alice.session)).map((a) => a.id);
    assert.ok(mineAlice.includes(a1.id) && mineAlice.includes(a2.id), 'named (any case) and open ones');
    const mineCarol = (await list('/v1/approvals?mine=true', carol.session)).map((a) => a.id);
    assert.ok(!mineCarol.includes(a1.id), 'carol is not an approver of the first');
    assert.ok(mineCarol.includes(a2.id), 'anyone may answer the open one');

    const answerAs = (session: string, approvalId: string, outcome: string) =>
      withSession(t, session, {
        method: 'POST',
        url: `/v1/approvals/${approvalId}/answer`,
        payload: { outcome },
      });
    assertError(await answerAs(carol.session, a1.id, 'approve'), 403, 'APPROVER_NOT_ALLOWED');
    assertError(await answerAs(viewer.session, a2.id, 'approve'), 403, 'PERMISSION_DENIED');
    assertError(await answerAs(alice.session, randomUUID(), 'approve'), 404, 'APPROVAL_NOT_FOUND');

    const res = await answerAs(alice.session, a1.id, 'approve');
    assert.equal(res.statusCode, 200, res.body);
    assertError(await answerAs(alice.session, a1.id, 'approve'), 409, 'APPROVAL_ALREADY_DECIDED');
    const res2 = await answerAs(carol.session, a2.id, 'reject');
    assert.equal(res2.statusCode, 200, res2.body);
    assert.equal(await worker.runUntilIdle(), 2);
    assert.deepEqual((await get(e1)).output, { outcome: 'approve', by: 'alice@example.com' });
    assert.deepEqual((await get(e2)).output, { outcome: 'reject', by: 'carol@example.com' });
    const left = (await list('/v1/approvals')).map((a) => a.id);
    assert.ok(!left.includes(a1.id) && !left.includes(a2.id), 'answered approvals are no longer pending');

    const audit = (await auditEntries()).filter(
      (a) => a.action === 'Approval decided' && a.resource_id === a1.id,
    );
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.email, 'alice@example.com');
  });

  it('takes default_outcome at the expiry, fails APPROVAL_EXPIRED without one, and refuses expired links with 410', async () => {
    const withDefault = await workflow(`name: Default outcome
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Quarantine?
    expires_in: 1s
    default_outcome: reject
${notify('deliver_a')}  - { id: done, kind: exit, output: { outcome: "{{ $.ask.outcome }}", timed_out: "{{ $.ask.timed_out }}" } }
`);
    const without = await workflow(`name: No default
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Quarantine?
    expires_in: 1s
${notify('deliver_b')}  - { id: never, kind: transform, value: 1 }
`);
    const e1 = await run(withDefault);
    const e2 = await run(without);
    const d1 = await parked(e1);
    const d2 = await parked(e2);
    assert.equal((await get(e2)).status, 'waiting');
    await sleep(1200);

    const view = await look(d1.url);
    assert.equal(view.statusCode, 200);
    assert.equal((view.json() as { approval: ApprovalView }).approval.status, 'expired');
    assertError(await answer(d1.url, { outcome: 'approve' }), 410, 'APPROVAL_EXPIRED');
    const pending = (await t.request({ method: 'GET', url: '/v1/approvals' })).json() as {
      approvals: ApprovalView[];
    };
    assert.ok(!pending.approvals.some((a) => a.id === d1.approval_id), 'an expired approval is not pending');

    assert.equal(await worker.runUntilIdle(), 2, 'both runs are due at the expiry');
    const x1 = await get(e1);
    assert.equal(x1.status, 'succeeded', JSON.stringify(x1.error));
    assert.deepEqual(x1.output, { outcome: 'reject', timed_out: true });
    const ask = x1.steps.find((s) => s.key === 'ask')?.output as Record<string, unknown>;
    assert.equal(ask.timed_out, true);
    assert.equal(ask.outcome, 'reject');
    assert.equal(ask.decided_by, null);
    assert.equal(ask.approval_id, d1.approval_id);

    const x2 = await get(e2);
    assert.equal(x2.status, 'failed');
    assert.equal(x2.error?.code, 'APPROVAL_EXPIRED');
    assert.equal(x2.error?.step_id, 'ask');
    assert.ok(!x2.steps.some((s) => s.key === 'never'));
    assertError(await answer(d2.url, { outcome: 'approve' }), 410, 'APPROVAL_EXPIRED');
  });

  it('never records the links, even when notify steps render them', async () => {
    const id = await workflow(`name: Chatty notify
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Wipe the laptop?
    approvers: [alice@example.com, bob@example.com]
    notify:
      - { id: note, kind: transform, value: "Approve at {{ $approval.url }}" }
      - { id: all_links, kind: transform, value: "{{ $approval.links }}" }
      - id: deliver
        kind: action
        action: http.request
        with: { method: POST, url: "${base}/deliver", body: { approval: "{{ $approval }}", text: "{{ $.note }}" } }
  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    const e = await run(id);
    const d = await parked(e);
    const tokens = d.links.map((l) => tokenOf(l.url));
    const recorded = await t.request({ method: 'GET', url: `/v1/executions/${e}` });
    for (const token of tokens) assert.ok(!recorded.body.includes(token), 'no token in the execution record');
    const x = (recorded.json() as { execution: Execution }).execution;
    assert.equal(x.steps.find((s) => s.key === 'ask.notify.note')?.output, 'Approve at [secret]');
    assert.deepEqual(x.steps.find((s) => s.key === 'ask.notify.all_links')?.output, [
      { approver: 'alice@example.com', url: '[secret]' },
      { approver: 'bob@example.com', url: '[secret]' },
    ]);
    const deliver = x.steps.find((s) => s.key === 'ask.notify.deliver');
    assert.equal(deliver?.status, 'succeeded');
    assert.match(JSON.stringify(deliver?.input), /\[secret\]/, 'the rendered request is recorded, masked');

    const res = await answer(linkFor(d, 'bob@example.com'), { outcome: 'approve' });
    assert.equal(res.statusCode, 200);
    await worker.runUntilIdle();
    for (const url of [
      `/v1/executions/${e}`,
      `/public/v1alpha/executions/${e}`,
      `/v1/activity-logs?workflow_id=${id}&page_size=500`,
      '/v1/approvals',
      '/v1/audit-logs?page_size=500',
    ]) {
      const r = await t.request({ method: 'GET', url });
      assert.equal(r.statusCode, 200, `${url}: ${r.body}`);
      for (const token of tokens) assert.ok(!r.body.includes(token), `no token in ${url}`);
    }
    assert.equal((await get(e)).output, 'approve');
  });

  it('masks the link token itself, not only the whole URL, in what notify steps record', async () => {
    // A chat button carries the token in its own URL: the token is the credential.
    const id = await workflow(`name: Custom link
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Disable MFA?
    notify:
      - { id: button, kind: transform, value: "https://chat.example.test/approve?t={{ $substringAfter($approval.url, '/v1/approvals/') }}" }
${notify().split('\n').slice(1).join('\n')}  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    const e = await run(id);
    const d = await parked(e);
    const token = tokenOf(d.url);
    const recorded = await t.request({ method: 'GET', url: `/v1/executions/${e}` });
    const button = (recorded.json() as { execution: Execution }).execution.steps.find(
      (s) => s.key === 'ask.notify.button',
    );
    assert.equal(button?.status, 'succeeded');
    assert.ok(
      !recorded.body.includes(token),
      `the approval token is recorded in clear: ${JSON.stringify(button)}`,
    );
  });

  it('does not lose an answer given while the notify steps are still running', async () => {
    const id = await workflow(`name: Fast approver
trigger: { type: on_demand }
steps:
  - id: ask
    kind: approval
    message: Contain?
${notify('deliver', '/deliver-and-answer')}  - { id: done, kind: exit, output: "{{ $.ask.outcome }}" }
`);
    let answered: number | undefined;
    whileNotifying = async (approval) => {
      const res = await answer(approval.url, { outcome: 'approve', comment: 'before the wait' });
      answered = res.statusCode;
    };
    try {
      const e = await run(id);
      assert.equal(
        await worker.runUntilIdle(),
        2,
        'parked, then due at once because it was already answered',
      );
      assert.equal(answered, 200);
      const x = await get(e);
      assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
      assert.equal(x.output, 'approve');
      assert.equal(
        (x.steps.find((s) => s.key === 'ask')?.output as { comment: string }).comment,
        'before the wait',
      );
    } finally {
      whileNotifying = undefined;
    }
  });

  it('accepts exactly one of two simultaneous answers', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '192.0.2.44' });
    const d = await parked(e);
    const results = await Promise.all([
      answer(linkFor(d, 'alice@example.com'), { outcome: 'approve' }),
      answer(linkFor(d, 'bob@example.com'), { outcome: 'reject' }),
    ]);
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 409]);
    await worker.runUntilIdle();
    const x = await get(e);
    assert.equal(x.status, 'succeeded');
    const winner = results.find((r) => r.statusCode === 200)!.json() as { approval: ApprovalView };
    assert.equal(
      (x.steps.find((s) => s.key === 'ask')?.output as { outcome: string }).outcome,
      winner.approval.outcome,
    );
    const audit = (await auditEntries()).filter(
      (a) => a.action === 'Approval decided' && a.resource_id === d.approval_id,
    );
    assert.equal(audit.length, 1, 'one decision, one audit entry');
  });

  it('does not let the person who started a run approve an approval in a child run it called', async () => {
    await workflow(`name: Approval child
trigger: { type: nested }
steps:
  - id: child_ask
    kind: approval
    message: Delete the mailbox?
    approvers: [owner@example.com, bob@example.com]
${notify('child_deliver')}  - { id: child_done, kind: exit, output: "{{ $.child_ask.outcome }}" }
`);
    const parent = await workflow(`name: Approval parent
trigger: { type: on_demand }
steps:
  - { id: call, kind: call_workflow, workflow: Approval child }
  - { id: done, kind: exit, output: "{{ $.call }}" }
`);
    const e = await run(parent);
    await worker.runUntilIdle();
    const px = await get(e);
    assert.equal(px.status, 'waiting', JSON.stringify(px.error));
    const d = [...delivered.values()].find((v) => v.message === 'Delete the mailbox?');
    assert.ok(d, 'the child delivered its approval');
    // owner@example.com started the parent run; wrapping the approval in a child must not let them self-approve.
    assertError(
      await answer(linkFor(d, 'owner@example.com'), { outcome: 'approve' }),
      403,
      'APPROVER_NOT_ALLOWED',
    );
  });

  it('refuses an answer once the run waiting for it was cancelled', async () => {
    const id = await workflow(BLOCK_IP(notify()));
    const e = await run(id, { ip: '192.0.2.99' });
    const d = await parked(e);
    const cancel = await t.request({ method: 'POST', url: `/v1/executions/${e}/cancel` });
    assert.equal(cancel.statusCode, 200, cancel.body);
    const view = (await look(linkFor(d, 'alice@example.com'))).json() as { approval: ApprovalView };
    assert.notEqual(view.approval.status, 'pending', 'a cancelled run asks nothing any more');
    const res = await answer(linkFor(d, 'alice@example.com'), { outcome: 'approve' });
    assert.ok(
      res.statusCode === 409 || res.statusCode === 410,
      `an answer to a cancelled run is refused, got ${res.statusCode}: ${res.body}`,
    );
    const audit = (await auditEntries()).filter(
      (a) => a.action === 'Approval decided' && a.resource_id === d.approval_id,
    );
    assert.equal(audit.length, 0, 'no decision is recorded for a run that no longer waits');
    assert.equal((await get(e)).status, 'cancelled');
  });
});

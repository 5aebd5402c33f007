import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from './helpers/app.js';

const SOURCE = `# Enrich an IP address
name: Enrich IP
description: Look an IP up and report
tags: [enrichment]
trigger:
  type: on_demand
  inputs: { type: object, properties: { ip: { type: string } } }
steps:
  - id: lookup
    kind: action
    action: http.request
    with:
      method: GET
      url: "https://intel.example.test/ip/{{ $.event.ip }}"
  - id: done
    kind: exit
    output: { status: "{{ $.lookup.status_code }}" }
`;

interface Workflow {
  id: string;
  name: string;
  tags: string[];
  current_revision_id: string;
  published_revision_id: string | null;
  enabled: boolean;
  has_unpublished_changes: boolean;
}
interface Created {
  workflow: Workflow;
  revision: { id: string; number: number };
}
interface AuditEntry {
  action: string;
  resource_id: string;
  extra_data: { revision_id?: string; tags?: string[] };
}

describe('workflows: definitions, revisions, publishing', () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp();
  });
  after(() => t.close());

  async function create(source = SOURCE): Promise<Created> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml: source } });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as Created;
  }
  async function auditFor(id: string): Promise<AuditEntry[]> {
    const res = await t.request({ method: 'GET', url: '/v1alpha/audit_logs?order=asc&page_size=500' });
    return (res.json() as { audit_logs: AuditEntry[] }).audit_logs.filter((e) => e.resource_id === id);
  }

  it('creates a workflow with a first revision, keeps the YAML exactly, and audits it', async () => {
    const { workflow, revision } = await create();
    assert.equal(workflow.name, 'Enrich IP');
    assert.deepEqual(workflow.tags, ['enrichment']);
    assert.equal(workflow.published_revision_id, null);
    assert.equal(revision.number, 1);
    const got = await t.request({
      method: 'GET',
      url: `/v1/workflows/${workflow.id}/revisions/${revision.id}`,
    });
    assert.equal(got.statusCode, 200);
    assert.equal(
      (got.json() as { yaml: string }).yaml,
      SOURCE,
      'the revision returns the YAML as saved, comments and all',
    );
    const [entry] = await auditFor(workflow.id);
    assert.equal(entry?.action, 'Workflow created');
    assert.deepEqual(entry?.extra_data, { revision_id: revision.id, tags: ['enrichment'] });
  });

  it('answers 400 with every problem, its path and its line, and writes nothing', async () => {
    const before = (await t.request({ method: 'GET', url: '/v1/workflows' })).json() as {
      workflows: unknown[];
    };
    const bad = SOURCE.replace('kind: exit', 'kind: exit\n    colour: red').replace(
      '{{ $.lookup.status_code }}',
      '{{ $.lookup.status_code + }}',
    );
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml: bad } });
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json() as {
      code: string;
      message: string;
      details: { field: string; path: string; line: number; column: number; message: string }[];
    };
    assert.equal(body.code, 'WORKFLOW_INVALID');
    const unknown = body.details.find((d) => d.path === 'steps[1].colour');
    assert.equal(unknown?.line, 17);
    assert.equal(unknown?.field, 'yaml:steps[1].colour');
    const syntax = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: { yaml: 'name: [oops' },
    });
    assert.equal(syntax.statusCode, 400);
    assert.equal(typeof (syntax.json() as { details: { line: number }[] }).details[0]?.line, 'number');
    const after = (await t.request({ method: 'GET', url: '/v1/workflows' })).json() as {
      workflows: unknown[];
    };
    assert.equal(after.workflows.length, before.workflows.length);
    const neither = await t.request({ method: 'POST', url: '/v1/workflows', payload: {} });
    assert.equal(neither.statusCode, 400);
    assert.equal((neither.json() as { details: { field: string }[] }).details[0]?.field, 'yaml');
  });

  it('imports base64 or escaped YAML and answers workflow_id and revision_id', async () => {
    for (const yaml of [Buffer.from(SOURCE).toString('base64'), SOURCE]) {
      const res = await t.request({ method: 'POST', url: '/v1/workflows/import', payload: { yaml } });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json() as { workflow_id: string; revision_id: string };
      const rev = await t.request({
        method: 'GET',
        url: `/v1/workflows/${body.workflow_id}/revisions/${body.revision_id}`,
      });
      assert.equal((rev.json() as { yaml: string }).yaml, SOURCE);
    }
  });

  it('lists by exact name and by tag, with paging', async () => {
    const byName = (await t.request({ method: 'GET', url: '/v1/workflows?name=Enrich%20IP' })).json() as {
      workflows: Workflow[];
    };
    assert.ok(byName.workflows.length >= 3);
    assert.ok(byName.workflows.every((w) => w.name === 'Enrich IP'));
    const none = (await t.request({ method: 'GET', url: '/v1/workflows?name=Enrich' })).json() as {
      workflows: Workflow[];
    };
    assert.equal(none.workflows.length, 0, 'name is an exact match');
    const tagged = (
      await t.request({ method: 'GET', url: '/v1/workflows?tag=enrichment&page_size=2' })
    ).json() as { workflows: Workflow[]; next_page_token?: string };
    assert.equal(tagged.workflows.length, 2);
    assert.ok(tagged.next_page_token);
    const next = (
      await t.request({
        method: 'GET',
        url: `/v1/workflows?tag=enrichment&page_size=2&page_token=${tagged.next_page_token}`,
      })
    ).json() as { workflows: Workflow[] };
    assert.ok(next.workflows.length >= 1);
    assert.ok(!next.workflows.some((w) => tagged.workflows.some((x) => x.id === w.id)));
  });

  it('edits (new revision), publishes only the current revision, reverts, unpublishes, with audit entries', async () => {
    const { workflow, revision: r1 } = await create();
    const edited = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${workflow.id}`,
      payload: { yaml: SOURCE.replace('Look an IP up and report', 'Look an IP up, then report') },
    });
    assert.equal(edited.statusCode, 200, edited.body);
    const r2 = (edited.json() as Created).revision;
    assert.equal(r2.number, 2);

    const stale = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflow.id}/publish`,
      payload: { revision_id: r1.id },
    });
    assert.equal(stale.statusCode, 409);
    assert.equal((stale.json() as { code: string }).code, 'REVISION_NOT_CURRENT');

    const torq = await t.request({
      method: 'PATCH',
      url: `/public/v1alpha/workflows/${workflow.id}/revisions/${r2.id}/publish`,
      payload: { description: 'first release', time_saved: 60 },
    });
    assert.equal(torq.statusCode, 200, torq.body);
    const torqBody = torq.json() as { published_revision_id: string; tags: { name: string }[] };
    assert.equal(torqBody.published_revision_id, r2.id);
    assert.deepEqual(torqBody.tags, [{ name: 'enrichment' }]);

    const tagsRes = await t.request({ method: 'GET', url: `/v1alpha/workflow/${workflow.id}/tags` });
    assert.deepEqual(tagsRes.json(), { tags: [{ name: 'enrichment' }] });

    const renamed = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${workflow.id}`,
      payload: { name: 'Enrich IP v2', tags: ['enrichment', 'ip'] },
    });
    assert.equal(renamed.statusCode, 200, renamed.body);
    const r3 = (renamed.json() as Created).revision;
    const w3 = (renamed.json() as Created).workflow;
    assert.equal(w3.name, 'Enrich IP v2');
    assert.equal(w3.has_unpublished_changes, true);
    const yaml3 = (
      (await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}/revisions/${r3.id}` })).json() as {
        yaml: string;
      }
    ).yaml;
    assert.match(yaml3, /^# Enrich an IP address/, 'comments survive a rename');
    assert.match(yaml3, /name: Enrich IP v2/);

    const reverted = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflow.id}/revert`,
      payload: { revision_id: r1.id },
    });
    assert.equal(reverted.statusCode, 200, reverted.body);
    const r4 = (reverted.json() as Created).revision;
    assert.equal(r4.number, 4);
    assert.equal((reverted.json() as Created).workflow.name, 'Enrich IP');

    const unpub = await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/unpublish` });
    assert.equal((unpub.json() as { workflow: Workflow }).workflow.published_revision_id, null);
    const again = await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/unpublish` });
    assert.equal(again.statusCode, 409);

    const off = await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/disable` });
    assert.equal((off.json() as { workflow: Workflow }).workflow.enabled, false);
    await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/enable` });

    const revisions = (
      await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}/revisions` })
    ).json() as { revisions: { number: number; published: boolean }[] };
    assert.deepEqual(
      revisions.revisions.map((r) => r.number),
      [4, 3, 2, 1],
    );
    assert.deepEqual(
      revisions.revisions.map((r) => r.published),
      [false, false, true, false],
    );

    const entries = await auditFor(workflow.id);
    assert.deepEqual(
      entries.map((e) => e.action),
      [
        'Workflow created',
        'Workflow edited',
        'Workflow published',
        'Workflow updated',
        'Workflow reverted',
        'Workflow unpublished',
        'Workflow disabled',
        'Workflow enabled',
      ],
    );
    assert.equal(entries[2]?.extra_data.revision_id, r2.id);
    assert.deepEqual(entries[3]?.extra_data.tags, ['enrichment', 'ip']);
  });

  it('omits extra_data.tags for a workflow without tags, and blocks publishing a revision with warnings', async () => {
    const { workflow } = await create(
      SOURCE.replace('tags: [enrichment]\n', '').replace(
        'action: http.request',
        'action: nosuchapp.create_issue',
      ),
    );
    const [entry] = await auditFor(workflow.id);
    assert.equal('tags' in (entry?.extra_data ?? {}), false);
    const res = await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/publish` });
    assert.equal(res.statusCode, 400);
    const body = res.json() as { code: string; details: { path: string; severity: string }[] };
    assert.equal(body.code, 'WORKFLOW_NOT_PUBLISHABLE');
    assert.equal(body.details[0]?.path, 'steps[0].action');
    assert.equal(body.details[0]?.severity, 'warning');
  });

  it("warns, with the line, when a step's literal parameters miss a required one or name an unknown one", async () => {
    const yaml = `name: Params
trigger: { type: on_demand }
steps:
  - id: good
    kind: action
    action: virustotal.get_ip_report
    with: { ip: "{{ $.event.ip }}" }
  - id: missing
    kind: action
    action: virustotal.get_ip_report
    with: {}
  - id: unknown
    kind: action
    action: virustotal.get_ip_report
    with: { ip: 192.0.2.1, ipaddress: 192.0.2.1 }
`;
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const warnings = (
      res.json() as { revision: { warnings: { path: string; line: number; message: string }[] } }
    ).revision.warnings;
    assert.deepEqual(
      warnings.map((w) => [w.path, w.line]),
      [
        ['steps[1].with', 11],
        ['steps[2].with.ipaddress', 15],
      ],
    );
    assert.match(warnings[0]!.message, /virustotal.get_ip_report needs the parameter "ip"/);
    assert.match(warnings[1]!.message, /"ipaddress" is not a parameter of virustotal.get_ip_report/);
  });

  it('enforces roles: viewers read, creators edit but cannot publish, contributors publish', async () => {
    const { workflow } = await create();
    const viewer = await t.keyWithRole('viewer');
    const creator = await t.keyWithRole('creator');
    const contributor = await t.keyWithRole('contributor');
    assert.equal(
      (await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}`, as: viewer })).statusCode,
      200,
    );
    assert.equal(
      (await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml: SOURCE }, as: viewer }))
        .statusCode,
      403,
    );
    assert.equal(
      (
        await t.request({
          method: 'PATCH',
          url: `/v1/workflows/${workflow.id}`,
          payload: { tags: ['x'] },
          as: creator,
        })
      ).statusCode,
      200,
    );
    assert.equal(
      (await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/publish`, as: creator }))
        .statusCode,
      403,
    );
    assert.equal(
      (await t.request({ method: 'POST', url: `/v1/workflows/${workflow.id}/publish`, as: contributor }))
        .statusCode,
      200,
    );
  });

  it("isolates workspaces: another workspace's key gets 404 and changes nothing", async () => {
    const { workflow, revision } = await create();
    const ws = await t.request({ method: 'POST', url: '/v1alpha/workspaces', payload: { name: 'other-wf' } });
    const other = (ws.json() as { api_key: { client_id: string; client_secret: string } }).api_key;
    for (const [method, url, payload] of [
      ['GET', `/v1/workflows/${workflow.id}`, undefined],
      ['GET', `/v1/workflows/${workflow.id}/revisions/${revision.id}`, undefined],
      ['PATCH', `/v1/workflows/${workflow.id}`, { name: 'stolen' }],
      ['POST', `/v1/workflows/${workflow.id}/publish`, undefined],
      ['DELETE', `/v1/workflows/${workflow.id}`, undefined],
      ['GET', `/v1alpha/workflow/${workflow.id}/tags`, undefined],
    ] as const) {
      const res = await t.request({ method, url, ...(payload ? { payload } : {}), as: other });
      assert.equal(res.statusCode, 404, `${method} ${url}: ${res.body}`);
    }
    const mine = await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}` });
    assert.equal((mine.json() as { workflow: Workflow }).workflow.name, 'Enrich IP');
  });

  it('deletes a workflow and its revisions', async () => {
    const { workflow, revision } = await create();
    assert.equal(
      (await t.request({ method: 'DELETE', url: `/v1/workflows/${workflow.id}` })).statusCode,
      204,
    );
    assert.equal((await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}` })).statusCode, 404);
    assert.equal(
      (await t.request({ method: 'GET', url: `/v1/workflows/${workflow.id}/revisions/${revision.id}` }))
        .statusCode,
      404,
    );
    const entries = await auditFor(workflow.id);
    assert.equal(entries.at(-1)?.action, 'Workflow deleted');
  });

  it('serves the JSON Schema publicly', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/schemas/workflow.json' });
    assert.equal(res.statusCode, 200);
    assert.equal((res.json() as { title: string }).title, 'Osprey workflow');
  });
});

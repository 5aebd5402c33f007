import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
  steps: { step_id: string; status: string; input: unknown; output: unknown; error: unknown }[];
}

const SOURCE = `name: Enrich IP
description: Looks an address up
tags: [intel]
trigger:
  type: on_demand
  inputs: { type: object, properties: { ip: { type: string } } }
steps:
  - id: shape
    kind: transform
    value: { ip: "{{ $.event.ip }}", checked: true }
  - id: done
    kind: exit
    output: "{{ $.shape }}"
`;

/**
 * The seed's "copy a workflow" flow, built only from \`osprey\` app steps: a workflow in workspace A
 * exports a workflow through A's API, imports it into workspace B through B's API (another key),
 * tags and publishes it there, then runs the copy in B and reads the run back.
 */
describe('the osprey app: copying a workflow from workspace A to workspace B', () => {
  let t: TestApp;
  let worker: Worker;
  let base: string;
  let keyB: KeyPair;

  before(async () => {
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    worker = testWorker(t, { pollMs: 50, concurrency: 2 });
    await worker.start();
    const ws = await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'workspace-b' } });
    assert.equal(ws.statusCode, 201, ws.body);
    keyB = (ws.json() as { api_key: KeyPair }).api_key;
  });
  after(async () => {
    await worker.stop();
    await t.close();
  });

  async function integration(name: string, key: KeyPair): Promise<void> {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: {
        name,
        app: 'osprey',
        configuration: { base_url: base, client_id: key.client_id, client_secret: key.client_secret },
      },
    });
    assert.equal(res.statusCode, 201, res.body);
  }

  async function run(workflowId: string, inputs: unknown, as?: KeyPair): Promise<Execution> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflowId}/executions?wait=true`,
      payload: { inputs, revision: 'current' },
      ...(as && { as }),
    });
    assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
    const id = (res.json() as { execution: { id: string } }).execution.id;
    const got = await t.request({ method: 'GET', url: `/v1/executions/${id}`, ...(as && { as }) });
    return (got.json() as { execution: Execution }).execution;
  }

  it('exports, imports, tags, publishes and runs the copy, each step through the API', async () => {
    await integration('osprey-a', t.owner);
    await integration('osprey-b', keyB);
    const src = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml: SOURCE } });
    assert.equal(src.statusCode, 201, src.body);
    const sourceId = (src.json() as { workflow: { id: string } }).workflow.id;

    const copier = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: `name: Copy a workflow to workspace B
trigger:
  type: on_demand
  inputs: { type: object, required: [workflow_id], properties: { workflow_id: { type: string } } }
steps:
  - id: export
    kind: action
    action: osprey.get_workflow_yaml
    integration: osprey-a
    with: { workflow_id: "{{ $.event.workflow_id }}" }
  - id: import
    kind: action
    action: osprey.import_workflow
    integration: osprey-b
    with: { yaml: "{{ $.export.yaml }}" }
  - id: tag
    kind: action
    action: osprey.tag_workflow
    integration: osprey-b
    with: { workflow_id: "{{ $.import.workflow_id }}", tags: [migrated, "from-{{ $.export.number }}"] }
  - id: publish
    kind: action
    action: osprey.publish_workflow
    integration: osprey-b
    with: { workflow_id: "{{ $.import.workflow_id }}", description: copied from workspace A }
  - id: try_it
    kind: action
    action: osprey.run_workflow
    integration: osprey-b
    with: { workflow_id: "{{ $.import.workflow_id }}", inputs: { ip: 203.0.113.9 }, wait: true }
  - id: check
    kind: action
    action: osprey.get_execution
    integration: osprey-b
    with: { execution_id: "{{ $.try_it.id }}" }
  - id: done
    kind: exit
    output:
      workflow_id: "{{ $.import.workflow_id }}"
      tags: "{{ $.publish.tags }}"
      published: "{{ $.publish.published_revision_id != null }}"
      run_status: "{{ $.check.status }}"
      run_output: "{{ $.check.output }}"
`,
      },
    });
    assert.equal(copier.statusCode, 201, copier.body);
    const revision = (copier.json() as { revision: { warnings: unknown[] } }).revision;
    assert.deepEqual(revision.warnings, [], 'every osprey action is known to the validator');
    const copierId = (copier.json() as { workflow: { id: string } }).workflow.id;

    const ex = await run(copierId, { workflow_id: sourceId });
    assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error ?? ex.steps, null, 2));
    const out = ex.output as {
      workflow_id: string;
      tags: string[];
      published: boolean;
      run_status: string;
      run_output: unknown;
    };
    assert.deepEqual(out.tags.sort(), ['from-1', 'intel', 'migrated']);
    assert.equal(out.published, true);
    assert.equal(out.run_status, 'succeeded');
    assert.deepEqual(out.run_output, { ip: '203.0.113.9', checked: true });

    // Workspace B has the copy, published and tagged; A does not see it.
    const inB = await t.request({ method: 'GET', url: `/v1/workflows/${out.workflow_id}`, as: keyB });
    assert.equal(inB.statusCode, 200, inB.body);
    const wfB = (inB.json() as { workflow: { name: string; tags: string[]; published_revision_id: string } })
      .workflow;
    assert.equal(wfB.name, 'Enrich IP');
    assert.ok(wfB.published_revision_id);
    assert.equal(
      (await t.request({ method: 'GET', url: `/v1/workflows/${out.workflow_id}` })).statusCode,
      404,
    );

    // B's audit log records the import, the tagging and the publish by B's key.
    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=100', as: keyB });
    const actions = (audit.json() as { audit_logs: { action: string; resource_id: string }[] }).audit_logs
      .filter((e) => e.resource_id === out.workflow_id)
      .map((e) => e.action);
    for (const a of ['Workflow created', 'Workflow updated', 'Workflow published'])
      assert.ok(actions.includes(a), `B's audit log has "${a}": ${actions.join(', ')}`);

    // The key secrets appear nowhere in the run's record.
    const record = JSON.stringify(ex);
    for (const secret of [t.owner.client_secret, keyB.client_secret]) assert.ok(!record.includes(secret));
  });

  it('fails a step clearly when the key lacks the permission, and on a wrong secret', async () => {
    const viewer = await t.keyWithRole('viewer');
    await integration('osprey-viewer', viewer);
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations/osprey-viewer/execute',
      payload: { action: 'import_workflow', params: { yaml: SOURCE } },
    });
    const body = res.json() as { status: string; error: { code: string; message: string } };
    assert.equal(body.status, 'failed');
    assert.equal(body.error.code, 'AUTH_FAILED');
    assert.match(body.error.message, /403/);

    await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: {
        name: 'osprey-wrong',
        app: 'osprey',
        configuration: {
          base_url: base,
          client_id: viewer.client_id,
          client_secret: 'not-the-secret-at-all',
        },
      },
    });
    const tested = await t.request({ method: 'POST', url: '/v1/integrations/osprey-wrong/test' });
    const connectivity = (
      tested.json() as { connectivity: { status: string; error_code: string; message: string } }
    ).connectivity;
    assert.equal(connectivity.status, 'failed');
    assert.equal(connectivity.error_code, 'AUTH_FAILED');
    assert.ok(!connectivity.message.includes('not-the-secret-at-all'));
    const ok = await t.request({ method: 'POST', url: '/v1/integrations/osprey-viewer/test' });
    assert.equal((ok.json() as { connectivity: { status: string } }).connectivity.status, 'success');
  });

  it('lists workflows and audit logs, and manages variables, through the app', async () => {
    const exec = async (action: string, params: unknown): Promise<unknown> => {
      const res = await t.request({
        method: 'POST',
        url: '/v1/integrations/osprey-a/execute',
        payload: { action, params },
      });
      const body = res.json() as { status: string; output: unknown; error: unknown };
      assert.equal(body.status, 'succeeded', `${action}: ${JSON.stringify(body.error)}`);
      return body.output;
    };
    const list = (await exec('list_workflows', { tag: 'intel' })) as { workflows: { name: string }[] };
    assert.deepEqual(
      list.workflows.map((w) => w.name),
      ['Enrich IP'],
    );
    const logs = (await exec('list_audit_logs', { page_size: 5 })) as { audit_logs: unknown[] };
    assert.equal(logs.audit_logs.length, 5);
    const created = (await exec('create_variable', { name: 'blocklist', value: ['198.51.100.1'] })) as {
      id: string;
    };
    const updated = (await exec('update_variable', { variable_id: created.id, value: ['198.51.100.2'] })) as {
      value: unknown;
    };
    assert.deepEqual(updated.value, ['198.51.100.2']);
    assert.deepEqual(await exec('delete_variable', { variable_id: created.id }), { deleted: true });
    const secret = (await exec('create_secret', { name: 'vt_key', value: 'abc-secret-value-123' })) as {
      name: string;
    };
    assert.equal(secret.name, 'vt_key');
    const secrets = JSON.stringify(await exec('list_secrets', {}));
    assert.ok(secrets.includes('vt_key') && !secrets.includes('abc-secret-value-123'));
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Principal } from '../src/domain/actor.js';
import { TemplateService } from '../src/services/templates.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const GOOD = `template:
  name: greet
  title: Greet
  description: Two workflows, the nested one first.
  categories: [Test]
  parameters:
    greeting: { type: string, required: true, description: What to say }
    times: { type: integer, default: 2, description: How many times }
workflows:
  - |
    name: Greet child
    trigger: { type: nested }
    steps:
      - { id: say, kind: transform, value: "[[ greeting ]]" }
  - |
    name: Greet [[ greeting ]]
    trigger: { type: on_demand }
    steps:
      - { id: child, kind: call_workflow, workflow: Greet child }
      - { id: times, kind: transform, value: [[ times ]] }
`;

// The second workflow is invalid: installing must leave nothing behind.
const BROKEN = `template:
  name: broken
  title: Broken
  description: Its second workflow does not validate.
workflows:
  - |
    name: Broken first
    trigger: { type: on_demand }
    steps: [{ id: a, kind: transform, value: 1 }]
  - |
    name: Broken second
    trigger: { type: on_demand }
    steps: [{ id: a, kind: nonsense }]
`;

describe('workflow templates', () => {
  let t: TestApp;
  let dir: string;
  let templates: TemplateService;
  let owner: Principal;

  before(async () => {
    t = await startTestApp();
    dir = await mkdtemp(join(tmpdir(), 'osprey-templates-'));
    await writeFile(join(dir, 'greet.yaml'), GOOD);
    await writeFile(join(dir, 'broken.yaml'), BROKEN);
    templates = new TemplateService({ workflows: t.services.workflows, dir: `${dir}/` });
    owner = {
      workspaceId: t.workspaceId,
      workspaceName: 'test',
      role: 'owner',
      actor: { type: 'api_key', email: '', name: 'test', ip: '', userAgent: '' },
    };
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
    await t.close();
  });

  it('lists templates with their parameters and workflows', async () => {
    const list = await templates.list(owner);
    const greet = list.find((x) => x.name === 'greet')!;
    assert.deepEqual(greet.workflows, ['Greet child', 'Greet x']);
    assert.equal(greet.parameters.greeting?.required, true);
    assert.equal(greet.parameters.times?.default, 2);
  });

  it('installs: renders parameters (defaults filled), creates and publishes each workflow in order', async () => {
    const done = await templates.install(owner, 'greet', { parameters: { greeting: 'hello there' } });
    assert.deepEqual(
      done.workflows.map((w) => [w.name, w.published_revision_id !== null]),
      [
        ['Greet child', true],
        ['Greet hello there', true],
      ],
    );
    const source = await t.db.one<{ source: string }>(
      'SELECT r.source FROM workflow_revisions r JOIN workflows w ON w.current_revision_id = r.id WHERE w.id = $1',
      [done.workflows[1]!.id],
    );
    assert.match(source!.source, /value: 2 \}/);
    const draft = await templates.install(owner, 'greet', {
      parameters: { greeting: 'hi', times: 3 },
      publish: false,
    });
    assert.ok(draft.workflows.every((w) => w.published_revision_id === null));
  });

  it('refuses bad parameters by name, and leaves nothing behind when a workflow is invalid', async () => {
    const refuse = async (parameters: Record<string, unknown>, field: string): Promise<void> => {
      await assert.rejects(
        templates.install(owner, 'greet', { parameters }),
        (e: { status: number; details: { field: string }[] }) => {
          assert.equal(e.status, 400);
          assert.equal(e.details[0]?.field, field);
          return true;
        },
      );
    };
    await refuse({}, 'parameters.greeting');
    await refuse({ greeting: 'x', times: 'two' }, 'parameters.times');
    await refuse({ greeting: 'line\nbreak' }, 'parameters.greeting');
    await refuse({ greeting: 'x', extra: 1 }, 'parameters.extra');
    const before = await t.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM workflows WHERE workspace_id = $1',
      [t.workspaceId],
    );
    await assert.rejects(templates.install(owner, 'broken', {}), { code: 'WORKFLOW_INVALID' });
    const afterwards = await t.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM workflows WHERE workspace_id = $1',
      [t.workspaceId],
    );
    assert.equal(afterwards!.n, before!.n);
    await assert.rejects(templates.install(owner, 'nope', {}), { code: 'TEMPLATE_NOT_FOUND' });
  });

  it('serves /v1/templates, and installing needs the right to edit (and publish)', async () => {
    const list = await t.request({ method: 'GET', url: '/v1/templates' });
    assert.equal(list.statusCode, 200, list.body);
    assert.ok(Array.isArray((list.json() as { templates: unknown[] }).templates));
    assert.equal((await t.request({ method: 'GET', url: '/v1/templates/nope' })).statusCode, 404);
    const viewer = await t.keyWithRole('viewer');
    const denied = await t.request({
      method: 'POST',
      url: '/v1/templates/nope/install',
      as: viewer,
      payload: {},
    });
    assert.equal(denied.statusCode, 403);
    const creator = { ...owner, role: 'creator' as const };
    await assert.rejects(templates.install(creator, 'greet', { parameters: { greeting: 'x' } }), {
      code: 'PERMISSION_DENIED',
    });
    const drafted = await templates.install(creator, 'greet', {
      parameters: { greeting: 'x' },
      publish: false,
    });
    assert.equal(drafted.workflows.length, 2);
  });
});

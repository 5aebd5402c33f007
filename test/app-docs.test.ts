import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parameterAjv, parseManifest, type AppManifest } from '../src/domain/apps/manifest.js';
import { validateDefinition } from '../src/domain/workflow/validate.js';
import { appDocsFiles, appDocsIndex, appDocsPage } from '../src/integrations/apps/app-docs.js';
import { DOCS_DIR, docsDiff, loadBuiltInManifests } from '../scripts/app-docs.js';

const manifests = loadBuiltInManifests();
const actions = new Set(manifests.flatMap((m) => Object.keys(m.actions).map((a) => `${m.identifier}.${a}`)));

/** The ```yaml blocks of a page, each with the action heading it sits under. */
function exampleBlocks(page: string): { action: string; yaml: string }[] {
  const out: { action: string; yaml: string }[] = [];
  let action = '';
  const lines = page.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const heading = /^### `([a-z0-9_]+\.[a-z0-9_]+)`$/.exec(lines[i]!);
    if (heading) action = heading[1]!;
    if (lines[i] === '```yaml') {
      const end = lines.indexOf('```', i + 1);
      assert.ok(end > i, `an unclosed yaml block under ${action}`);
      out.push({ action, yaml: lines.slice(i + 1, end).join('\n') });
      i = end;
    }
  }
  return out;
}

/** A minimal workflow around one example step (the block is a one-item list). */
function workflowAround(stepYaml: string): string {
  const indented = stepYaml
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
  return `name: Example\ntrigger: { type: on_demand }\nsteps:\n${indented}\n`;
}

describe('generated app docs (docs/apps)', () => {
  it('finds the built-in apps', () => {
    assert.ok(manifests.length >= 3, 'apps/*/manifest.yaml');
    for (const id of ['email', 'http', 'osprey'])
      assert.ok(
        manifests.some((m) => m.identifier === id),
        id,
      );
  });

  it('every built-in app has a page, and every page is what the generator writes now', () => {
    for (const m of manifests)
      assert.ok(
        existsSync(join(DOCS_DIR, `${m.identifier}.md`)),
        `docs/apps/${m.identifier}.md is missing: run npm run docs:apps`,
      );
    const { stale, orphans } = docsDiff(manifests);
    assert.deepEqual(
      [...stale.keys(), ...orphans],
      [],
      `docs/apps is out of date (the manifests changed): run npm run docs:apps`,
    );
  });

  it('the index links every app page', () => {
    const index = readFileSync(join(DOCS_DIR, 'README.md'), 'utf8');
    for (const m of manifests) assert.ok(index.includes(`](${m.identifier}.md)`), m.identifier);
  });

  it('every example step validates as a workflow step, without errors or warnings', () => {
    let checked = 0;
    for (const [file, page] of appDocsFiles(manifests)) {
      if (file === 'README.md') continue;
      const manifest = manifests.find((m) => `${m.identifier}.md` === file)!;
      const blocks = exampleBlocks(page);
      assert.equal(blocks.length, Object.keys(manifest.actions).length, `${file}: one example per action`);
      for (const { action, yaml } of blocks) {
        const { definition, problems } = validateDefinition(workflowAround(yaml), actions);
        assert.deepEqual(
          problems.map((p) => `${p.severity} at ${p.path}: ${p.message}`),
          [],
          `${file}, ${action}:\n${yaml}`,
        );
        const step = definition!.steps[0]!;
        assert.equal(step.kind, 'action');
        assert.equal(step.action, action);
        checked++;
      }
    }
    assert.equal(checked, actions.size);
  });

  it("every example step's parameters fit the action's parameter schema", () => {
    const failures: string[] = [];
    for (const m of manifests) {
      const page = appDocsPage(m);
      for (const { action, yaml } of exampleBlocks(page)) {
        const schema = m.actions[action.split('.')[1]!]!.parameters;
        if (!schema) continue;
        const step = validateDefinition(workflowAround(yaml), actions).definition!.steps[0]!;
        const validate = parameterAjv.compile(schema);
        const params = structuredClone(step.with ?? {});
        if (!validate(params)) failures.push(`${action}: ${parameterAjv.errorsText(validate.errors)}`);
      }
    }
    assert.deepEqual(failures, []);
  });
});

const SMALL = `manifest_version: 1
identifier: acme
version: 2.1.0
title: Acme Intel
description: Looks things up at Acme.
categories: [Data Enrichment & Threat Intelligence, Testing]
documentation_url: https://docs.acme.example/api
configuration:
  base_url: { title: API URL, type: url, default: https://api.acme.example }
  api_key: { title: API key, type: string, secret: true, required: true, description: The key | token. }
  region: { title: Region, type: string, enum: [eu, us] }
base_url: '{{ $config.base_url }}'
authentication: { type: bearer, token: '{{ $config.api_key }}' }
test:
  request: { path: /ping }
actions:
  lookup:
    title: Look up an indicator
    description: The verdict on an indicator.
    parameters:
      type: object
      required: [indicator, kind]
      additionalProperties: false
      properties:
        indicator: { type: string, minLength: 1, description: The value to look up. }
        kind: { type: string, enum: [ip, domain, hash], description: What it is. }
        days: { type: integer, minimum: 1, maximum: 90, default: 30 }
        tags: { type: array, items: { type: string } }
        options:
          type: object
          required: [mode]
          properties:
            mode: { type: string, enum: [fast, full] }
            depth: { type: integer }
    returns:
      type: object
      properties:
        verdict: { type: string, enum: [clean, malicious], description: The verdict. }
        score: { type: number }
    requests:
      - name: search
        path: '/indicators/{{ $encodeUrlComponent($params.indicator) }}'
      - name: details
        method: POST
        path: /details
        json: '{{ {"id": $responses.search.body.id} }}'
  ping:
    title: Ping
    returns: { type: object, description: whatever the server answers }
    request: { method: HEAD, url: 'https://status.acme.example/ping', authentication: none }
`;

describe('appDocsPage', () => {
  const { manifest, problems } = parseManifest(SMALL, {});
  assert.deepEqual(problems, []);
  const page = appDocsPage(manifest!);
  const lines = page.split('\n');
  const row = (start: string): string | undefined => lines.find((l) => l.startsWith(start));

  it('has the title, description, categories and documentation link', () => {
    assert.ok(page.includes('\n# Acme Intel\n'));
    assert.ok(page.includes('Looks things up at Acme.'));
    assert.ok(page.includes('Data Enrichment & Threat Intelligence, Testing'));
    assert.ok(page.includes('<https://docs.acme.example/api>'));
  });

  it('has the configuration table', () => {
    assert.ok(page.includes('| key | type | required | secret | default | description |'));
    assert.equal(
      row('| `api_key` '),
      '| `api_key` | string | yes | yes |  | API key: The key \\| token. |',
      'pipes are escaped',
    );
    assert.equal(
      row('| `base_url` '),
      '| `base_url` | url | no | no | `https://api.acme.example` | API URL |',
    );
    assert.equal(row('| `region` '), '| `region` | string: `eu`, `us` | no | no |  | Region |');
  });

  it('has a parameters table with required markers, enums, defaults and nested fields', () => {
    assert.ok(page.includes('### `acme.lookup`'));
    assert.ok(page.includes('| name | type | required | default | description |'));
    assert.equal(
      row('| `indicator` '),
      '| `indicator` | string | **yes** |  | The value to look up. (at least 1 character) |',
    );
    assert.equal(row('| `kind` '), '| `kind` | one of: `ip`, `domain`, `hash` | **yes** |  | What it is. |');
    assert.equal(row('| `days` '), '| `days` | integer | no | `30` | (1–90) |');
    assert.equal(row('| `tags` '), '| `tags` | array of string | no |  |  |');
    assert.equal(row('| `options` '), '| `options` | object | no |  |  |');
    assert.equal(row('| `options.mode` '), '| `options.mode` | one of: `fast`, `full` | **yes** |  |  |');
    assert.equal(row('| `options.depth` '), '| `options.depth` | integer | no |  |  |');
  });

  it('documents the output and the calls', () => {
    assert.equal(row('| `verdict` '), '| `verdict` | one of: `clean`, `malicious` | The verdict. |');
    assert.equal(row('| `score` '), '| `score` | number |  |');
    assert.ok(page.includes('1. `GET /indicators/{indicator}` (named `search`)'));
    assert.ok(page.includes('2. `POST /details` (named `details`)'));
    assert.ok(page.includes('object: whatever the server answers.'));
    assert.ok(page.includes('`HEAD https://status.acme.example/ping` (absolute URL; no authentication)'));
    assert.ok(page.includes('- Authentication: a bearer token'));
    assert.ok(page.includes('- Test connectivity: `GET /ping`'));
  });

  it('has an example step with the required parameters filled in', () => {
    const blocks = exampleBlocks(page);
    assert.deepEqual(
      blocks.map((b) => b.action),
      ['acme.lookup', 'acme.ping'],
    );
    assert.equal(
      blocks[0]!.yaml,
      [
        '- id: lookup',
        '  kind: action',
        '  action: acme.lookup',
        '  integration: acme-prod',
        '  with:',
        '    indicator: example',
        '    kind: ip',
      ].join('\n'),
    );
    assert.equal(
      blocks[1]!.yaml,
      '- id: ping\n  kind: action\n  action: acme.ping\n  integration: acme-prod',
    );
    for (const b of blocks) {
      const { problems: stepProblems } = validateDefinition(
        workflowAround(b.yaml),
        new Set(['acme.lookup', 'acme.ping']),
      );
      assert.deepEqual(stepProblems, []);
    }
  });

  it('leaves the integration out for an app without configuration, and lists apps in the index', () => {
    const bare: AppManifest = {
      manifest_version: 1,
      identifier: 'tools',
      version: '1.0.0',
      title: 'Tools',
      configuration: {},
      actions: {
        echo: {
          title: 'Echo',
          handler: 'tools.echo',
          parameters: {
            type: 'object',
            required: ['when', 'retries', 'ip'],
            properties: {
              when: { type: 'string', format: 'date-time' },
              retries: { type: 'integer', minimum: 5 },
              ip: { type: 'string', anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] },
            },
          },
        },
      },
    };
    const text = appDocsPage(bare);
    assert.ok(text.includes('This app needs no configuration'));
    assert.ok(!text.includes('integration: tools-prod'));
    assert.ok(text.includes('    when: 2024-05-01T12:00:00Z\n    retries: 5\n    ip: 198.51.100.7\n'));
    const [block] = exampleBlocks(text);
    const { definition, problems: stepProblems } = validateDefinition(
      workflowAround(block!.yaml),
      new Set(['tools.echo']),
    );
    assert.deepEqual(stepProblems, []);
    assert.deepEqual(definition!.steps[0]!.with, {
      when: '2024-05-01T12:00:00Z',
      retries: 5,
      ip: '198.51.100.7',
    });
    assert.ok(text.includes('| `ip` | string (ipv4 or ipv6) | **yes** |  |  |'));
    assert.ok(text.includes('A native handler (`tools.echo`)'));
    const index = appDocsIndex([bare, manifest!]);
    assert.ok(
      index.includes(
        '| [Acme Intel](acme.md) | `acme` | Data Enrichment & Threat Intelligence, Testing | 2 |',
      ),
    );
    assert.ok(index.includes('| [Tools](tools.md) | `tools` |  | 1 |'));
    assert.ok(index.indexOf('acme.md') < index.indexOf('tools.md'));
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateDefinition } from './validate.js';

const GOOD = `name: Enrich IP
tags: [enrichment]
trigger:
  type: on_demand
  inputs:
    type: object
    properties: { ip: { type: string } }
steps:
  - id: lookup
    kind: action
    action: http.request
    with:
      method: GET
      url: "https://example.test/ip/{{ $.event.ip }}"
  - id: verdict
    kind: if
    condition: "{{ $.lookup.status_code = 200 }}"
    then:
      - id: done
        kind: exit
        output: { report: "{{ $.lookup.api_object }}" }
    else:
      - id: failed
        kind: exit
        status: failure
`;

function problems(text: string): {
  path: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
  severity: string;
}[] {
  return validateDefinition(text).problems;
}

describe('workflow validation', () => {
  it('accepts a valid definition, in YAML and in JSON', () => {
    const result = validateDefinition(GOOD);
    assert.deepEqual(result.problems, []);
    assert.equal(result.definition?.steps.length, 2);
    const json = JSON.stringify(result.definition);
    assert.deepEqual(validateDefinition(json).problems, []);
  });

  it('reports YAML syntax errors with line and column', () => {
    const [p] = problems('name: x\ntrigger: [unclosed\n');
    assert.ok(p);
    assert.equal(p.severity, 'error');
    assert.equal(typeof p.line, 'number');
  });

  it('reports schema problems at their path and line', () => {
    const text = GOOD.replace('kind: action', 'kind: teleport').replace(
      'tags: [enrichment]',
      'tags: [enrichment]\ncolour: blue',
    );
    const list = problems(text);
    const kind = list.find((p) => p.path === 'steps[0].kind');
    assert.ok(kind, JSON.stringify(list));
    assert.equal(kind.line, 11);
    assert.match(kind.message, /must be one of/);
    const unknown = list.find((p) => p.path === 'colour');
    assert.equal(unknown?.message, 'unknown field "colour"');
    assert.equal(unknown?.line, 3);
  });

  it('names a missing required field and a bad step id', () => {
    const list = problems(
      'name: x\ntrigger: { type: on_demand }\nsteps:\n  - id: Bad-Id\n    kind: exit\n  - id: t\n    kind: transform\n',
    );
    assert.ok(
      list.some((p) => p.path === 'steps[0].id' && p.line === 4),
      JSON.stringify(list),
    );
    assert.ok(
      list.some((p) => p.path === 'steps[1]' && p.message === 'value is required' && p.line === 6),
      JSON.stringify(list),
    );
  });

  it('checks expressions, step references, duplicate ids, break placement and schedules', () => {
    const text = `name: x
trigger: { type: schedule, cron: "61 * * * *", timezone: Mars/Olympus }
steps:
  - id: a
    kind: transform
    value: "{{ $.a + }}"
  - id: b
    kind: transform
    value: "ip is {{ $.nowhere.ip }}"
  - id: a
    kind: break
  - id: c
    kind: action
    action: virustotal.get_ip_report
`;
    const list = problems(text);
    const find = (re: RegExp) => list.find((p) => re.test(p.message));
    assert.equal(find(/invalid expression/)?.path, 'steps[0].value');
    assert.equal(find(/invalid expression/)?.line, 6);
    assert.equal(find(/no step with id "nowhere"/)?.path, 'steps[1].value');
    assert.equal(find(/duplicate step id "a"/)?.line, 10);
    assert.equal(find(/break is only allowed inside a loop/)?.path, 'steps[2].kind');
    assert.equal(find(/invalid cron/)?.path, 'trigger.cron');
    assert.equal(find(/unknown time zone/)?.path, 'trigger.timezone');
    const warning = find(/unknown action/);
    assert.equal(warning?.severity, 'warning');
    assert.equal(validateDefinition(text).definition, undefined);
  });

  it('keeps a definition whose only problems are warnings', () => {
    const text = GOOD.replace('action: http.request', 'action: jira.create_issue');
    const result = validateDefinition(text);
    assert.ok(result.definition);
    assert.deepEqual(
      result.problems.map((p) => p.severity),
      ['warning'],
    );
  });
});

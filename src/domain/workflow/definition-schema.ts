/**
 * The JSON Schema of a workflow definition (draft 2020-12), served at /v1/schemas/workflow.json so
 * editors can validate and complete YAML, and used to validate every save.
 */

const duration = {
  type: 'string',
  pattern: '^\\d+(ms|s|m|h|d)$',
  description: 'a duration: 500ms, 30s, 5m, 2h, 1d',
} as const;

const stepId = {
  type: 'string',
  pattern: '^[a-z][a-z0-9_]{0,63}$',
  description: 'snake_case, unique in the workflow; $.<id> is the step output',
} as const;

const common = {
  id: stepId,
  name: { type: 'string', maxLength: 200 },
  description: { type: 'string', maxLength: 2000 },
  timeout: duration,
  on_error: { enum: ['fail', 'continue'], description: 'continue records the error as the step output' },
  retry: {
    type: 'object',
    additionalProperties: false,
    properties: {
      max_attempts: { type: 'integer', minimum: 1, maximum: 20 },
      initial_delay: duration,
      max_delay: duration,
      factor: { type: 'number', minimum: 1, maximum: 10 },
    },
  },
} as const;

function step(
  kind: string,
  required: string[],
  properties: Record<string, unknown>,
): Record<string, unknown> {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'kind', ...required],
    properties: { ...common, kind: { const: kind }, ...properties },
  };
}

const steps = { $ref: '#/$defs/steps' } as const;

function trigger(
  types: string[],
  required: string[],
  properties: Record<string, unknown>,
): Record<string, unknown> {
  return {
    if: { properties: { type: { enum: types } } },
    then: { additionalProperties: false, required, properties: { type: {}, ...properties } },
  };
}

export const STEP_KINDS = [
  'action',
  'transform',
  'if',
  'switch',
  'loop',
  'break',
  'parallel',
  'wait',
  'approval',
  'call_workflow',
  'code',
  'exit',
] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const TRIGGER_TYPES = ['on_demand', 'webhook', 'schedule', 'event', 'nested'] as const;

export const WORKFLOW_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://osprey.dev/schemas/workflow.json',
  title: 'Osprey workflow',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'trigger', 'steps'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 5000 },
    tags: {
      type: 'array',
      items: { type: 'string', minLength: 1, maxLength: 64 },
      uniqueItems: true,
      maxItems: 50,
    },
    trigger: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: [...TRIGGER_TYPES] } },
      allOf: [
        trigger(['on_demand', 'nested'], [], {
          inputs: { type: 'object', description: 'a JSON Schema for the run inputs ($.event)' },
        }),
        trigger(['webhook'], [], {
          required_header: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'secret'],
            properties: {
              name: { type: 'string', minLength: 1, description: 'the header callers must send' },
              secret: {
                type: 'string',
                minLength: 1,
                description: 'the name of the secret holding its value',
              },
            },
          },
          raw: {
            type: 'boolean',
            description: 'deliver {body, headers, http_method} instead of the parsed body',
          },
        }),
        trigger(['schedule'], ['cron'], {
          cron: { type: 'string', minLength: 9, description: 'five or six fields, e.g. "*/5 * * * *"' },
          timezone: { type: 'string', default: 'UTC', description: 'an IANA time zone, e.g. Europe/London' },
        }),
        trigger(['event'], ['labels'], {
          labels: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
        }),
      ],
    },
    concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: 10000,
      description: 'runs at once; more wait in the queue',
    },
    retention_days: { type: 'integer', minimum: 1, maximum: 3650 },
    steps,
  },
  $defs: {
    steps: { type: 'array', items: { $ref: '#/$defs/step' }, maxItems: 500 },
    step: {
      type: 'object',
      required: ['id', 'kind'],
      properties: { kind: { enum: [...STEP_KINDS] } },
      allOf: STEP_KINDS.map((kind) => ({
        if: { properties: { kind: { const: kind } } },
        then: { $ref: `#/$defs/${kind}` },
      })),
    },
    action: step('action', ['action'], {
      action: {
        type: 'string',
        pattern: '^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_]*$',
        description: 'app.action, e.g. http.request',
      },
      integration: { type: 'string', minLength: 1 },
      with: { type: 'object', description: 'the action parameters; values may hold {{ expressions }}' },
    }),
    transform: step('transform', ['value'], {
      value: { description: 'any JSON; expressions are evaluated' },
    }),
    if: step('if', ['condition', 'then'], { condition: {}, then: steps, else: steps }),
    switch: step('switch', ['cases'], {
      cases: {
        type: 'array',
        minItems: 1,
        maxItems: 26,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'when', 'steps'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 40 }, when: {}, steps },
        },
      },
      default: steps,
    }),
    loop: step('loop', ['over', 'steps'], {
      over: { description: 'a list or a map' },
      as: { type: 'string', pattern: '^[a-z][a-z0-9_]*$', default: 'item' },
      concurrency: { type: 'integer', minimum: 1, maximum: 100 },
      collect: { description: 'evaluated per iteration; the loop output is the list of these' },
      steps,
    }),
    break: step('break', [], { when: {} }),
    parallel: step('parallel', ['branches'], {
      branches: {
        type: 'array',
        minItems: 2,
        maxItems: 20,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'steps'],
          properties: { name: { type: 'string', pattern: '^[a-z][a-z0-9_]*$' }, steps },
        },
      },
    }),
    wait: {
      ...step('wait', [], {
        duration,
        until: { description: 'an RFC 3339 time or an expression giving one' },
      }),
      oneOf: [{ required: ['duration'] }, { required: ['until'] }],
    },
    approval: step('approval', ['message'], {
      message: { type: 'string', minLength: 1 },
      approvers: {
        type: 'array',
        items: { type: 'string', minLength: 3 },
        description: 'emails of who may answer (expressions allowed); empty: anyone with the link',
      },
      options: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        minItems: 2,
        default: ['approve', 'reject'],
      },
      expires_in: duration,
      default_outcome: { type: 'string', minLength: 1 },
      requester_may_approve: { type: 'boolean', default: false },
      notify: {
        ...steps,
        description: 'steps run before waiting, with $approval (message, options, links, url) bound',
      },
    }),
    call_workflow: step('call_workflow', ['workflow'], {
      workflow: { type: 'string', minLength: 1, description: 'the child workflow id or name' },
      inputs: { type: 'object' },
      mode: { enum: ['sync', 'async'], default: 'sync' },
    }),
    code: {
      ...step('code', [], {
        source: { type: 'string', minLength: 1, maxLength: 100000 },
        snippets: {
          type: 'array',
          items: { type: 'string', minLength: 1, maxLength: 100 },
          minItems: 1,
          maxItems: 20,
          description: 'code snippets (by name) run before source, e.g. shared helper functions',
        },
        inputs: { type: 'object' },
        memory_mb: { type: 'integer', minimum: 1, maximum: 256 },
      }),
      anyOf: [{ required: ['source'] }, { required: ['snippets'] }],
    },
    exit: step('exit', [], { status: { enum: ['success', 'failure'], default: 'success' }, output: {} }),
  },
} as const;

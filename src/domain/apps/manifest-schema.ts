/** The JSON Schema of an app manifest (docs/app-manifests.md documents every field). */

const template = { type: 'string', maxLength: 20_000 } as const;
/** A map of templates, or one template that renders to the whole map. */
const templateMap = {
  oneOf: [
    { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
    { type: 'string', pattern: '^\\s*\\{\\{[\\s\\S]*\\}\\}\\s*$' },
  ],
} as const;
const identifier = { type: 'string', pattern: '^[a-z][a-z0-9_]{1,39}$' } as const;
const actionName = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' } as const;

const authentication = {
  oneOf: [
    { const: 'none' },
    {
      type: 'object',
      required: ['type'],
      properties: {
        type: { enum: ['none', 'api_key', 'basic', 'bearer', 'oauth2_client_credentials'] },
      },
      allOf: [
        {
          if: { properties: { type: { const: 'none' } } },
          then: { additionalProperties: false, properties: { type: {} } },
        },
        {
          if: { properties: { type: { const: 'api_key' } } },
          then: {
            additionalProperties: false,
            required: ['in', 'name', 'value'],
            properties: {
              type: {},
              in: { enum: ['header', 'query'] },
              name: { type: 'string', minLength: 1, maxLength: 200 },
              value: template,
            },
          },
        },
        {
          if: { properties: { type: { const: 'basic' } } },
          then: {
            additionalProperties: false,
            required: ['username', 'password'],
            properties: { type: {}, username: template, password: template },
          },
        },
        {
          if: { properties: { type: { const: 'bearer' } } },
          then: {
            additionalProperties: false,
            required: ['token'],
            properties: { type: {}, token: template },
          },
        },
        {
          if: { properties: { type: { const: 'oauth2_client_credentials' } } },
          then: {
            additionalProperties: false,
            required: ['token_url', 'client_id', 'client_secret'],
            properties: {
              type: {},
              token_url: template,
              client_id: template,
              client_secret: template,
              scope: template,
              audience: template,
              client_auth: { enum: ['basic', 'body'] },
            },
          },
        },
      ],
    },
  ],
} as const;

const requestProperties = {
  name: actionName,
  when: template,
  method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] },
  path: template,
  url: template,
  query: templateMap,
  headers: templateMap,
  json: {},
  form: templateMap,
  body: template,
  accept_status: { type: 'array', items: { type: 'integer', minimum: 100, maximum: 599 } },
  response: { enum: ['json', 'text'] },
  authentication,
} as const;

const request = {
  type: 'object',
  additionalProperties: false,
  properties: requestProperties,
  not: {
    anyOf: [{ required: ['json', 'form'] }, { required: ['json', 'body'] }, { required: ['form', 'body'] }],
  },
} as const;

const configField = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'type'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200 },
    type: { enum: ['string', 'url', 'integer', 'number', 'boolean', 'string_list'] },
    secret: { type: 'boolean' },
    required: { type: 'boolean' },
    default: {},
    description: { type: 'string', maxLength: 2000 },
    enum: { type: 'array', minItems: 1 },
  },
} as const;

const action = {
  type: 'object',
  additionalProperties: false,
  required: ['title'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 5000 },
    parameters: { type: 'object' },
    returns: { type: 'object' },
    request,
    requests: { type: 'array', minItems: 1, maxItems: 10, items: request },
    output: template,
    error: template,
    code: { type: 'string', pattern: '^[A-Za-z0-9_./-]+\\.js$' },
    authentication,
    handler: { type: 'string', pattern: '^[a-z][a-z0-9_.]*$' },
  },
} as const;

export const MANIFEST_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  additionalProperties: false,
  required: ['manifest_version', 'identifier', 'version', 'title', 'actions'],
  properties: {
    manifest_version: { const: 1 },
    identifier,
    version: {
      type: 'string',
      pattern: '^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)(-[0-9A-Za-z.-]+)?$',
    },
    title: { type: 'string', minLength: 1, maxLength: 200 },
    description: { type: 'string', maxLength: 5000 },
    categories: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, maxItems: 20 },
    documentation_url: { type: 'string', format: 'uri' },
    logo: { type: 'string', pattern: '^[A-Za-z0-9_./-]+\\.(png|svg|jpe?g)$' },
    configuration: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9_]{0,63}$' },
      additionalProperties: configField,
    },
    base_url: template,
    authentication,
    test: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request,
        action: actionName,
        params: { type: 'object' },
        handler: { type: 'string', pattern: '^[a-z][a-z0-9_.]*$' },
      },
    },
    actions: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: '^[a-z][a-z0-9_]{0,63}$' },
      additionalProperties: action,
    },
  },
} as const;

import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { schemaProblems } from '../schema-problems.js';
import { checkExpression, findTemplates } from '../workflow/expressions.js';
import { DefinitionSource, type PathPart, type SourceProblem } from '../workflow/source.js';
import { MANIFEST_SCHEMA } from './manifest-schema.js';

export type ConfigFieldType = 'string' | 'url' | 'integer' | 'number' | 'boolean' | 'string_list';

export interface ConfigField {
  title: string;
  type: ConfigFieldType;
  secret?: boolean;
  required?: boolean;
  default?: unknown;
  description?: string;
  enum?: unknown[];
}

export type Authentication =
  | 'none'
  | { type: 'none' }
  | { type: 'api_key'; in: 'header' | 'query'; name: string; value: string }
  | { type: 'basic'; username: string; password: string }
  | { type: 'bearer'; token: string }
  | {
      type: 'oauth2_client_credentials';
      token_url: string;
      client_id: string;
      client_secret: string;
      scope?: string;
      audience?: string;
      client_auth?: 'basic' | 'body';
    };

export interface RequestTemplate {
  name?: string;
  when?: string;
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  path?: string;
  url?: string;
  query?: Record<string, unknown> | string;
  headers?: Record<string, unknown> | string;
  json?: unknown;
  form?: Record<string, unknown> | string;
  body?: string;
  accept_status?: number[];
  response?: 'json' | 'text';
  authentication?: Authentication;
}

export interface ActionManifest {
  title: string;
  description?: string;
  parameters?: Record<string, unknown>;
  returns?: Record<string, unknown>;
  request?: RequestTemplate;
  requests?: RequestTemplate[];
  output?: string;
  error?: string;
  code?: string;
  handler?: string;
  authentication?: Authentication;
}

export interface AppManifest {
  manifest_version: 1;
  identifier: string;
  version: string;
  title: string;
  description?: string;
  categories?: string[];
  documentation_url?: string;
  logo?: string;
  configuration?: Record<string, ConfigField>;
  base_url?: string;
  authentication?: Authentication;
  test?: { request?: RequestTemplate; action?: string; params?: Record<string, unknown>; handler?: string };
  actions: Record<string, ActionManifest>;
}

export interface ManifestOptions {
  /** Files in the package (code and logo must be among them); undefined skips the check. */
  files?: ReadonlySet<string>;
  /** Native handlers this installation has; only built-in apps may name one. */
  handlers?: ReadonlySet<string>;
  /** Identifiers a custom app may not take. */
  reserved?: ReadonlySet<string>;
}

export interface ManifestResult {
  manifest: AppManifest | undefined;
  problems: SourceProblem[];
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats.default(ajv);
const validateShape = ajv.compile(MANIFEST_SCHEMA);
/** A separate instance compiles the actions' parameter schemas (meta-validation included). */
const paramsAjv = new Ajv2020({ allErrors: true, strict: false, strictSchema: true });
addFormats.default(paramsAjv);

/** Parses and checks a manifest: structure, templates, parameter schemas, files and names. */
export function parseManifest(text: string, options: ManifestOptions = {}): ManifestResult {
  const source = new DefinitionSource(text);
  if (source.syntaxProblems.length) return { manifest: undefined, problems: source.syntaxProblems };
  if (source.value === null || typeof source.value !== 'object' || Array.isArray(source.value))
    return { manifest: undefined, problems: [source.problem([], 'a manifest must be a mapping')] };
  const manifest = source.value as AppManifest;
  if (!validateShape(source.value)) {
    // Name every problem at once: the semantic checks also run on what parses, as far as they can.
    const problems = schemaProblems(source, validateShape.errors ?? []);
    let more: SourceProblem[] = [];
    try {
      more = semanticProblems(source, manifest, options);
    } catch {
      // the structure is too broken for them
    }
    const seen = new Set(problems.map((p) => `${p.path}|${p.message}`));
    for (const p of more) if (!seen.has(`${p.path}|${p.message}`)) problems.push(p);
    return { manifest: undefined, problems };
  }
  const problems = semanticProblems(source, manifest, options);
  return { manifest: problems.length ? undefined : manifest, problems };
}

function semanticProblems(
  source: DefinitionSource,
  m: AppManifest,
  options: ManifestOptions,
): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const at = (path: PathPart[], message: string): void => void problems.push(source.problem(path, message));
  const actions: Record<string, ActionManifest> =
    m.actions !== null && typeof m.actions === 'object' ? m.actions : {};
  if (options.reserved?.has(m.identifier))
    at(['identifier'], `"${m.identifier}" is a built-in app's identifier; choose another`);
  if (m.logo && options.files && !options.files.has(m.logo))
    at(['logo'], `the package has no file ${m.logo}`);
  for (const [key, field] of Object.entries(m.configuration ?? {})) {
    if (field.default !== undefined && !fitsType(field.type, field.default))
      at(['configuration', key, 'default'], `the default is not a ${field.type}`);
  }
  checkTemplates(source, m.base_url, ['base_url'], problems);
  checkTemplates(source, m.authentication, ['authentication'], problems);
  if (m.test) {
    checkTemplates(source, m.test.request, ['test', 'request'], problems);
    if (m.test.action && !actions[m.test.action])
      at(['test', 'action'], `no action named "${m.test.action}"`);
    if (m.test.handler) checkHandler(m.test.handler, ['test', 'handler']);
    const kinds = ['request', 'action', 'handler'].filter((k) => m.test?.[k as 'request'] !== undefined);
    if (kinds.length !== 1) at(['test'], 'give exactly one of request, action or handler');
  }
  for (const [name, action] of Object.entries(actions)) {
    if (action === null || typeof action !== 'object') continue;
    const path = ['actions', name];
    const kinds = ['request', 'requests', 'code', 'handler'].filter(
      (k) => action[k as keyof ActionManifest] !== undefined,
    );
    if (kinds.length !== 1) at(path, 'give exactly one of request, requests, code or handler');
    if (action.parameters) {
      if (action.parameters.type !== 'object')
        at([...path, 'parameters', 'type'], 'parameters must be a JSON Schema of type object');
      try {
        paramsAjv.compile(action.parameters);
      } catch (error) {
        at([...path, 'parameters'], `not a valid JSON Schema: ${(error as Error).message}`);
      }
    }
    if (action.returns) {
      try {
        paramsAjv.compile(action.returns);
      } catch (error) {
        at([...path, 'returns'], `not a valid JSON Schema: ${(error as Error).message}`);
      }
    }
    if (action.code && options.files && !options.files.has(action.code))
      at([...path, 'code'], `the package has no file ${action.code}`);
    if (action.handler) checkHandler(action.handler, [...path, 'handler']);
    checkTemplates(source, action.request, [...path, 'request'], problems);
    checkTemplates(source, action.authentication, [...path, 'authentication'], problems);
    checkTemplates(source, action.output, [...path, 'output'], problems);
    checkTemplates(source, action.error, [...path, 'error'], problems);
    const names = new Set<string>();
    action.requests?.forEach((r, i) => {
      checkTemplates(source, r, [...path, 'requests', i], problems);
      if (action.requests!.length > 1 && !r.name) at([...path, 'requests', i, 'name'], 'name is required');
      if (r.name && names.has(r.name)) at([...path, 'requests', i, 'name'], `duplicate name "${r.name}"`);
      if (r.name) names.add(r.name);
    });
    for (const r of action.request ? [action.request] : (action.requests ?? []))
      if (!r.path && !r.url) at(path, 'every request needs a path or a url');
      else if (r.path && !m.base_url) at(path, 'a request with a path needs the manifest base_url');
  }
  return problems;

  function checkHandler(handler: string, path: PathPart[]): void {
    if (!options.handlers) at(path, 'only built-in apps may use native handlers');
    else if (!options.handlers.has(handler)) at(path, `no native handler named "${handler}"`);
  }
}

function checkTemplates(
  source: DefinitionSource,
  value: unknown,
  path: PathPart[],
  problems: SourceProblem[],
): void {
  if (typeof value === 'string') {
    for (const t of findTemplates(value)) {
      const error = checkExpression(t.expression);
      if (error)
        problems.push(source.problem(path, `invalid expression {{ ${t.expression} }}: ${error.message}`));
    }
  } else if (Array.isArray(value)) value.forEach((v, i) => checkTemplates(source, v, [...path, i], problems));
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) checkTemplates(source, v, [...path, k], problems);
}

export function fitsType(type: ConfigFieldType, value: unknown): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'url':
      return typeof value === 'string' && URL.canParse(value) && /^https?:/i.test(value);
    case 'integer':
      return Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'string_list':
      return Array.isArray(value) && value.every((v) => typeof v === 'string');
  }
}

/** The configuration fields whose values are credentials. */
export function secretFields(m: AppManifest): string[] {
  return Object.entries(m.configuration ?? {})
    .filter(([, f]) => f.secret)
    .map(([k]) => k);
}

/** Compiles an action's parameter schema (defaults applied in place). */
export const parameterAjv = (() => {
  const a = new Ajv2020({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
  addFormats.default(a);
  return a;
})();

import { stringify } from 'yaml';
import type {
  ActionManifest,
  AppManifest,
  Authentication,
  ConfigField,
  RequestTemplate,
} from '../../domain/apps/manifest.js';

/**
 * The documentation page of an app (docs/apps/<identifier>.md), generated from its manifest:
 * configuration, and for every action its parameters, output, vendor calls and an example step.
 * `npm run docs:apps` writes the pages of the built-in apps; a test checks they are up to date.
 */

type Schema = Record<string, unknown>;

/** The first line of every generated page (the generator only deletes pages that start with it). */
export const GENERATED_MARKER = '<!-- Generated from apps/';

/** Step ids the workflow language reserves; an example step never takes one. */
const RESERVED_STEP_IDS = new Set(['event', 'secrets', 'vars', 'execution', 'workflow', 'item', 'index']);

/** The Markdown page of one app. */
export function appDocsPage(manifest: AppManifest): string {
  const id = manifest.identifier;
  const out: string[] = [];
  out.push(
    `${GENERATED_MARKER}${id}/manifest.yaml by \`npm run docs:apps\`; do not edit by hand. -->`,
    '',
    `# ${inline(manifest.title)}`,
    '',
  );
  if (manifest.description) out.push(paragraph(manifest.description), '');
  const facts = [
    `- Identifier: \`${id}\` (steps use \`action: ${id}.<action>\`)`,
    `- Version: ${manifest.version}`,
  ];
  if (manifest.categories?.length) facts.push(`- Categories: ${manifest.categories.map(inline).join(', ')}`);
  if (manifest.documentation_url)
    facts.push(`- Vendor documentation: <${manifest.documentation_url.replace(/>/g, '%3E')}>`);
  const actionNames = Object.keys(manifest.actions);
  facts.push(`- Actions: ${actionNames.map((a) => `[\`${a}\`](#${anchor(`${id}.${a}`)})`).join(', ')}`);
  out.push(...facts, '');

  out.push('## Configuration', '');
  const fields = Object.entries(manifest.configuration ?? {});
  if (fields.length === 0) {
    out.push('This app needs no configuration: its steps can run without an integration.', '');
  } else {
    out.push(
      `An integration of ${inline(manifest.title)} holds these fields (see [integrations](../integrations.md)). ` +
        'Secret fields are encrypted at rest and never returned.',
      '',
      table(
        ['key', 'type', 'required', 'secret', 'default', 'description'],
        fields.map(([key, f]) => [
          code(key),
          configType(f),
          f.required ? 'yes' : 'no',
          f.secret ? 'yes' : 'no',
          f.default === undefined ? '' : literal(f.default),
          configDescription(f),
        ]),
      ),
      '',
    );
  }
  const connection = connectionFacts(manifest);
  if (connection.length) out.push('## Connection', '', ...connection, '');

  out.push('## Actions', '');
  for (const [name, action] of Object.entries(manifest.actions))
    out.push(...actionSection(manifest, name, action));
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

/** The manifests in identifier order (code-point order, the same everywhere). */
function byIdentifier(manifests: readonly AppManifest[]): AppManifest[] {
  return [...manifests].sort((a, b) =>
    a.identifier < b.identifier ? -1 : a.identifier > b.identifier ? 1 : 0,
  );
}

/** The index page (docs/apps/README.md): every app with a link to its page. */
export function appDocsIndex(manifests: readonly AppManifest[]): string {
  const sorted = byIdentifier(manifests);
  const rows = sorted.map((m) => {
    const count = Object.keys(m.actions).length;
    return [
      `[${cell(m.title)}](${m.identifier}.md)`,
      code(m.identifier),
      (m.categories ?? []).map(cell).join(', '),
      `${count}`,
    ];
  });
  return [
    `${GENERATED_MARKER}*/manifest.yaml by \`npm run docs:apps\`; do not edit by hand. -->`,
    '',
    '# Built-in apps',
    '',
    'The apps every Osprey installation has. Each page lists the app’s configuration (what an',
    '[integration](../integrations.md) holds) and its actions, with their parameters, outputs and an',
    'example step. The manifests they are generated from are under `apps/` (format:',
    '[app manifests](../app-manifests.md)).',
    '',
    table(['app', 'identifier', 'categories', 'actions'], rows),
    '',
  ].join('\n');
}

/** Every generated file under docs/apps/, by file name: one page per app and README.md. */
export function appDocsFiles(manifests: readonly AppManifest[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of byIdentifier(manifests)) files.set(`${m.identifier}.md`, appDocsPage(m));
  files.set('README.md', appDocsIndex(manifests));
  return files;
}

/** The example step of an action, as the page shows it (a one-item YAML list for `steps:`). */
export function exampleStep(manifest: AppManifest, name: string): Record<string, unknown> {
  const action = manifest.actions[name];
  const step: Record<string, unknown> = {
    id: RESERVED_STEP_IDS.has(name) ? `${name}_step` : name,
    kind: 'action',
    action: `${manifest.identifier}.${name}`,
  };
  if (needsIntegration(manifest)) step.integration = `${manifest.identifier}-prod`;
  const params = action?.parameters ? exampleObject(action.parameters) : {};
  if (Object.keys(params).length) step.with = params;
  return step;
}

/** An integration is named in the example when the app has fields an integration must supply. */
function needsIntegration(m: AppManifest): boolean {
  return Object.values(m.configuration ?? {}).some((f) => f.required || f.secret);
}

// ---------------------------------------------------------------------------------------------------
// Actions

function actionSection(m: AppManifest, name: string, action: ActionManifest): string[] {
  const out: string[] = [`### \`${m.identifier}.${name}\``, '', `**${inline(action.title)}**`, ''];
  if (action.description) out.push(paragraph(action.description), '');

  out.push('#### Parameters', '');
  const rows = action.parameters ? parameterRows(action.parameters) : [];
  if (rows.length === 0) out.push('None.', '');
  else out.push(table(['name', 'type', 'required', 'default', 'description'], rows), '');
  const objectRules = objectConstraints(action.parameters);
  if (objectRules) out.push(objectRules, '');

  out.push('#### Returns', '');
  out.push(...returnsSection(action.returns), '');

  out.push('#### Calls', '');
  out.push(...callsSection(m, action), '');

  out.push('#### Example step', '');
  out.push('```yaml', stringify([exampleStep(m, name)], { lineWidth: 0 }).trimEnd(), '```', '');
  return out;
}

/** The rows of the parameters table: top-level properties, and one level of nested object properties. */
function parameterRows(schema: Schema): string[][] {
  const rows: string[][] = [];
  const required = requiredOf(schema);
  for (const [key, raw] of Object.entries(propertiesOf(schema))) {
    const prop = asSchema(raw);
    rows.push(parameterRow(key, prop, required.has(key)));
    const nested = nestedObject(prop);
    if (nested) {
      const nestedRequired = requiredOf(nested.schema);
      for (const [sub, subRaw] of Object.entries(propertiesOf(nested.schema)))
        rows.push(parameterRow(`${key}${nested.suffix}.${sub}`, asSchema(subRaw), nestedRequired.has(sub)));
    }
  }
  return rows;
}

function parameterRow(name: string, s: Schema, required: boolean): string[] {
  return [
    code(name),
    typeOf(s),
    required ? '**yes**' : 'no',
    s.default === undefined ? '' : literal(s.default),
    describe(s),
  ];
}

/** An object (or a list of objects) with properties: its rows are shown under dotted names. */
function nestedObject(s: Schema): { schema: Schema; suffix: string } | undefined {
  if (Object.keys(propertiesOf(s)).length && types(s).includes('object')) return { schema: s, suffix: '' };
  const items = s.items === undefined ? undefined : asSchema(s.items);
  if (items && types(s).includes('array') && Object.keys(propertiesOf(items)).length)
    return { schema: items, suffix: '[]' };
  return undefined;
}

/** Rules on the parameters object as a whole that the table cannot show. */
function objectConstraints(schema: Schema | undefined): string | undefined {
  if (!schema) return undefined;
  const rules: string[] = [];
  if (typeof schema.minProperties === 'number' && schema.minProperties > 1)
    rules.push(`give at least ${schema.minProperties} parameters`);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = Array.isArray(schema[key]) ? (schema[key] as unknown[]).map(asSchema) : [];
    const sets = branches.map((b) => [...requiredOf(b)]).filter((r) => r.length);
    if (sets.length)
      rules.push(
        `${key === 'oneOf' ? 'exactly' : 'at least'} one of: ${sets.map((r) => r.map(code).join(' and ')).join('; ')}`,
      );
  }
  const dependent = schema.dependentRequired;
  if (dependent && typeof dependent === 'object')
    for (const [k, v] of Object.entries(dependent as Record<string, unknown>))
      if (Array.isArray(v)) rules.push(`${code(k)} needs ${v.map((x) => code(String(x))).join(', ')}`);
  return rules.length ? `Also: ${rules.join('; ')}.` : undefined;
}

function returnsSection(returns: Schema | undefined): string[] {
  if (!returns) return ['Not documented.'];
  const props = Object.entries(propertiesOf(returns));
  const head = [typeOf(returns), describe(returns)].filter(Boolean).join(': ');
  if (props.length === 0) return [head ? `${head}.`.replace(/\.\.$/, '.') : 'Not documented.'];
  return [
    ...(describe(returns) ? [`${paragraph(describe(returns))}`, ''] : []),
    table(
      ['field', 'type', 'description'],
      props.map(([key, raw]) => [code(key), typeOf(asSchema(raw)), describe(asSchema(raw))]),
    ),
  ];
}

function callsSection(m: AppManifest, action: ActionManifest): string[] {
  if (action.handler)
    return [
      `A native handler (\`${action.handler}\`), built into Osprey, rather than HTTP request templates.`,
    ];
  if (action.code)
    return [`Code: \`${action.code}\` runs in the code sandbox (it cannot reach the network).`];
  const requests = action.request ? [action.request] : (action.requests ?? []);
  if (requests.length === 0) return ['Nothing.'];
  const lines = requests.map((r) => {
    const extras: string[] = r.url !== undefined ? ['absolute URL'] : [];
    if (r.name) extras.push(`named ${code(r.name)}`);
    if (r.when) extras.push(`only when ${code(squash(r.when))}`);
    const auth = authSummary(r.authentication);
    if (auth) extras.push(auth);
    if (r.accept_status?.length) extras.push(`also accepts ${r.accept_status.join(', ')}`);
    return `${requestLine(r)}${extras.length ? ` (${extras.join('; ')})` : ''}`;
  });
  const out =
    lines.length === 1
      ? [`Sends ${lines[0]!}.`]
      : ['Sends, in order:', '', ...lines.map((l, i) => `${i + 1}. ${l}`)];
  const authenticated = requests.some((r) => r.authentication === undefined);
  if (authenticated && m.authentication && authSummary(m.authentication) !== 'no authentication')
    out.push('', 'Authenticated as described under [Connection](#connection).');
  return out;
}

function requestLine(r: RequestTemplate): string {
  return code(`${r.method ?? 'GET'} ${simplifyTemplate(r.url ?? r.path ?? '')}`);
}

/**
 * A path or URL template made readable: a `{{ }}` expression that only reads one parameter (perhaps
 * through encoding functions) becomes `{name}`; anything else is kept as written.
 */
function simplifyTemplate(text: string): string {
  return squash(text).replace(/\{\{([\s\S]*?)\}\}/g, (whole, expression: string) => {
    const params = new Set([...expression.matchAll(/\$params\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((x) => x[1]));
    const other = /\$(config|response|responses)\b|[?&]/.test(expression);
    return params.size === 1 && !other ? `{${[...params][0]!}}` : whole;
  });
}

function connectionFacts(m: AppManifest): string[] {
  const out: string[] = [];
  if (m.base_url) out.push(`- Requests go to ${code(squash(m.base_url))}.`);
  const auth = authSummary(m.authentication);
  if (auth && m.authentication !== undefined) out.push(`- Authentication: ${auth}.`);
  if (m.test) {
    if (m.test.request) out.push(`- Test connectivity: ${requestLine(m.test.request)}; a 2xx answer passes.`);
    else if (m.test.action) out.push(`- Test connectivity: runs the action ${code(m.test.action)}.`);
    else if (m.test.handler) out.push(`- Test connectivity: the native check ${code(m.test.handler)}.`);
  } else if (Object.keys(m.configuration ?? {}).length) {
    out.push('- Test connectivity: checks that the required configuration is set (no request).');
  }
  return out;
}

function authSummary(auth: Authentication | undefined): string | undefined {
  if (auth === undefined) return undefined;
  if (auth === 'none') return 'no authentication';
  switch (auth.type) {
    case 'none':
      return 'no authentication';
    case 'api_key':
      return `an API key in the ${auth.in === 'header' ? 'header' : 'query parameter'} ${code(auth.name)}`;
    case 'basic':
      return 'HTTP basic authentication';
    case 'bearer':
      return 'a bearer token in the `Authorization` header';
    case 'oauth2_client_credentials':
      return `OAuth 2.0 client credentials (token from ${code(squash(auth.token_url))})`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Types and descriptions

function configType(f: ConfigField): string {
  const base = f.type === 'string_list' ? 'list of strings' : f.type;
  return f.enum?.length ? `${base}: ${f.enum.map(literal).join(', ')}` : base;
}

function configDescription(f: ConfigField): string {
  const title = cell(f.title);
  return f.description ? `${title}: ${cell(f.description)}` : title;
}

/** A readable type: `string (uuid)`, `array of string`, `string or array of string`, `one of: a, b`. */
function typeOf(s: Schema, depth = 0): string {
  if (s.const !== undefined) return `constant ${literal(s.const)}`;
  if (Array.isArray(s.enum)) return `one of: ${s.enum.map(literal).join(', ')}`;
  const ts = types(s);
  const alternatives = (['anyOf', 'oneOf'] as const).flatMap((k) =>
    Array.isArray(s[k]) ? [(s[k] as unknown[]).map(asSchema)] : [],
  )[0];
  if (ts.length === 0 && alternatives) {
    const branches = alternatives.map((b) => typeOf({ ...b }, depth + 1));
    return unique(branches).join(' or ');
  }
  if (ts.length === 0) {
    if (s.properties) return 'object';
    if (s.items) return typeOf({ ...s, type: 'array' }, depth);
    return 'any';
  }
  const rendered = ts.map((t) => {
    switch (t) {
      case 'string': {
        const formats = alternatives
          ? unique(alternatives.map((b) => (typeof b.format === 'string' ? b.format : '')))
          : [];
        if (typeof s.format === 'string') return `string (${s.format})`;
        if (formats.length && formats.every(Boolean)) return `string (${formats.join(' or ')})`;
        return 'string';
      }
      case 'array': {
        const items = s.items === undefined ? undefined : asSchema(s.items);
        if (!items || depth > 2) return 'array';
        const inner = typeOf(items, depth + 1);
        return inner === 'any' ? 'array' : `array of ${inner.includes(' ') ? `(${inner})` : inner}`;
      }
      case 'object': {
        const extra = s.additionalProperties;
        if (extra && typeof extra === 'object' && !s.properties && depth <= 2) {
          const inner = typeOf(asSchema(extra), depth + 1);
          return inner === 'any' ? 'object' : `object of ${inner.includes(' ') ? `(${inner})` : inner}`;
        }
        return 'object';
      }
      default:
        return t;
    }
  });
  return rendered.join(' or ');
}

/** The description cell: the schema's description and its limits. */
function describe(s: Schema): string {
  const parts: string[] = [];
  if (typeof s.description === 'string') parts.push(cell(s.description));
  const limits: string[] = [];
  const range = (lo: unknown, hi: unknown, what: string): void => {
    const unit = (n: number): string => (what ? ` ${n === 1 ? what : `${what}s`}` : '');
    if (typeof lo === 'number' && typeof hi === 'number')
      limits.push(lo === hi ? `exactly ${lo}${unit(lo)}` : `${lo}–${hi}${unit(hi)}`);
    else if (typeof lo === 'number') limits.push(`at least ${lo}${unit(lo)}`);
    else if (typeof hi === 'number') limits.push(`at most ${hi}${unit(hi)}`);
  };
  range(s.minimum, s.maximum, '');
  if (typeof s.exclusiveMinimum === 'number') limits.push(`more than ${s.exclusiveMinimum}`);
  if (typeof s.exclusiveMaximum === 'number') limits.push(`less than ${s.exclusiveMaximum}`);
  range(s.minLength, s.maxLength, 'character');
  range(s.minItems, s.maxItems, 'item');
  if (s.uniqueItems === true) limits.push('no duplicates');
  if (typeof s.pattern === 'string') limits.push(`matches ${code(s.pattern)}`);
  if (limits.length) parts.push(`(${limits.join('; ')})`);
  return parts.join(' ');
}

function types(s: Schema): string[] {
  if (typeof s.type === 'string') return [s.type];
  if (Array.isArray(s.type)) return s.type.filter((t): t is string => typeof t === 'string');
  return [];
}

function propertiesOf(s: Schema): Record<string, unknown> {
  const p = s.properties;
  return p && typeof p === 'object' && !Array.isArray(p) ? (p as Record<string, unknown>) : {};
}

function requiredOf(s: Schema): Set<string> {
  return new Set(
    Array.isArray(s.required) ? s.required.filter((r): r is string => typeof r === 'string') : [],
  );
}

function asSchema(value: unknown): Schema {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Schema) : {};
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

// ---------------------------------------------------------------------------------------------------
// Example values

/** Example parameters: the required ones (and enough others for minProperties / anyOf / oneOf). */
function exampleObject(schema: Schema, depth = 0): Record<string, unknown> {
  const props = propertiesOf(schema);
  const keys = [...requiredOf(schema)];
  for (const k of ['anyOf', 'oneOf'] as const) {
    const first = Array.isArray(schema[k]) ? asSchema((schema[k] as unknown[])[0]) : undefined;
    if (first) for (const r of requiredOf(first)) if (!keys.includes(r)) keys.push(r);
  }
  if (Array.isArray(schema.allOf))
    for (const part of schema.allOf.map(asSchema))
      for (const r of requiredOf(part)) if (!keys.includes(r)) keys.push(r);
  const minProperties = typeof schema.minProperties === 'number' ? schema.minProperties : 0;
  for (const k of Object.keys(props)) {
    if (keys.length >= minProperties) break;
    if (!keys.includes(k)) keys.push(k);
  }
  const extra = schema.additionalProperties;
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const prop =
      props[key] !== undefined
        ? asSchema(props[key])
        : extra && typeof extra === 'object'
          ? asSchema(extra)
          : {};
    out[key] = exampleValue(key, prop, depth + 1);
  }
  if (keys.length < minProperties && extra && typeof extra === 'object')
    out.example = exampleValue('example', asSchema(extra), depth + 1);
  return out;
}

function exampleValue(name: string, schema: Schema, depth: number): unknown {
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  for (const k of ['anyOf', 'oneOf'] as const)
    if (Array.isArray(schema[k]) && schema[k].length) {
      // The first alternative, with the schema's other keywords.
      const rest: Schema = { ...schema };
      delete rest[k];
      return exampleValue(name, { ...rest, ...asSchema(schema[k][0]) }, depth);
    }
  const s = schema;
  const type = types(s)[0] ?? (s.properties ? 'object' : s.items ? 'array' : 'string');
  switch (type) {
    case 'integer':
    case 'number':
      return exampleNumber(name, s, type === 'integer');
    case 'boolean':
      return true;
    case 'null':
      return null;
    case 'array': {
      const items = asSchema(s.items);
      const count = Math.max(1, typeof s.minItems === 'number' ? s.minItems : 1);
      const item = singular(name);
      return Array.from({ length: count }, (_, i) => {
        const v = exampleValue(item, items, depth + 1);
        return count > 1 && typeof v === 'string' ? `${v}${i + 1}` : v;
      });
    }
    case 'object': {
      if (depth > 4) return {};
      const value = exampleObject(s, depth);
      const free = s.additionalProperties !== false && Object.keys(propertiesOf(s)).length === 0;
      if (Object.keys(value).length === 0 && free) {
        const extra = asSchema(s.additionalProperties);
        return {
          message: Object.keys(extra).length ? exampleValue('message', extra, depth + 1) : EXAMPLE_TEXT,
        };
      }
      return value;
    }
    default:
      return exampleString(name, s);
  }
}

function exampleNumber(name: string, s: Schema, integer: boolean): number {
  let lo = typeof s.minimum === 'number' ? s.minimum : -Infinity;
  let hi = typeof s.maximum === 'number' ? s.maximum : Infinity;
  if (typeof s.exclusiveMinimum === 'number') lo = Math.max(lo, s.exclusiveMinimum + (integer ? 1 : 0.5));
  if (typeof s.exclusiveMaximum === 'number') hi = Math.min(hi, s.exclusiveMaximum - (integer ? 1 : 0.5));
  const wanted = /limit|size|count|max|top|per_page|days|hours|minutes|seconds/.test(name) ? 10 : 1;
  const v = Math.min(Math.max(wanted, lo), hi);
  return integer ? Math.ceil(v) : v;
}

const FORMAT_EXAMPLES: Record<string, string> = {
  uuid: '3f6c1a52-9b1e-4c2d-8a47-1e2f3a4b5c6d',
  email: 'analyst@example.com',
  'idn-email': 'analyst@example.com',
  ipv4: '198.51.100.7',
  ipv6: '2001:db8::7',
  'date-time': '2024-05-01T12:00:00Z',
  date: '2024-05-01',
  time: '12:00:00Z',
  duration: 'P1D',
  uri: 'https://example.com/',
  'uri-reference': 'https://example.com/',
  iri: 'https://example.com/',
  url: 'https://example.com/',
  hostname: 'host.example.com',
  'idn-hostname': 'host.example.com',
  regex: '^example$',
};

const EXAMPLE_TEXT = 'Suspicious sign-in blocked for alice@example.com';

/** Placeholders by parameter name (tried in order; the first that fits the schema is used). */
const NAME_EXAMPLES: [RegExp, string[]][] = [
  [/(^|_)ips?(_address(es)?)?$|^ip_/, ['198.51.100.7']],
  [/(^|_)(url|uri|link|href|src|webhook)s?$/, ['https://example.com/']],
  [/e?mail|^to$|^from$|^cc$|^bcc$|reply_to|recipient/, ['analyst@example.com']],
  [/hash|sha256|sha1|md5|checksum/, ['44d88612fea8a8f36de82e1278abb02f']],
  [/domain|hostname|fqdn|^host$/, ['example.com']],
  [/(^|_)ts$/, ['1714564800.000100']],
  [/time|date|_at$|since|until|before|after/, ['2024-05-01T12:00:00Z']],
  [/colou?r/, ['#0076D7']],
  [/channel/, ['#security-alerts', 'C0123ABCD']],
  [/owner|org/, ['octo-org']],
  [/repo/, ['security-playbooks']],
  [/issue|ticket/, ['SEC-123', '123']],
  [/project/, ['SEC']],
  [/(^|_)(path|file|filename)$/, ['docs/README.md']],
  [/index/, ['security-events']],
  [/branch/, ['main']],
  [/severity|priority|level/, ['high']],
  [/status|state/, ['open']],
  [/label|tag/, ['phishing']],
  [/field/, ['summary']],
  [/query|search|filter|jql|spl/, ['example query']],
  [/subject|title|summary/, ['Suspicious sign-in for alice@example.com']],
  [/text|message|body|content|comment|description|note|details?$/, [EXAMPLE_TEXT]],
  [/source/, ['osprey']],
  [/user/, ['alice']],
  [/(^|_)id$|_ids?$|key$/, ['12345', 'example-id']],
  [/name/, ['example-name']],
];

function exampleString(name: string, s: Schema): string {
  const candidates: string[] = [];
  if (typeof s.format === 'string' && FORMAT_EXAMPLES[s.format]) candidates.push(FORMAT_EXAMPLES[s.format]!);
  const lower = name.toLowerCase();
  for (const [re, values] of NAME_EXAMPLES) if (re.test(lower)) candidates.push(...values);
  candidates.push('example', `example-${lower.replace(/[^a-z0-9]+/g, '-')}`, 'EXAMPLE', '12345', 'a');
  const fits = candidates.find((c) => fitsString(c, s));
  return fits ?? candidates[0]!;
}

function fitsString(value: string, s: Schema): boolean {
  if (typeof s.minLength === 'number' && [...value].length < s.minLength) return false;
  if (typeof s.maxLength === 'number' && [...value].length > s.maxLength) return false;
  if (typeof s.pattern === 'string') {
    try {
      if (!new RegExp(s.pattern, 'u').test(value)) return false;
    } catch {
      return true;
    }
  }
  return true;
}

function singular(name: string): string {
  if (name.endsWith('ies')) return `${name.slice(0, -3)}y`;
  if (/(ses|xes|shes|ches)$/.test(name)) return name.slice(0, -2);
  if (name.endsWith('s') && !name.endsWith('ss')) return name.slice(0, -1);
  return name;
}

// ---------------------------------------------------------------------------------------------------
// Markdown

function table(header: string[], rows: string[][]): string {
  const row = (cells: string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');
}

/** Text for a table cell (the table escapes pipes). */
function cell(text: string): string {
  return paragraph(text);
}

/** Manifest text as one Markdown paragraph; what would read as an HTML tag is escaped. */
function paragraph(text: string): string {
  return squash(text).replace(/<(?=[A-Za-z/!?])(?!https?:)/g, '&lt;');
}

function inline(text: string): string {
  return paragraph(text);
}

function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** A code span that survives backticks in the text. */
function code(text: string): string {
  const t = squash(text);
  const longest = Math.max(0, ...[...t.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest || t.startsWith('`') || t.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${t}${pad}${fence}`;
}

function literal(value: unknown): string {
  return code(typeof value === 'string' ? value : JSON.stringify(value));
}

/** GitHub's heading anchor for a heading text. */
function anchor(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import type { Principal } from '../domain/actor.js';
import { authorize } from '../domain/authorize.js';
import { OspreyError, invalidArgument, notFound } from '../domain/errors.js';
import type { WorkflowService, WorkflowView } from './workflows.js';

/** The shipped templates: templates/ at the repository root (the same from src/ and dist/). */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

export interface TemplateParameter {
  type: 'string' | 'integer' | 'number' | 'boolean';
  description: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  /** A stricter pattern for a string (it must still be one line without quotes or backslashes). */
  pattern?: string;
}

export interface TemplateView {
  name: string;
  title: string;
  description: string;
  categories: string[];
  parameters: Record<string, TemplateParameter & { required: boolean }>;
  /** The names of the workflows it installs, in order (nested ones first). */
  workflows: string[];
}

interface TemplateFile {
  template: {
    name: string;
    title: string;
    description: string;
    categories?: string[];
    parameters?: Record<string, TemplateParameter & { required?: boolean }>;
  };
  /** Workflow YAML texts with [[ parameter ]] placeholders. */
  workflows: string[];
}

const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: true, coerceTypes: false });
const PLACEHOLDER = /\[\[\s*([a-z][a-z0-9_]*)\s*\]\]/g;

/**
 * Workflow templates shipped under templates/: each is one or more workflows with parameters,
 * listed and installed (rendered, created and published) into a workspace.
 */
export class TemplateService {
  #cache: Promise<Map<string, TemplateFile>> | undefined;

  constructor(private readonly deps: { workflows: WorkflowService; dir?: string }) {}

  async list(principal: Principal): Promise<TemplateView[]> {
    authorize(principal, 'workflows.read');
    return [...(await this.#all()).values()].map(toView);
  }

  async get(principal: Principal, name: string): Promise<TemplateView> {
    authorize(principal, 'workflows.read');
    return toView(await this.#one(name));
  }

  /**
   * Renders the template with `parameters` (checked against its parameter schema, defaults
   * filled), creates its workflows and, unless `publish` is false, publishes them. Every workflow
   * is checked before the first is created; if a later one fails, those created are deleted.
   */
  async install(
    principal: Principal,
    name: string,
    request: { parameters?: Record<string, unknown> | undefined; publish?: boolean | undefined },
  ): Promise<{ template: string; workflows: WorkflowView[] }> {
    authorize(principal, 'workflows.edit');
    const publish = request.publish ?? true;
    if (publish) authorize(principal, 'workflows.publish');
    const file = await this.#one(name);
    const params = { ...(request.parameters ?? {}) };
    const validate = ajv.compile(schemaOf(file));
    if (!validate(params)) {
      const e = validate.errors![0]!;
      const field = e.instancePath
        ? `parameters${e.instancePath.replaceAll('/', '.')}`
        : `parameters.${String((e.params as { missingProperty?: string; additionalProperty?: string }).missingProperty ?? (e.params as { additionalProperty?: string }).additionalProperty ?? '')}`;
      throw invalidArgument(field, `${field} ${e.message ?? 'is invalid'}`);
    }
    const texts = file.workflows.map((w) => render(w, params));
    const created: WorkflowView[] = [];
    try {
      for (const text of texts) {
        const { workflow } = await this.deps.workflows.create(principal, text);
        created.push(publish ? await this.deps.workflows.publish(principal, workflow.id, {}) : workflow);
      }
    } catch (error) {
      for (const w of created) await this.deps.workflows.delete(principal, w.id).catch(() => undefined);
      throw error;
    }
    return { template: file.template.name, workflows: created };
  }

  async #one(name: string): Promise<TemplateFile> {
    const file = (await this.#all()).get(name);
    if (!file) throw notFound('TEMPLATE_NOT_FOUND', 'template', name);
    return file;
  }

  #all(): Promise<Map<string, TemplateFile>> {
    this.#cache ??= load(this.deps.dir ?? TEMPLATES_DIR).catch((error: unknown) => {
      this.#cache = undefined;
      throw error;
    });
    return this.#cache;
  }
}

async function load(dir: string): Promise<Map<string, TemplateFile>> {
  const out = new Map<string, TemplateFile>();
  for (const entry of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    const file = parseYaml(await readFile(`${dir}${entry}`, 'utf8')) as TemplateFile;
    if (!file?.template?.name || !Array.isArray(file.workflows) || file.workflows.length === 0)
      throw new OspreyError('INTERNAL', 500, `the template ${entry} has no template.name or no workflows`);
    out.set(file.template.name, file);
  }
  return out;
}

function schemaOf(file: TemplateFile): Record<string, unknown> {
  const params = file.template.parameters ?? {};
  return {
    type: 'object',
    additionalProperties: false,
    required: Object.entries(params)
      .filter(([, p]) => p.required)
      .map(([k]) => k),
    properties: Object.fromEntries(
      Object.entries(params).map(([k, p]) => [
        k,
        {
          type: p.type,
          ...(p.enum ? { enum: p.enum } : {}),
          ...(p.minimum !== undefined ? { minimum: p.minimum } : {}),
          ...(p.maximum !== undefined ? { maximum: p.maximum } : {}),
          ...(p.default !== undefined ? { default: p.default } : {}),
          // Strings are written into YAML as they are: one line, no quotes or backslashes.
          ...(p.type === 'string'
            ? {
                minLength: 1,
                maxLength: 500,
                allOf: [{ pattern: '^[^\\r\\n"\\\\]*$' }, ...(p.pattern ? [{ pattern: p.pattern }] : [])],
              }
            : {}),
        },
      ]),
    ),
  };
}

/** Replaces [[ name ]] with the parameter's value: strings as they are, others as JSON. */
export function render(text: string, params: Record<string, unknown>): string {
  return text.replace(PLACEHOLDER, (_m, key: string) => {
    const v = params[key];
    if (v === undefined)
      throw new OspreyError('INTERNAL', 500, `the template uses [[ ${key} ]] but declares no such parameter`);
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
}

function toView(file: TemplateFile): TemplateView {
  const params = file.template.parameters ?? {};
  return {
    name: file.template.name,
    title: file.template.title,
    description: file.template.description,
    categories: file.template.categories ?? [],
    parameters: Object.fromEntries(
      Object.entries(params).map(([k, p]) => [k, { ...p, required: p.required === true }]),
    ),
    workflows: file.workflows.map((w) => {
      const name = (parseYaml(w.replace(PLACEHOLDER, 'x')) as { name?: unknown }).name;
      return typeof name === 'string' ? name : '';
    }),
  };
}

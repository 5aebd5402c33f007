import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Cron } from 'croner';
import { WORKFLOW_SCHEMA, type StepKind } from './definition-schema.js';
import { checkExpression, findTemplates, referencedRoots } from './expressions.js';
import { schemaProblems } from '../schema-problems.js';
import { DefinitionSource, type PathPart, type SourceProblem } from './source.js';

/** A validated definition. Steps keep their raw shape; the engine compiles them. */
export interface WorkflowDefinition {
  name: string;
  description?: string;
  tags?: string[];
  trigger: { type: 'on_demand' | 'webhook' | 'schedule' | 'event' | 'nested'; [key: string]: unknown };
  concurrency?: number;
  retention_days?: number;
  steps: StepDefinition[];
}

export interface StepDefinition {
  id: string;
  kind: StepKind;
  [key: string]: unknown;
}

export interface ValidationResult {
  definition: WorkflowDefinition | undefined;
  /** Errors block saving; warnings are kept on a draft and block publishing. */
  problems: SourceProblem[];
}

/** Actions every installation has. The integrations work adds the app catalogue. */
export const BUILT_IN_ACTIONS = new Set(['http.request']);

/** What the validator knows of an action's parameters: the required ones, and all when no others are allowed. */
export interface ActionShape {
  required: readonly string[];
  known?: readonly string[];
}

/** The actions installed apps provide (a Set of names, or a Map to their parameter shapes). */
export interface ActionCatalog {
  has(action: string): boolean;
  get?(action: string): ActionShape | undefined;
}

const RESERVED_IDS = new Set(['event', 'secrets', 'vars', 'execution', 'workflow', 'item', 'index']);

let compiled: ReturnType<Ajv2020['compile']> | undefined;
function schemaValidator(): ReturnType<Ajv2020['compile']> {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: false });
    addFormats.default(ajv);
    compiled = ajv.compile(WORKFLOW_SCHEMA);
  }
  return compiled;
}

/** Literal `with` keys checked against the action's parameters (values may be templates, so not typed). */
function parameterProblems(
  source: DefinitionSource,
  step: StepDefinition,
  path: PathPart[],
  shape: ActionShape | undefined,
): SourceProblem[] {
  const given = step.with ?? {};
  if (!shape || given === null || typeof given !== 'object' || Array.isArray(given)) return [];
  const keys = Object.keys(given);
  const out: SourceProblem[] = [];
  for (const k of shape.required)
    if (!keys.includes(k))
      out.push(
        source.problem([...path, 'with'], `${String(step.action)} needs the parameter "${k}"`, 'warning'),
      );
  if (shape.known)
    for (const k of keys)
      if (!shape.known.includes(k))
        out.push(
          source.problem(
            [...path, 'with', k],
            `"${k}" is not a parameter of ${String(step.action)} (it takes ${shape.known.join(', ') || 'none'})`,
            'warning',
          ),
        );
  return out;
}

interface StepVisit {
  step: StepDefinition;
  path: PathPart[];
  inLoop: boolean;
}

/** Every step, depth first, with its path and whether a loop encloses it. */
export function walkSteps(
  steps: StepDefinition[],
  base: PathPart[] = ['steps'],
  inLoop = false,
): StepVisit[] {
  const out: StepVisit[] = [];
  steps.forEach((step, i) => {
    const path = [...base, i];
    out.push({ step, path, inLoop });
    const nested = (key: string, list: unknown, loop = inLoop): void => {
      if (Array.isArray(list)) out.push(...walkSteps(list as StepDefinition[], [...path, key], loop));
    };
    nested('then', step.then);
    nested('else', step.else);
    nested('default', step.default);
    nested('notify', step.notify);
    if (step.kind === 'loop') nested('steps', step.steps, true);
    if (Array.isArray(step.cases)) {
      (step.cases as { steps?: unknown }[]).forEach((c, ci) => {
        if (Array.isArray(c.steps))
          out.push(...walkSteps(c.steps as StepDefinition[], [...path, 'cases', ci, 'steps'], inLoop));
      });
    }
    if (Array.isArray(step.branches)) {
      (step.branches as { steps?: unknown }[]).forEach((b, bi) => {
        if (Array.isArray(b.steps))
          out.push(...walkSteps(b.steps as StepDefinition[], [...path, 'branches', bi, 'steps'], inLoop));
      });
    }
  });
  return out;
}

/** Calls fn for every string inside value (not descending into nested step lists). */
function eachString(value: unknown, path: PathPart[], fn: (text: string, path: PathPart[]) => void): void {
  if (typeof value === 'string') fn(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => eachString(v, [...path, i], fn));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) eachString(v, [...path, k], fn);
  }
}

const NESTED_KEYS = new Set(['then', 'else', 'default', 'steps', 'cases', 'branches', 'notify']);
const LITERAL_KEYS = new Set(['id', 'kind', 'source', 'snippets', 'name', 'description']);

function semanticProblems(
  source: DefinitionSource,
  def: WorkflowDefinition,
  actions: ActionCatalog,
): SourceProblem[] {
  const problems: SourceProblem[] = [];
  const visits = walkSteps(def.steps);
  const ids = new Map<string, PathPart[]>();
  for (const { step, path } of visits) {
    if (RESERVED_IDS.has(step.id))
      problems.push(source.problem([...path, 'id'], `"${step.id}" is reserved; choose another step id`));
    else if (ids.has(step.id))
      problems.push(
        source.problem(
          [...path, 'id'],
          `duplicate step id "${step.id}" (first at ${ids.get(step.id)!.join('.')})`,
        ),
      );
    else ids.set(step.id, path);
  }
  for (const { step, path, inLoop } of visits) {
    if (step.kind === 'approval' && typeof step.default_outcome === 'string') {
      const options = Array.isArray(step.options) ? (step.options as unknown[]) : ['approve', 'reject'];
      if (!options.includes(step.default_outcome))
        problems.push(
          source.problem(
            [...path, 'default_outcome'],
            `default_outcome "${step.default_outcome}" is not one of the options (${options.join(', ')})`,
          ),
        );
    }
    if (step.kind === 'break' && !inLoop)
      problems.push(source.problem([...path, 'kind'], 'break is only allowed inside a loop'));
    if (step.kind === 'action' && typeof step.action === 'string' && !actions.has(step.action)) {
      problems.push(
        source.problem(
          [...path, 'action'],
          `unknown action "${step.action}": no installed app provides it`,
          'warning',
        ),
      );
    } else if (step.kind === 'action' && typeof step.action === 'string') {
      problems.push(...parameterProblems(source, step, path, actions.get?.(step.action)));
    }
    for (const [key, value] of Object.entries(step)) {
      if (NESTED_KEYS.has(key) && key !== 'cases') continue;
      if (LITERAL_KEYS.has(key)) continue;
      const fieldValue =
        key === 'cases' ? (value as { when?: unknown }[]).map((c) => ({ when: c.when })) : value;
      eachString(fieldValue, [...path, key], (text, at) => {
        for (const t of findTemplates(text)) {
          const err = checkExpression(t.expression);
          if (err) {
            problems.push(
              source.problem(at, `invalid expression "${t.expression}": ${err.message}`, 'error', t.offset),
            );
            continue;
          }
          for (const root of referencedRoots(t.expression)) {
            if (root !== 'event' && !ids.has(root)) {
              problems.push(
                source.problem(
                  at,
                  `expression refers to $.${root}, but there is no step with id "${root}"`,
                  'error',
                  t.offset,
                ),
              );
            }
          }
        }
      });
    }
  }
  const trigger = def.trigger;
  if (trigger.type === 'schedule' && typeof trigger.cron === 'string') {
    const timezone = typeof trigger.timezone === 'string' ? trigger.timezone : 'UTC';
    try {
      new Intl.DateTimeFormat('en', { timeZone: timezone });
    } catch {
      problems.push(source.problem(['trigger', 'timezone'], `unknown time zone "${timezone}"`));
    }
    try {
      new Cron(trigger.cron, { paused: true });
    } catch (error) {
      problems.push(
        source.problem(['trigger', 'cron'], `invalid cron expression: ${(error as Error).message}`),
      );
    }
  }
  return problems;
}

/** Parses and validates a definition: syntax, schema, step ids, expressions, references, triggers. */
export function validateDefinition(
  text: string,
  actions: ActionCatalog = BUILT_IN_ACTIONS,
): ValidationResult {
  const source = new DefinitionSource(text);
  if (source.syntaxProblems.length) return { definition: undefined, problems: source.syntaxProblems };
  if (source.value === null || typeof source.value !== 'object' || Array.isArray(source.value)) {
    return {
      definition: undefined,
      problems: [source.problem([], 'a workflow definition must be a mapping (name, trigger, steps, …)')],
    };
  }
  const validate = schemaValidator();
  if (!validate(source.value))
    return { definition: undefined, problems: schemaProblems(source, validate.errors ?? []) };
  const definition = source.value as WorkflowDefinition;
  const problems = semanticProblems(source, definition, actions);
  return { definition: problems.some((p) => p.severity === 'error') ? undefined : definition, problems };
}

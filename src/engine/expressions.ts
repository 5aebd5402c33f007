import jsonata from 'jsonata';
import { findTemplates, isWholeValueTemplate } from '../domain/workflow/expressions.js';

/** What expressions see: `$` is the context (event and step outputs); bindings are `$name`. */
export interface Scope {
  context: Record<string, unknown>;
  bindings: Record<string, unknown>;
}

/** Guardrails for every evaluation: an expression cannot hold the process (run on the main thread). */
const LIMITS = { timeout: 2000, stack: 500, sequence: 1_000_000 };

/** A failed evaluation, with a stable code and the expression named. */
export class ExpressionError extends Error {
  constructor(
    readonly code: 'EXPRESSION_FAILED' | 'EXPRESSION_TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

const PLAIN_PATH = /^\$\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$/;

/**
 * Evaluates `{{ … }}` templates. Expressions are compiled once and cached; plain paths such as
 * `$.lookup.api_object.ip` skip JSONata entirely. JSONata cannot reach host JavaScript.
 */
export class ExpressionRuntime {
  readonly #compiled = new Map<string, jsonata.Expression>();

  async evaluate(expression: string, scope: Scope): Promise<unknown> {
    const plain = PLAIN_PATH.exec(expression);
    if (plain) {
      // Through plain objects only: a path through a list maps over it in JSONata, so those go there.
      let value: unknown = scope.context[plain[1]!];
      let simple = true;
      for (const key of (plain[2] ?? '').split('.').filter(Boolean)) {
        if (Array.isArray(value)) {
          simple = false;
          break;
        }
        value =
          value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
      }
      if (simple) return value;
    }
    let compiled = this.#compiled.get(expression);
    if (!compiled) {
      compiled = jsonata(expression, LIMITS);
      if (this.#compiled.size >= 10_000) this.#compiled.clear();
      this.#compiled.set(expression, compiled);
    }
    try {
      return (await compiled.evaluate(scope.context, scope.bindings)) as unknown;
    } catch (error) {
      const e = error as { code?: unknown; message?: unknown };
      const detail = typeof e.message === 'string' ? e.message : String(error);
      const jsonataCode = typeof e.code === 'string' ? ` (JSONata ${e.code})` : '';
      throw new ExpressionError(
        e.code === 'D1012' ? 'EXPRESSION_TIMEOUT' : 'EXPRESSION_FAILED',
        `{{ ${expression.length > 200 ? `${expression.slice(0, 200)}…` : expression} }}: ${detail}${jsonataCode}`,
      );
    }
  }

  /** Renders a value: a whole-value template keeps its JSON type, an embedded one becomes text. */
  async render(value: unknown, scope: Scope): Promise<unknown> {
    if (typeof value === 'string') {
      const templates = findTemplates(value);
      if (templates.length === 0) return value;
      if (isWholeValueTemplate(value)) return normalise(await this.evaluate(templates[0]!.expression, scope));
      let out = '';
      let last = 0;
      for (const m of value.matchAll(/\{\{([\s\S]*?)\}\}/g)) {
        out += value.slice(last, m.index);
        const v = normalise(await this.evaluate(m[1]!.trim(), scope));
        out += v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
        last = (m.index ?? 0) + m[0].length;
      }
      return out + value.slice(last);
    }
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (const v of value) out.push(await this.render(v, scope));
      return out;
    }
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = await this.render(v, scope);
      return out;
    }
    return value;
  }
}

/** JSONata returns undefined for "no match" and special sequence arrays; make them plain JSON. */
function normalise(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** JSONata's truthiness, which conditions use: empty strings, 0, empty arrays, null and false are false. */
export function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return Boolean(value);
}

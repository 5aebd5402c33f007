import jsonata from 'jsonata';

/** `{{ … }}` segments of a string. */
const TEMPLATE = /\{\{([\s\S]*?)\}\}/g;

export interface TemplatePart {
  expression: string;
  /** Offset of the expression text within the string. */
  offset: number;
}

export function findTemplates(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  for (const m of text.matchAll(TEMPLATE))
    parts.push({ expression: m[1]!.trim(), offset: (m.index ?? 0) + 2 });
  return parts;
}

/** A string that is exactly one template keeps the expression's JSON type when evaluated. */
export function isWholeValueTemplate(text: string): boolean {
  const t = text.trim();
  return t.startsWith('{{') && t.endsWith('}}') && findTemplates(t).length === 1 && t.indexOf('{{', 2) === -1;
}

export interface ExpressionError {
  message: string;
  position: number | undefined;
}

/** Compiles a JSONata expression; returns the syntax error, if any. JSONata cannot run host JavaScript. */
export function checkExpression(expression: string): ExpressionError | undefined {
  if (expression === '') return { message: 'empty expression', position: 0 };
  try {
    jsonata(expression);
    return undefined;
  } catch (error) {
    const e = error as { message?: string; position?: number };
    return { message: e.message ?? 'invalid expression', position: e.position };
  }
}

/** Step ids an expression reads as `$.<id>` (the roots of context paths). */
export function referencedRoots(expression: string): string[] {
  const roots = new Set<string>();
  for (const m of expression.matchAll(/\$\.([A-Za-z_][A-Za-z0-9_]*)/g)) roots.add(m[1]!);
  return [...roots];
}

/** Ajv errors turned into located, readable problems (workflow definitions and app manifests). */
import type { ErrorObject } from 'ajv/dist/2020.js';
import type { DefinitionSource, PathPart, SourceProblem } from './workflow/source.js';

export function pointerToPath(pointer: string): PathPart[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** ajv reports an `if/then` failure twice (the branch and the "must match then"); keep the useful ones. */
export function schemaProblems(source: DefinitionSource, errors: ErrorObject[]): SourceProblem[] {
  const useful = errors.filter(
    (e) =>
      e.keyword !== 'if' &&
      !(e.keyword === 'oneOf' && errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath))),
  );
  const seen = new Set<string>();
  const out: SourceProblem[] = [];
  for (const e of useful) {
    const path = pointerToPath(e.instancePath);
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties') {
      const field = String(e.params.additionalProperty);
      path.push(field);
      message = `unknown field "${field}"`;
    } else if (e.keyword === 'required') {
      message = `${String(e.params.missingProperty)} is required`;
    } else if (e.keyword === 'enum') {
      message = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    } else if (e.keyword === 'const') {
      message = `must be ${JSON.stringify(e.params.allowedValue)}`;
    }
    const problem = source.problem(path, message);
    const key = `${problem.path}|${message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(problem);
    }
  }
  return out;
}

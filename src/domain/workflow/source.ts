import { LineCounter, parseDocument, type Document } from 'yaml';

export type Severity = 'error' | 'warning';

/** One problem in a definition, located in the source. */
export interface SourceProblem {
  /** JSON pointer-like dotted path, e.g. steps[2].with.url */
  path: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
  severity: Severity;
}

export type PathPart = string | number;

export function formatPath(parts: readonly PathPart[]): string {
  return parts.reduce<string>(
    (acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p),
    '',
  );
}

/** A parsed YAML (or JSON) source that can say where a path is. */
export class DefinitionSource {
  readonly value: unknown;
  readonly syntaxProblems: SourceProblem[];
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(text: string) {
    this.#lines = new LineCounter();
    this.#doc = parseDocument(text, { lineCounter: this.#lines, prettyErrors: true, uniqueKeys: true });
    this.syntaxProblems = [...this.#doc.errors, ...this.#doc.warnings].map((e) => {
      const pos = e.linePos?.[0];
      return {
        path: '',
        line: pos?.line,
        column: pos?.col,
        message: e.message.split('\n')[0] ?? e.message,
        severity: 'error' as const,
      };
    });
    this.value = this.syntaxProblems.length ? undefined : (this.#doc.toJS({ maxAliasCount: 100 }) as unknown);
  }

  /** The line and column of the value at `path`, or of its nearest ancestor that exists. */
  locate(
    path: readonly PathPart[],
    offsetInString = 0,
  ): { line: number | undefined; column: number | undefined } {
    for (let n = path.length; n >= 0; n--) {
      const node = this.#doc.getIn(path.slice(0, n), true) as
        { range?: [number, number, number] } | undefined;
      if (node && typeof node === 'object' && node.range) {
        const quoted = n === path.length && offsetInString > 0 ? 1 : 0;
        const pos = this.#lines.linePos(node.range[0] + (n === path.length ? offsetInString + quoted : 0));
        return { line: pos.line, column: pos.col };
      }
    }
    return { line: undefined, column: undefined };
  }

  problem(
    path: readonly PathPart[],
    message: string,
    severity: Severity = 'error',
    offset = 0,
  ): SourceProblem {
    return { path: formatPath(path), ...this.locate(path, offset), message, severity };
  }
}

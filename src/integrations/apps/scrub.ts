/**
 * Removes credentials from text and values leaving an action: every secret value, its URL-encoded
 * form, and derived credentials (Basic headers, OAuth2 tokens) become "[secret]".
 */
export class Scrubber {
  readonly #needles: string[] = [];

  constructor(values: Iterable<unknown> = []) {
    for (const v of values) this.add(v);
  }

  add(value: unknown): void {
    if (typeof value !== 'string' || value.length < 4) return;
    for (const form of new Set([value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]))
      if (!this.#needles.includes(form)) this.#needles.push(form);
    // Longest first, so a secret that contains another is replaced whole.
    this.#needles.sort((a, b) => b.length - a.length);
  }

  get empty(): boolean {
    return this.#needles.length === 0;
  }

  /** True when `text` is part of a secret or holds one (a path cut from a secret webhook URL). */
  touches(text: string): boolean {
    return this.#needles.some((n) => text.includes(n) || (text.length >= 8 && n.includes(text)));
  }

  text(text: string): string {
    let out = text;
    for (const n of this.#needles) if (out.includes(n)) out = out.split(n).join('[secret]');
    return out;
  }

  value<T>(value: T): T {
    if (this.empty || value === undefined) return value;
    const json = JSON.stringify(value);
    const clean = this.text(json);
    return clean === json ? value : (JSON.parse(clean) as T);
  }
}

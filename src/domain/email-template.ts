/** `{{ name }}` or `{{ a.b }}` placeholders in an email template. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The placeholder names a template uses, in order of first use. */
export function placeholders(body: string): string[] {
  return [...new Set([...body.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
}

/**
 * Fills the placeholders from `data` (dotted names reach into objects). Values are HTML-escaped, so
 * data cannot inject markup; `escape: false` is for plain-text parts such as the subject. Names
 * with no value are answered in `missing` and render empty.
 */
export function renderTemplate(
  body: string,
  data: Record<string, unknown>,
  escape = true,
): { text: string; missing: string[] } {
  const missing: string[] = [];
  const text = body.replace(PLACEHOLDER, (_m, name: string) => {
    let value: unknown = data;
    for (const part of name.split('.'))
      value =
        value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
    if (value === undefined || value === null) {
      missing.push(name);
      return '';
    }
    const s = typeof value === 'string' ? value : JSON.stringify(value);
    return escape ? escapeHtml(s) : s;
  });
  return { text, missing: [...new Set(missing)] };
}

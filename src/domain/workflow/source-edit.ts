import { parseDocument } from 'yaml';

/** Sets top-level fields of a definition's source, keeping its comments and layout. */
export function setTopLevelFields(source: string, fields: Record<string, unknown>): string {
  const doc = parseDocument(source);
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    doc.set(key, value);
  }
  return doc.toString();
}

/** `{"yaml": …}` holds base64 or the text itself: base64 has no ':' or newline, a definition does. */
export function decodeImportedSource(value: string): string {
  const compact = value.replace(/\s+/g, '');
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(compact) && compact.length % 4 === 0 && !value.includes(':')) {
    const text = Buffer.from(compact, 'base64').toString('utf8');
    if (!text.includes('\uFFFD')) return text;
  }
  return value;
}

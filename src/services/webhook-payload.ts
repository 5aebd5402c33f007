import { XMLParser } from 'fast-xml-parser';
import { invalidArgument } from '../domain/errors.js';

const xml = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: true });

/** The media type without parameters, lower-cased: "application/json; charset=utf-8" → "application/json". */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isJson(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

function isXml(type: string): boolean {
  return type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml');
}

/** Form fields as an object; a repeated field becomes a list. */
function formToObject(text: string): Record<string, unknown> {
  // No prototype, so fields named like Object's own members ("constructor", "__proto__") are plain fields.
  const out = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = Object.hasOwn(out, key) ? out[key] : undefined;
    out[key] =
      prev === undefined ? value : Array.isArray(prev) ? [...(prev as string[]), value] : [prev, value];
  }
  return { ...out };
}

/**
 * A webhook body as the workflow sees it in `$.event`: JSON as is, form fields and XML converted to
 * JSON, anything else as `{ body: <text> }`. Malformed JSON or XML is the caller's mistake (400)
 * unless `lenient` (raw mode), where it is passed on as text.
 */
export function parseWebhookBody(
  body: Buffer | undefined,
  contentType: string | undefined,
  lenient: boolean,
): unknown {
  if (!body || body.length === 0) return lenient ? '' : {};
  const type = mediaType(contentType);
  const text = body.toString('utf8');
  try {
    if (isJson(type)) return JSON.parse(text) as unknown;
    if (type === 'application/x-www-form-urlencoded') return formToObject(text);
    if (isXml(type)) {
      if (!text.trimStart().startsWith('<')) throw new Error('it does not start with an element');
      // `true` validates first, so malformed XML is refused rather than half-read.
      return xml.parse(text, true) as unknown;
    }
  } catch (error) {
    if (lenient) return text;
    throw invalidArgument(
      'body',
      `the body is not valid ${isJson(type) ? 'JSON' : 'XML'}: ${(error as Error).message}`,
      'MALFORMED_BODY',
    );
  }
  return lenient ? text : { body: text };
}

import { ActionError } from '../action-error.js';

/** A vendor's error answer as a stable code: what workflows branch on. */
export function statusError(status: number, message: string, retryAfter: number | undefined): ActionError {
  if (status === 401 || status === 403) return new ActionError('AUTH_FAILED', message);
  if (status === 404) return new ActionError('NOT_FOUND', message);
  if (status === 429) return new ActionError('RATE_LIMITED', message, retryAfter ?? 0);
  if (status >= 500) return new ActionError('REMOTE_ERROR', message, retryAfter);
  return new ActionError('REMOTE_REJECTED', message);
}

/** The vendor's own words from an error body, when it has some. */
export function vendorMessage(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    const t = text.trim();
    return t.length > 0 && t.length <= 300 && !/^</.test(t) ? t : '';
  }
  const pick = (v: unknown): string | undefined => {
    if (typeof v === 'string' && v) return v;
    if (Array.isArray(v)) return v.map(pick).filter(Boolean).join('; ') || undefined;
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      // Elasticsearch: {type, reason}; Splunk: {type, text}.
      const reason = pick(o.reason);
      if (reason) return typeof o.type === 'string' ? `${o.type}: ${reason}` : reason;
      const named =
        pick(o.message) ?? pick(o.detail) ?? pick(o.error_description) ?? pick(o.description) ?? pick(o.text);
      // ServiceNow: {message, detail}; both say something.
      const detail = pick(o.detail);
      if (named && detail && detail !== named) return `${named}: ${detail}`;
      if (named) return named;
      // A map of field to message (Jira's "errors").
      const entries = Object.entries(o).filter(([, m]) => typeof m === 'string' && m);
      return entries.length ? entries.map(([k, m]) => `${k}: ${String(m)}`).join('; ') : undefined;
    }
    return undefined;
  };
  const o = (body ?? {}) as Record<string, unknown>;
  const found =
    pick(o.error) ??
    pick(o.errors) ??
    pick(o.errorMessages) ??
    pick(o.message) ??
    pick(o.error_description) ??
    okta(o) ??
    pick(o.detail) ??
    pick(o.messages) ??
    pick(o.text);
  return found ? found.slice(0, 500) : '';
}

/** Okta: errorSummary, and the causes that say which field or state was at fault. */
function okta(o: Record<string, unknown>): string | undefined {
  if (typeof o.errorSummary !== 'string' || !o.errorSummary) return undefined;
  const causes = Array.isArray(o.errorCauses)
    ? o.errorCauses
        .map((c) => (c as { errorSummary?: unknown }).errorSummary)
        .filter((c): c is string => typeof c === 'string' && c !== '')
    : [];
  return causes.length ? `${o.errorSummary}: ${causes.join('; ')}` : o.errorSummary;
}

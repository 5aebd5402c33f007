// A stand-in for the PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/overview/):
// POST /v2/enqueue with the routing key in the body, 202 {"status": "success", "message": "Event
// processed", "dedup_key"} for an accepted event, 400 {"status": "invalid event", "message": "Event
// object is invalid", "errors": [...]} for a rejected one, and alerts kept by dedup key so that
// acknowledge and resolve act on them.
import { randomBytes } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type StandIn } from './stand-in.js';

/** An Events API v2 integration key: 32 characters. */
export const PD_ROUTING_KEY = 'R0KZ7V2QW9XBT4LMN8HC3PJD6FYAS1GE';
/** Well-formed, but no integration has it. */
export const PD_UNKNOWN_ROUTING_KEY = 'R0000000000000000000000000000000';

const SEVERITIES = ['critical', 'error', 'warning', 'info'];

export interface Alert {
  dedup_key: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  summary: string;
  source: string;
  severity: string;
  payload: Record<string, unknown>;
  links?: unknown;
  images?: unknown;
  client?: unknown;
  client_url?: unknown;
}

export interface PagerDutyStandIn extends StandIn {
  alerts: Map<string, Alert>;
}

export function invalidEvent(...errors: string[]): Answer {
  return { status: 400, json: { status: 'invalid event', message: 'Event object is invalid', errors } };
}

/** PagerDuty's 429: no body. */
export const PD_RATE_LIMITED: Answer = { status: 429, text: '', headers: { 'retry-after': '1' } };

/** Starts a PagerDuty stand-in; its `url` is the base URL. */
export async function pagerDutyStandIn(routingKey = PD_ROUTING_KEY): Promise<PagerDutyStandIn> {
  const alerts = new Map<string, Alert>();
  const enqueue = (req: RecordedRequest): Answer => {
    if (
      req.json === undefined ||
      req.json === null ||
      typeof req.json !== 'object' ||
      Array.isArray(req.json)
    )
      return {
        status: 400,
        json: { status: 'invalid request', message: 'Event object is invalid', errors: ['Malformed JSON'] },
      };
    const event = req.json as Record<string, unknown>;
    const key = event.routing_key;
    if (typeof key !== 'string' || key === '') return invalidEvent("'routing_key' is missing or blank");
    if (key.length !== 32)
      return invalidEvent("Length of 'routing_key' is incorrect (should be 32 characters)");
    if (key !== routingKey) return invalidEvent('Invalid routing key');
    const action = event.event_action;
    if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve')
      return invalidEvent(
        "'event_action' is missing or invalid (must be one of: 'trigger', 'acknowledge', 'resolve')",
      );
    const dedupIn = event.dedup_key;
    if (dedupIn !== undefined && (typeof dedupIn !== 'string' || dedupIn.length > 255))
      return invalidEvent("'dedup_key' is invalid (must be a string of at most 255 characters)");
    if (action === 'trigger') {
      const payload = event.payload as Record<string, unknown> | undefined;
      if (!payload || typeof payload !== 'object') return invalidEvent("'payload' is missing or blank");
      const errors: string[] = [];
      for (const f of ['summary', 'source'])
        if (typeof payload[f] !== 'string' || payload[f] === '')
          errors.push(`'payload.${f}' is missing or blank`);
      if (!SEVERITIES.includes(payload.severity as string))
        errors.push(
          "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')",
        );
      if (errors.length) return invalidEvent(...errors);
      const dedup = typeof dedupIn === 'string' && dedupIn !== '' ? dedupIn : randomBytes(16).toString('hex');
      const existing = alerts.get(dedup);
      if (!existing || existing.status === 'resolved')
        alerts.set(dedup, {
          dedup_key: dedup,
          status: 'triggered',
          summary: payload.summary as string,
          source: payload.source as string,
          severity: payload.severity as string,
          payload,
          ...(event.links !== undefined && { links: event.links }),
          ...(event.images !== undefined && { images: event.images }),
          ...(event.client !== undefined && { client: event.client }),
          ...(event.client_url !== undefined && { client_url: event.client_url }),
        });
      return { status: 202, json: { status: 'success', message: 'Event processed', dedup_key: dedup } };
    }
    if (typeof dedupIn !== 'string' || dedupIn === '') return invalidEvent("'dedup_key' is missing or blank");
    // The API accepts the event even when no alert has the key (it is processed asynchronously).
    const alert = alerts.get(dedupIn);
    if (alert && alert.status !== 'resolved')
      alert.status = action === 'acknowledge' ? 'acknowledged' : 'resolved';
    return { status: 202, json: { status: 'success', message: 'Event processed', dedup_key: dedupIn } };
  };
  const server = (await standIn({
    'POST /v2/enqueue': enqueue,
    'POST /*': () => ({ status: 404, json: { status: 'Not Found', message: 'Not Found' } }),
  })) as PagerDutyStandIn;
  server.alerts = alerts;
  return server;
}

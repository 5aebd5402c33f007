// A stand-in for Microsoft Teams incoming webhooks: a connector webhook
// (/webhookb2/<group>@<tenant>/IncomingWebhook/<id>/<owner>/<secret>) that answers 200 "1" when it
// delivered the message, 400 with a text for a payload it cannot read, 200 with "Webhook message delivery
// failed…" when delivery behind it failed (throttling, a removed channel: connectors hide those errors
// in a 200), and 410 for a removed connector; and a Workflows (Power Automate) webhook
// (/workflows/<id>/triggers/manual/paths/invoke?…&sig=<secret>) that answers 202 with no body, and 401
// for a wrong signature.
import { standIn, type Answer, type RecordedRequest, type StandIn } from './stand-in.js';

const GROUP = '9e2c5d41-7a3b-4f06-b8d1-2c4e6f8a0b13@72f988bf-86f1-41af-91ab-2d7cd011db47';
const OWNER = '5b1f3c7e-0d2a-4e9b-a6c8-1f3e5d7b9a20';
export const TEAMS_WEBHOOK_SECRET = 'V2mZt8QxLr4nKb7WcYp1HdSg';
export const TEAMS_WEBHOOK_PATH = `/webhookb2/${GROUP}/IncomingWebhook/4c7a1e9f2b8d4a6c9e0f3b5d7a1c2e4f/${OWNER}/${TEAMS_WEBHOOK_SECRET}`;
/** A connector that was removed from its channel. */
export const TEAMS_REMOVED_WEBHOOK_PATH = `/webhookb2/${GROUP}/IncomingWebhook/0000000000000000000000000000dead/${OWNER}/RemovedConnectorSecret00`;
export const TEAMS_WORKFLOW_SIG = 'sQ3xV9kLm2Pz7RtY4wNc8HbJ1dFg6Ae5Uo0iKjXyTqM';
export const TEAMS_WORKFLOW_PATH = '/workflows/6e0a2f5c9b7d4e1a8c3f2b6d9e0a1c4f/triggers/manual/paths/invoke';
export const TEAMS_WORKFLOW_QUERY = `api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${TEAMS_WORKFLOW_SIG}`;

/** What connectors answer when the delivery behind them failed: a 200 with the error as text. */
export function deliveryFailed(code: number): Answer {
  return teamsText(
    200,
    `Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error ${code} with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=deKbLpP+G0Wm6qkaCa4CcA.0..`,
  );
}

export function teamsText(status: number, text: string): Answer {
  return { status, text, headers: { 'content-type': 'text/plain; charset=utf-8' } };
}

export interface TeamsStandIn extends StandIn {
  /** The payloads delivered, as posted. */
  delivered: unknown[];
}

function adaptiveProblem(body: Record<string, unknown>): string | undefined {
  const attachments = body.attachments;
  if (!Array.isArray(attachments) || attachments.length === 0) return 'Attachments are required.';
  for (const a of attachments as Record<string, unknown>[]) {
    if (a.contentType !== 'application/vnd.microsoft.card.adaptive')
      return 'Unsupported attachment content type.';
    const card = a.content as Record<string, unknown> | undefined;
    if (!card || card.type !== 'AdaptiveCard') return 'Attachment content is not an AdaptiveCard.';
  }
  return undefined;
}

/** Starts a Teams stand-in; `url` + TEAMS_WEBHOOK_PATH is a connector webhook URL. */
export async function teamsStandIn(): Promise<TeamsStandIn> {
  const delivered: unknown[] = [];
  const connector = (req: RecordedRequest): Answer => {
    if (req.path === TEAMS_REMOVED_WEBHOOK_PATH) return teamsText(410, '');
    if (req.path !== TEAMS_WEBHOOK_PATH) return teamsText(404, '');
    if (req.json === undefined || req.json === null || typeof req.json !== 'object')
      return teamsText(400, 'Bad payload received by generic incoming webhook.');
    const body = req.json as Record<string, unknown>;
    if (body.type === 'message') {
      const problem = adaptiveProblem(body);
      if (problem) return deliveryFailed(400);
    } else {
      if (body['@type'] !== undefined && body['@type'] !== 'MessageCard')
        return teamsText(400, 'Bad payload received by generic incoming webhook.');
      const has = (k: string): boolean => typeof body[k] === 'string' && body[k] !== '';
      if (!has('text') && !has('summary')) return teamsText(400, 'Summary or Text is required.');
    }
    delivered.push(body);
    return teamsText(200, '1');
  };
  const workflow = (req: RecordedRequest): Answer => {
    if (req.query.get('sig') !== TEAMS_WORKFLOW_SIG)
      return {
        status: 401,
        json: {
          error: {
            code: 'DirectApiInvalidAuthorizationSignature',
            message: 'The provided authorization signature is not valid for the request.',
          },
        },
      };
    const body = (req.json ?? {}) as Record<string, unknown>;
    const problem = body.type === 'message' ? adaptiveProblem(body) : 'Workflows accept Adaptive Cards only.';
    if (problem)
      return {
        status: 400,
        json: { error: { code: 'InvalidRequestContent', message: problem } },
      };
    delivered.push(body);
    return { status: 202, text: '' };
  };
  const server = (await standIn({
    [`POST ${TEAMS_WORKFLOW_PATH}`]: workflow,
    'POST /webhookb2/*': connector,
    'POST /*': () => teamsText(404, ''),
  })) as TeamsStandIn;
  server.delivered = delivered;
  return server;
}

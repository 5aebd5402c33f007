// A stand-in for Slack: incoming webhooks (https://api.slack.com/messaging/webhooks) under
// /services/T…/B…/<secret>, answering "ok" or a plain-text error code with the status Slack uses, and
// the Web API (https://api.slack.com/web) under /api, answering 200 {"ok": false, "error"} for
// application errors (bad tokens included) and 429 {"ok": false, "error": "ratelimited"} with
// Retry-After when rate limited.
import { randomInt } from 'node:crypto';
import { standIn, type Answer, type RecordedRequest, type StandIn } from './stand-in.js';

export const SLACK_TEAM_ID = 'T024BE7LD';
export const SLACK_BOT_TOKEN = 'xoxb-24601-0811627301-Zq3vR9bLkT5mW8nJ2pXcYd4F';
export const SLACK_WEBHOOK_PATH = `/services/${SLACK_TEAM_ID}/B07PQ4J2N9K/x7Vb2kQ9mLr4TzW1nHc8YpDs`;
/** The secret last part of the webhook path: it must never show either. */
export const SLACK_WEBHOOK_SECRET = 'x7Vb2kQ9mLr4TzW1nHc8YpDs';
/** A webhook whose channel was archived. */
export const SLACK_ARCHIVED_WEBHOOK_PATH = `/services/${SLACK_TEAM_ID}/B07PQ4J2N9L/ArchivedChannelHook0001`;

/** The channels the bot is in, by ID and name. */
export const SLACK_CHANNELS: Record<string, string> = {
  C0123SECOPS: 'secops-alerts',
  C0456INCDNT: 'incidents',
};
/** A channel that exists but the bot is not a member of. */
export const SLACK_OTHER_CHANNEL = 'C0789PRIVAT';

/** A Web API answer: always JSON with "ok". */
export function slackApi(
  body: Record<string, unknown>,
  status = 200,
  headers?: Record<string, string>,
): Answer {
  return { status, json: body, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } };
}

/** An incoming webhook's answer: a plain-text code. */
export function webhookAnswer(status: number, text: string): Answer {
  return { status, text, headers: { 'content-type': 'text/html' } };
}

export interface PostedMessage {
  channel: string;
  ts: string;
  text: string;
  blocks?: unknown[];
  thread_ts?: string;
  via: 'webhook' | 'chat.postMessage';
}

export interface SlackStandIn extends StandIn {
  messages: PostedMessage[];
}

let clock = 1_731_456_000;
function nextTs(): string {
  clock += 1;
  return `${clock}.${String(randomInt(0, 999_999)).padStart(6, '0')}`;
}

function validBlocks(blocks: unknown): boolean {
  return (
    blocks === undefined ||
    (Array.isArray(blocks) &&
      blocks.every(
        (b) => b !== null && typeof b === 'object' && typeof (b as { type?: unknown }).type === 'string',
      ))
  );
}

/** Starts a Slack stand-in; `url` + "/api" is the Web API base URL, `url` + SLACK_WEBHOOK_PATH the webhook. */
export async function slackStandIn(token = SLACK_BOT_TOKEN): Promise<SlackStandIn> {
  const messages: PostedMessage[] = [];

  const webhook = (req: RecordedRequest): Answer => {
    if (req.path === SLACK_ARCHIVED_WEBHOOK_PATH) return webhookAnswer(410, 'channel_is_archived');
    const [, , team, bot, secret] = req.path.split('/');
    const [, , , knownBot, knownSecret] = SLACK_WEBHOOK_PATH.split('/');
    if (team !== SLACK_TEAM_ID || bot !== knownBot) return webhookAnswer(404, 'no_service');
    if (secret !== knownSecret) return webhookAnswer(403, 'invalid_token');
    if (req.json === undefined || typeof req.json !== 'object' || req.json === null)
      return webhookAnswer(400, 'invalid_payload');
    const body = req.json as { text?: unknown; blocks?: unknown; thread_ts?: unknown };
    if (!validBlocks(body.blocks)) return webhookAnswer(400, 'invalid_blocks');
    if ((typeof body.text !== 'string' || body.text === '') && body.blocks === undefined)
      return webhookAnswer(400, 'no_text');
    messages.push({
      channel: 'C0123SECOPS',
      ts: nextTs(),
      text: typeof body.text === 'string' ? body.text : '',
      ...(body.blocks !== undefined && { blocks: body.blocks as unknown[] }),
      ...(typeof body.thread_ts === 'string' && { thread_ts: body.thread_ts }),
      via: 'webhook',
    });
    return webhookAnswer(200, 'ok');
  };

  /** The bearer token's check, as the Web API does it: 200 {"ok": false} when it fails. */
  const authError = (req: RecordedRequest): Answer | undefined => {
    const auth = req.headers.authorization;
    if (auth === undefined || auth === 'Bearer' || auth === 'Bearer ')
      return slackApi({ ok: false, error: 'not_authed' });
    if (auth !== `Bearer ${token}`) return slackApi({ ok: false, error: 'invalid_auth' });
    return undefined;
  };

  const server = (await standIn({
    'POST /services/:team/:bot/:secret': webhook,
    'POST /api/auth.test': (req) =>
      authError(req) ??
      slackApi({
        ok: true,
        url: 'https://acme-secops.slack.com/',
        team: 'Acme SecOps',
        user: 'osprey',
        team_id: SLACK_TEAM_ID,
        user_id: 'U061F7AUR',
        bot_id: 'B061F7AUR',
        is_enterprise_install: false,
      }),
    'POST /api/chat.postMessage': (req) => {
      const denied = authError(req);
      if (denied) return denied;
      if (!/^application\/json/.test(req.headers['content-type'] ?? ''))
        return slackApi({ ok: false, error: 'invalid_arguments' });
      if (req.json === undefined) return slackApi({ ok: false, error: 'invalid_json' });
      const body = req.json as Record<string, unknown>;
      const channelRef = typeof body.channel === 'string' ? body.channel : '';
      if (channelRef === '') return slackApi({ ok: false, error: 'channel_not_found' });
      const byName = Object.entries(SLACK_CHANNELS).find(([, name]) => `#${name}` === channelRef);
      const channel = byName ? byName[0] : channelRef;
      if (channel === SLACK_OTHER_CHANNEL) return slackApi({ ok: false, error: 'not_in_channel' });
      if (!(channel in SLACK_CHANNELS)) return slackApi({ ok: false, error: 'channel_not_found' });
      if (!validBlocks(body.blocks)) return slackApi({ ok: false, error: 'invalid_blocks' });
      if ((typeof body.text !== 'string' || body.text === '') && body.blocks === undefined)
        return slackApi({ ok: false, error: 'no_text' });
      const ts = nextTs();
      const message: Record<string, unknown> = {
        user: 'U061F7AUR',
        type: 'message',
        ts,
        bot_id: 'B061F7AUR',
        app_id: 'A061F7AUR',
        text: body.text,
        team: SLACK_TEAM_ID,
        bot_profile: { id: 'B061F7AUR', name: 'Osprey', app_id: 'A061F7AUR', deleted: false },
      };
      if (body.blocks !== undefined) message.blocks = body.blocks;
      if (typeof body.thread_ts === 'string') message.thread_ts = body.thread_ts;
      messages.push({
        channel,
        ts,
        text: typeof body.text === 'string' ? body.text : '',
        ...(body.blocks !== undefined && { blocks: body.blocks as unknown[] }),
        ...(typeof body.thread_ts === 'string' && { thread_ts: body.thread_ts }),
        via: 'chat.postMessage',
      });
      return slackApi({ ok: true, channel, ts, message });
    },
    // An API method that does not exist.
    'POST /api/*': () => slackApi({ ok: false, error: 'unknown_method' }, 404),
    'POST /*': () => ({
      status: 404,
      text: '<html><body>Not Found</body></html>',
      headers: { 'content-type': 'text/html' },
    }),
  })) as SlackStandIn;
  server.messages = messages;
  return server;
}

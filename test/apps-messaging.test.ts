// The Slack, Microsoft Teams and PagerDuty apps (apps/slack, apps/teams, apps/pagerduty) against
// stand-ins that answer as the vendors do: every action's request (method, path, headers, body) and
// output, the vendors' error answers mapped to the documented codes, retries of 429, connectivity
// tests, workflow steps, and the credentials (bot token, webhook URLs, routing key) kept out of every
// answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody } from './helpers/api.js';
import { timed, integrationTestApp, type Integration } from './helpers/integrations.js';
import {
  PD_RATE_LIMITED,
  PD_ROUTING_KEY,
  PD_UNKNOWN_ROUTING_KEY,
  pagerDutyStandIn,
  type PagerDutyStandIn,
} from './vendors/pagerduty.js';
import {
  SLACK_ARCHIVED_WEBHOOK_PATH,
  SLACK_BOT_TOKEN,
  SLACK_OTHER_CHANNEL,
  SLACK_WEBHOOK_PATH,
  SLACK_WEBHOOK_SECRET,
  slackApi,
  slackStandIn,
  webhookAnswer,
  type SlackStandIn,
} from './vendors/slack.js';
import {
  TEAMS_REMOVED_WEBHOOK_PATH,
  TEAMS_WEBHOOK_PATH,
  TEAMS_WEBHOOK_SECRET,
  TEAMS_WORKFLOW_PATH,
  TEAMS_WORKFLOW_QUERY,
  TEAMS_WORKFLOW_SIG,
  deliveryFailed,
  teamsStandIn,
  teamsText,
  type TeamsStandIn,
} from './vendors/teams.js';

const { api, createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow, assertNoLeak } =
  integrationTestApp();

describe('Slack app', () => {
  let slack: SlackStandIn;
  let main: Integration;
  let webhookOnly: Integration;
  let botOnly: Integration;
  let badToken: Integration;
  let badWebhook: Integration;
  let noRetry: Integration;
  let webhookUrl: string;
  const WRONG_TOKEN = 'xoxb-24601-0811627301-WrongTokenWrongToken00';

  before(async () => {
    slack = await slackStandIn();
    webhookUrl = `${slack.url}${SLACK_WEBHOOK_PATH}`;
    const base_url = `${slack.url}/api`;
    main = await createIntegration({
      name: 'slack_main',
      app: 'slack',
      configuration: { webhook_url: webhookUrl, bot_token: SLACK_BOT_TOKEN, base_url },
    });
    webhookOnly = await createIntegration({
      name: 'slack_webhook_only',
      app: 'slack',
      configuration: { webhook_url: webhookUrl, base_url },
    });
    botOnly = await createIntegration({
      name: 'slack_bot_only',
      app: 'slack',
      configuration: { bot_token: SLACK_BOT_TOKEN, base_url },
    });
    badToken = await createIntegration({
      name: 'slack_bad_token',
      app: 'slack',
      configuration: { bot_token: WRONG_TOKEN, base_url },
    });
    badWebhook = await createIntegration({
      name: 'slack_bad_webhook',
      app: 'slack',
      configuration: {
        webhook_url: webhookUrl.replace(SLACK_WEBHOOK_SECRET, 'WrongWebhookSecret000000'),
        base_url,
      },
    });
    noRetry = await createIntegration({
      name: 'slack_no_retry',
      app: 'slack',
      configuration: { webhook_url: webhookUrl, bot_token: SLACK_BOT_TOKEN, base_url },
      retries: 0,
    });
  });
  after(async () => {
    await slack.close();
  });

  it('stores the integration with the webhook URL and the bot token masked', () => {
    assert.equal(main.app, 'slack');
    assert.equal(main.configuration.webhook_url, '********');
    assert.equal(main.configuration.bot_token, '********');
    assert.equal(main.configuration.base_url, `${slack.url}/api`);
    assert.equal(webhookOnly.configuration.bot_token, undefined, 'a secret never set is absent');
  });

  it('send_webhook_message posts the text and blocks to the webhook URL, without a bearer token', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*Phishing* reported by alice' } }];
    const output = await succeeded(main.id, 'send_webhook_message', {
      text: 'Phishing reported by alice',
      blocks,
      thread_ts: '1731456000.000100',
    });
    assert.deepEqual(output, { ok: true });
    const req = slack.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, SLACK_WEBHOOK_PATH);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(req.headers.authorization, undefined, 'the bot token is not sent to the webhook');
    assert.deepEqual(req.json, {
      text: 'Phishing reported by alice',
      blocks,
      thread_ts: '1731456000.000100',
    });
    assert.equal(slack.messages.at(-1)!.via, 'webhook');

    await succeeded(webhookOnly.name, 'slack.send_webhook_message', { text: 'plain' });
    assert.deepEqual(slack.requests.at(-1)!.json, { text: 'plain' }, 'parameters left out are not sent');
  });

  it('post_message calls chat.postMessage with the bot token and returns the channel, ts and message', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: 'Host *web-01* isolated' } }];
    const output = (await succeeded(main.id, 'post_message', {
      channel: 'C0123SECOPS',
      text: 'Host web-01 isolated',
      blocks,
    })) as {
      channel: string;
      ts: string;
      message: { text: string; bot_id: string; ts: string; blocks: unknown };
    };
    const req = slack.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/api/chat.postMessage');
    assert.equal(req.headers.authorization, `Bearer ${SLACK_BOT_TOKEN}`);
    assert.equal(req.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(req.json, { channel: 'C0123SECOPS', text: 'Host web-01 isolated', blocks });
    assert.equal(output.channel, 'C0123SECOPS');
    assert.match(output.ts, /^\d+\.\d{6}$/);
    assert.equal(output.message.ts, output.ts);
    assert.equal(output.message.text, 'Host web-01 isolated');
    assert.equal(output.message.bot_id, 'B061F7AUR');
    assert.deepEqual(output.message.blocks, blocks);
    assert.deepEqual(Object.keys(output).sort(), ['channel', 'message', 'ts']);

    const reply = (await succeeded(botOnly.id, 'post_message', {
      channel: '#secops-alerts',
      text: 'Contained.',
      thread_ts: output.ts,
      reply_broadcast: true,
    })) as { channel: string; message: { thread_ts: string } };
    assert.deepEqual(slack.requests.at(-1)!.json, {
      channel: '#secops-alerts',
      text: 'Contained.',
      thread_ts: output.ts,
      reply_broadcast: true,
    });
    assert.equal(reply.channel, 'C0123SECOPS', 'Slack answers the channel ID for a name');
    assert.equal(reply.message.thread_ts, output.ts);
  });

  it('Slack\'s {"ok": false} answers fail with REMOTE_REJECTED and Slack\'s error code', async () => {
    let message = await failed(
      main.id,
      'post_message',
      { channel: SLACK_OTHER_CHANNEL, text: 'x' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /not_in_channel/);
    assert.match(message, /invite the bot/);
    message = await failed(main.id, 'post_message', { channel: 'C9999NOPE', text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /channel_not_found/);
  });

  it('a wrong bot token fails with AUTH_FAILED, naming invalid_auth and the bot_token', async () => {
    const before = slack.requests.length;
    const message = await failed(
      badToken.id,
      'post_message',
      { channel: 'C0123SECOPS', text: 'x' },
      'AUTH_FAILED',
    );
    assert.match(message, /invalid_auth/);
    assert.match(message, /bot_token/);
    assert.equal(slack.requests.length, before + 1, 'not retried');
    assert.equal(slack.requests.at(-1)!.headers.authorization, `Bearer ${WRONG_TOKEN}`);
    assert.ok(!message.includes(WRONG_TOKEN));
  });

  it('post_message without a bot token fails with AUTH_FAILED (not_authed); a webhook message without a webhook URL with INVALID_CONFIGURATION', async () => {
    const message = await failed(
      webhookOnly.id,
      'post_message',
      { channel: 'C0123SECOPS', text: 'x' },
      'AUTH_FAILED',
    );
    assert.match(message, /not_authed/);
    const before = slack.requests.length;
    const noUrl = await failed(botOnly.id, 'send_webhook_message', { text: 'x' }, 'INVALID_CONFIGURATION');
    assert.match(noUrl, /webhook_url is not set/);
    assert.equal(slack.requests.length, before, 'nothing was sent');
  });

  it('webhook errors map to codes and never show the webhook URL', async () => {
    let message = await failed(badWebhook.id, 'send_webhook_message', { text: 'x' }, 'AUTH_FAILED');
    assert.match(message, /invalid_token/);
    assert.equal(slack.requests.at(-1)!.path.split('/').at(-1), 'WrongWebhookSecret000000');
    assert.ok(!message.includes('WrongWebhookSecret000000'), message);
    assert.ok(!message.includes('/services/'), message);

    const unknown = await createIntegration({
      name: 'slack_unknown_webhook',
      app: 'slack',
      configuration: { webhook_url: `${slack.url}/services/T024BE7LD/B000000000/UnknownHookSecret00000` },
    });
    message = await failed(unknown.id, 'send_webhook_message', { text: 'x' }, 'NOT_FOUND');
    assert.match(message, /no_service/);
    assert.ok(!message.includes('UnknownHookSecret00000'), message);

    const archived = await createIntegration({
      name: 'slack_archived',
      app: 'slack',
      configuration: { webhook_url: `${slack.url}${SLACK_ARCHIVED_WEBHOOK_PATH}` },
    });
    message = await failed(archived.id, 'send_webhook_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /channel_is_archived/);
    assert.ok(!message.includes('ArchivedChannelHook0001'), message);

    slack.failNext(webhookAnswer(400, 'invalid_blocks'));
    message = await failed(main.id, 'send_webhook_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /invalid_blocks/);
    assert.ok(!message.includes(SLACK_WEBHOOK_SECRET), message);
  });

  it('a webhook that cannot be reached fails with CONNECTION_FAILED, naming the host but not the URL', async () => {
    const closed = await createIntegration({
      name: 'slack_unreachable',
      app: 'slack',
      configuration: { webhook_url: `http://127.0.0.1:1${SLACK_WEBHOOK_PATH}` },
    });
    const message = await failed(closed.id, 'send_webhook_message', { text: 'x' }, 'CONNECTION_FAILED');
    assert.match(message, /127\.0\.0\.1:1/);
    assert.ok(!message.includes(SLACK_WEBHOOK_SECRET) && !message.includes('/services/'), message);
  });

  it('an API method that does not exist fails with NOT_FOUND', async () => {
    const wrongBase = await createIntegration({
      name: 'slack_wrong_base',
      app: 'slack',
      configuration: { bot_token: SLACK_BOT_TOKEN, base_url: `${slack.url}/api/v2` },
    });
    const message = await failed(
      wrongBase.id,
      'post_message',
      { channel: 'C0123SECOPS', text: 'x' },
      'NOT_FOUND',
    );
    assert.match(message, /unknown_method/);
  });

  it('refuses invalid parameters before calling Slack, naming the field', async () => {
    const before = slack.requests.length;
    await invalidParams(main.id, 'post_message', { text: 'no channel' }, 'params.channel');
    await invalidParams(
      main.id,
      'post_message',
      { channel: 'C0123SECOPS', text: 'x', thread_ts: 'yesterday' },
      'params.thread_ts',
    );
    await invalidParams(
      main.id,
      'send_webhook_message',
      { text: 'x', channel: '#general' },
      'params.channel',
    );
    await invalidParams(main.id, 'send_webhook_message', { text: '' }, 'params.text');
    assert.equal(slack.requests.length, before);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    slack.failNext(slackApi({ ok: false, error: 'ratelimited' }, 429, { 'retry-after': '1' }));
    const before = slack.requests.length;
    const [output, ms] = await timed(() =>
      succeeded(main.id, 'post_message', { channel: 'C0456INCDNT', text: 'retry' }),
    );
    assert.equal((output as { channel: string }).channel, 'C0456INCDNT');
    assert.equal(slack.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    slack.failNext({
      ...webhookAnswer(429, 'rate_limited'),
      headers: { 'retry-after': '1', 'content-type': 'text/html' },
    });
    const [webhookOutput] = await timed(() => succeeded(main.id, 'send_webhook_message', { text: 'retry' }));
    assert.deepEqual(webhookOutput, { ok: true });
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    slack.failNext(slackApi({ ok: false, error: 'ratelimited' }, 429, { 'retry-after': '1' }));
    const before = slack.requests.length;
    const message = await failed(
      noRetry.id,
      'post_message',
      { channel: 'C0456INCDNT', text: 'x' },
      'RATE_LIMITED',
    );
    assert.match(message, /ratelimited/);
    assert.equal(slack.requests.length, before + 1);

    slack.failNext({
      ...webhookAnswer(429, 'rate_limited'),
      headers: { 'retry-after': '1', 'content-type': 'text/html' },
    });
    const webhookMessage = await failed(noRetry.id, 'send_webhook_message', { text: 'x' }, 'RATE_LIMITED');
    assert.ok(!webhookMessage.includes(SLACK_WEBHOOK_SECRET), webhookMessage);
  });

  it('a 500 on chat.postMessage (a POST) is not retried and fails with REMOTE_ERROR', async () => {
    slack.failNext({ status: 500, text: '', headers: { 'content-type': 'text/html' } });
    const before = slack.requests.length;
    await failed(main.id, 'post_message', { channel: 'C0456INCDNT', text: 'x' }, 'REMOTE_ERROR');
    assert.equal(slack.requests.length, before + 1);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    slack.failNext({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      text: '{"ok":true,"channel":"C0',
    });
    await failed(main.id, 'post_message', { channel: 'C0456INCDNT', text: 'x' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test runs auth.test: success with the right token, failure with a wrong one', async () => {
    const before = slack.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(slack.requests.length, before + 1);
    assert.equal(slack.requests.at(-1)!.path, '/api/auth.test');
    assert.equal(slack.requests.at(-1)!.headers.authorization, `Bearer ${SLACK_BOT_TOKEN}`);

    const bad = await connectivity(badToken.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /invalid_auth/);

    const output = await succeeded(main.id, 'auth_test', {});
    assert.deepEqual(output, {
      bot_token: true,
      team: 'Acme SecOps',
      team_id: 'T024BE7LD',
      user: 'osprey',
      user_id: 'U061F7AUR',
      bot_id: 'B061F7AUR',
      url: 'https://acme-secops.slack.com/',
    });
  });

  it('a webhook-only integration passes the connectivity test without posting anything', async () => {
    const before = slack.requests.length;
    const ok = await connectivity(webhookOnly.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(slack.requests.length, before, 'a webhook cannot be checked without posting');
    const empty = await createIntegration({ name: 'slack_empty', app: 'slack', configuration: {} });
    const bad = await connectivity(empty.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /neither a bot_token nor a webhook_url/);
  });

  it('runs as workflow steps: post an alert, then reply in its thread', async () => {
    const x = await runWorkflow(
      `name: Slack alert
trigger: { type: on_demand }
steps:
  - id: alert
    kind: action
    action: slack.post_message
    integration: slack_main
    with:
      channel: C0456INCDNT
      text: "Incident {{ $.event.case }}: {{ $.event.summary }}"
  - id: follow_up
    kind: action
    action: slack.post_message
    integration: slack_main
    with:
      channel: "{{ $.alert.channel }}"
      thread_ts: "{{ $.alert.ts }}"
      text: Containment started.
  - id: notify
    kind: action
    action: slack.send_webhook_message
    integration: slack_webhook_only
    with: { text: "New incident {{ $.event.case }}" }
  - id: done
    kind: exit
    output: { channel: "{{ $.alert.channel }}", thread: "{{ $.follow_up.message.thread_ts = $.alert.ts }}" }
`,
      { case: 'INC-7', summary: 'Ransomware note found on fs-02' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { channel: 'C0456INCDNT', thread: true });
    const [alert, followUp, notify] = slack.messages.slice(-3);
    assert.equal(alert!.text, 'Incident INC-7: Ransomware note found on fs-02');
    assert.equal(followUp!.thread_ts, alert!.ts);
    assert.equal(notify!.via, 'webhook');
    assert.equal(notify!.text, 'New incident INC-7');
  });

  it('a failing step carries the code', async () => {
    const x = await runWorkflow(
      `name: Slack failure
trigger: { type: on_demand }
steps:
  - id: alert
    kind: action
    action: slack.post_message
    integration: slack_bad_token
    on_error: continue
    with: { channel: C0456INCDNT, text: hello }
  - id: done
    kind: exit
    output: { code: "{{ $.alert.error.code }}" }
`,
      {},
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { code: 'AUTH_FAILED' });
  });

  it('never shows the bot token or the webhook URL in an answer', () => {
    assert.ok(slack.requests.some((r) => r.headers.authorization === `Bearer ${SLACK_BOT_TOKEN}`));
    assert.ok(slack.requests.some((r) => r.path === SLACK_WEBHOOK_PATH));
    assertNoLeak([
      SLACK_BOT_TOKEN,
      WRONG_TOKEN,
      webhookUrl,
      SLACK_WEBHOOK_PATH,
      SLACK_WEBHOOK_SECRET,
      'WrongWebhookSecret000000',
      'UnknownHookSecret00000',
      'ArchivedChannelHook0001',
    ]);
  });
});

describe('Microsoft Teams app', () => {
  let teams: TeamsStandIn;
  let main: Integration;
  let workflowHook: Integration;
  let noRetry: Integration;
  let webhookUrl: string;
  let workflowUrl: string;

  before(async () => {
    teams = await teamsStandIn();
    webhookUrl = `${teams.url}${TEAMS_WEBHOOK_PATH}`;
    workflowUrl = `${teams.url}${TEAMS_WORKFLOW_PATH}?${TEAMS_WORKFLOW_QUERY}`;
    main = await createIntegration({
      name: 'teams_main',
      app: 'teams',
      configuration: { webhook_url: webhookUrl },
    });
    workflowHook = await createIntegration({
      name: 'teams_workflow',
      app: 'teams',
      configuration: { webhook_url: workflowUrl },
    });
    noRetry = await createIntegration({
      name: 'teams_no_retry',
      app: 'teams',
      configuration: { webhook_url: webhookUrl },
      retries: 0,
    });
  });
  after(async () => {
    await teams.close();
  });

  it('stores the integration with the webhook URL masked, and refuses one without a URL', async () => {
    assert.equal(main.app, 'teams');
    assert.equal(main.configuration.webhook_url, '********');
    const res = await api({
      method: 'POST',
      url: '/v1/integrations',
      payload: { name: 'teams_none', app: 'teams', configuration: {} },
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.ok(
      (res.json() as ErrorBody).details.some((d) => d.field === 'configuration.webhook_url'),
      res.body,
    );
  });

  it('send_message posts a MessageCard with the title, colour, facts and links', async () => {
    const output = await succeeded(main.id, 'send_message', {
      text: 'Suspicious login for **alice** from 203.0.113.7',
      title: 'Identity alert',
      theme_color: '#D7000C',
      facts: { Severity: 'high', 'Risk score': 87, MFA: false },
      links: [{ title: 'Open case', url: 'https://osprey.example/cases/42' }],
    });
    assert.deepEqual(output, { ok: true });
    const req = teams.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, TEAMS_WEBHOOK_PATH);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(req.json, {
      '@type': 'MessageCard',
      '@context': 'https://schema.org/extensions',
      summary: 'Identity alert',
      themeColor: 'D7000C',
      title: 'Identity alert',
      text: 'Suspicious login for **alice** from 203.0.113.7',
      sections: [
        {
          facts: [
            { name: 'Severity', value: 'high' },
            { name: 'Risk score', value: '87' },
            { name: 'MFA', value: 'false' },
          ],
        },
      ],
      potentialAction: [
        {
          '@type': 'OpenUri',
          name: 'Open case',
          targets: [{ os: 'default', uri: 'https://osprey.example/cases/42' }],
        },
      ],
    });
    assert.deepEqual(teams.delivered.at(-1), req.json);
  });

  it('send_message with only a text sends a card without the optional parts', async () => {
    await succeeded(main.name, 'teams.send_message', { text: 'Backup finished' });
    assert.deepEqual(teams.requests.at(-1)!.json, {
      '@type': 'MessageCard',
      '@context': 'https://schema.org/extensions',
      summary: 'Backup finished',
      text: 'Backup finished',
    });
  });

  it('send_adaptive_card wraps the card in a message attachment', async () => {
    const card = {
      type: 'AdaptiveCard',
      version: '1.4',
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      body: [{ type: 'TextBlock', text: 'Malware quarantined on **web-01**', wrap: true }],
      actions: [{ type: 'Action.OpenUrl', title: 'Open', url: 'https://osprey.example/cases/42' }],
    };
    const output = await succeeded(main.id, 'send_adaptive_card', { card });
    assert.deepEqual(output, { ok: true });
    assert.deepEqual(teams.requests.at(-1)!.json, {
      type: 'message',
      attachments: [
        { contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card },
      ],
    });
  });

  it('a Workflows webhook takes Adaptive Cards (202, no body) and refuses a wrong signature with AUTH_FAILED', async () => {
    const card = { type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text: 'hi' }] };
    assert.deepEqual(await succeeded(workflowHook.id, 'send_adaptive_card', { card }), { ok: true });
    const req = teams.requests.at(-1)!;
    assert.equal(req.path, TEAMS_WORKFLOW_PATH);
    assert.equal(req.query.get('sig'), TEAMS_WORKFLOW_SIG);

    const message = await failed(workflowHook.id, 'send_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /Adaptive Cards only/);

    const wrongSig = await createIntegration({
      name: 'teams_wrong_sig',
      app: 'teams',
      configuration: {
        webhook_url: workflowUrl.replace(TEAMS_WORKFLOW_SIG, 'WrongSignatureWrongSignature0000'),
      },
    });
    const denied = await failed(wrongSig.id, 'send_adaptive_card', { card }, 'AUTH_FAILED');
    assert.match(denied, /signature is not valid/);
    assert.ok(!denied.includes('WrongSignatureWrongSignature0000'), denied);
  });

  it('a delivery failure hidden in a 200 fails with REMOTE_REJECTED and the text Teams answered', async () => {
    teams.failNext(deliveryFailed(429));
    const before = teams.requests.length;
    const message = await failed(main.id, 'send_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /Microsoft Teams endpoint returned HTTP error 429/);
    assert.equal(teams.requests.length, before + 1);
  });

  it('a payload Teams cannot read fails with REMOTE_REJECTED and its text', async () => {
    teams.failNext(teamsText(400, 'Summary or Text is required.'));
    const message = await failed(main.id, 'send_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /Summary or Text is required/);
    assert.ok(!message.includes(TEAMS_WEBHOOK_SECRET), message);
  });

  it('a removed connector (410) fails with REMOTE_REJECTED and an unknown webhook with NOT_FOUND, without the URL', async () => {
    const removed = await createIntegration({
      name: 'teams_removed',
      app: 'teams',
      configuration: { webhook_url: `${teams.url}${TEAMS_REMOVED_WEBHOOK_PATH}` },
    });
    let message = await failed(removed.id, 'send_message', { text: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /410/);
    assert.ok(!message.includes('RemovedConnectorSecret00') && !message.includes('webhookb2'), message);

    const unknown = await createIntegration({
      name: 'teams_unknown',
      app: 'teams',
      configuration: { webhook_url: webhookUrl.replace(TEAMS_WEBHOOK_SECRET, 'UnknownTeamsSecret000000') },
    });
    message = await failed(unknown.id, 'send_message', { text: 'x' }, 'NOT_FOUND');
    assert.ok(!message.includes('UnknownTeamsSecret000000') && !message.includes('webhookb2'), message);
  });

  it('refuses invalid parameters before calling Teams, naming the field', async () => {
    const before = teams.requests.length;
    await invalidParams(main.id, 'send_message', { title: 'no text' }, 'params.text');
    await invalidParams(main.id, 'send_message', { text: 'x', theme_color: 'red' }, 'params.theme_color');
    await invalidParams(
      main.id,
      'send_message',
      { text: 'x', links: [{ title: 'a', url: 'javascript:alert(1)' }] },
      'params.links.0.url',
    );
    await invalidParams(main.id, 'send_adaptive_card', { card: { type: 'MessageCard' } }, 'params.card.type');
    await invalidParams(main.id, 'send_adaptive_card', {}, 'params.card');
    assert.equal(teams.requests.length, before);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    teams.failNext({ ...teamsText(429, 'Too Many Requests'), headers: { 'retry-after': '1' } });
    const before = teams.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'send_message', { text: 'retry' }));
    assert.deepEqual(output, { ok: true });
    assert.equal(teams.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    teams.failNext({ ...teamsText(429, 'Too Many Requests'), headers: { 'retry-after': '1' } });
    const before = teams.requests.length;
    const message = await failed(noRetry.id, 'send_message', { text: 'x' }, 'RATE_LIMITED');
    assert.equal(teams.requests.length, before + 1);
    assert.ok(!message.includes(TEAMS_WEBHOOK_SECRET), message);
  });

  it('the connectivity test only checks the configuration: success without posting', async () => {
    const before = teams.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(teams.requests.length, before);
  });

  it('runs as a workflow step', async () => {
    const x = await runWorkflow(
      `name: Teams alert
trigger: { type: on_demand }
steps:
  - id: notify
    kind: action
    action: teams.send_message
    integration: teams_main
    with:
      title: "{{ $.event.title }}"
      text: "Host {{ $.event.host }} was isolated."
      theme_color: FFA500
      facts: { Host: "{{ $.event.host }}" }
  - id: done
    kind: exit
    output: "{{ $.notify }}"
`,
      { title: 'EDR', host: 'web-01' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { ok: true });
    const posted = teams.delivered.at(-1) as Record<string, unknown>;
    assert.equal(posted.title, 'EDR');
    assert.equal(posted.text, 'Host web-01 was isolated.');
    assert.equal(posted.themeColor, 'FFA500');
    assert.deepEqual(posted.sections, [{ facts: [{ name: 'Host', value: 'web-01' }] }]);
  });

  it('never shows a webhook URL in an answer', () => {
    assert.ok(teams.requests.some((r) => r.path === TEAMS_WEBHOOK_PATH));
    assertNoLeak([
      webhookUrl,
      TEAMS_WEBHOOK_PATH,
      TEAMS_WEBHOOK_SECRET,
      TEAMS_WORKFLOW_SIG,
      'WrongSignatureWrongSignature0000',
      'UnknownTeamsSecret000000',
      'RemovedConnectorSecret00',
    ]);
  });
});

describe('PagerDuty app', () => {
  let pd: PagerDutyStandIn;
  let main: Integration;
  let unknownKey: Integration;
  let shortKey: Integration;
  let noRetry: Integration;
  const SHORT_KEY = 'R0KZ7V2QW9XBT4LMN8HC3PJD';

  before(async () => {
    pd = await pagerDutyStandIn();
    const base_url = pd.url;
    main = await createIntegration({
      name: 'pd_main',
      app: 'pagerduty',
      configuration: { base_url, routing_key: PD_ROUTING_KEY },
    });
    unknownKey = await createIntegration({
      name: 'pd_unknown_key',
      app: 'pagerduty',
      configuration: { base_url, routing_key: PD_UNKNOWN_ROUTING_KEY },
    });
    shortKey = await createIntegration({
      name: 'pd_short_key',
      app: 'pagerduty',
      configuration: { base_url, routing_key: SHORT_KEY },
    });
    noRetry = await createIntegration({
      name: 'pd_no_retry',
      app: 'pagerduty',
      configuration: { base_url, routing_key: PD_ROUTING_KEY },
      retries: 0,
    });
  });
  after(async () => {
    await pd.close();
  });

  it('stores the integration with the routing key masked', () => {
    assert.equal(main.app, 'pagerduty');
    assert.equal(main.configuration.routing_key, '********');
    assert.equal(main.configuration.base_url, pd.url);
  });

  it('trigger posts the event with the routing key in the body and returns the dedup key', async () => {
    const output = await succeeded(main.id, 'trigger', {
      summary: 'Ransomware note found on fs-02',
      source: 'fs-02.corp.example',
      severity: 'critical',
      dedup_key: 'osprey-case-42',
      timestamp: '2024-11-12T10:00:00Z',
      component: 'smb',
      group: 'file-servers',
      class: 'ransomware',
      custom_details: { case: 42, indicators: ['203.0.113.7'] },
      links: [{ href: 'https://osprey.example/cases/42', text: 'Case 42' }],
      images: [{ src: 'https://osprey.example/graph.png', alt: 'graph' }],
      client_url: 'https://osprey.example/executions/1',
    });
    assert.deepEqual(output, { status: 'success', message: 'Event processed', dedup_key: 'osprey-case-42' });
    const req = pd.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/v2/enqueue');
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(req.headers.authorization, undefined);
    assert.deepEqual(req.json, {
      routing_key: PD_ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: 'osprey-case-42',
      payload: {
        summary: 'Ransomware note found on fs-02',
        source: 'fs-02.corp.example',
        severity: 'critical',
        timestamp: '2024-11-12T10:00:00Z',
        component: 'smb',
        group: 'file-servers',
        class: 'ransomware',
        custom_details: { case: 42, indicators: ['203.0.113.7'] },
      },
      links: [{ href: 'https://osprey.example/cases/42', text: 'Case 42' }],
      images: [{ src: 'https://osprey.example/graph.png', alt: 'graph' }],
      client: 'Osprey',
      client_url: 'https://osprey.example/executions/1',
    });
    assert.equal(pd.alerts.get('osprey-case-42')?.status, 'triggered');
  });

  it('trigger without a dedup key sends only what was given and returns the key PagerDuty made', async () => {
    const output = (await succeeded(main.name, 'pagerduty.trigger', {
      summary: 'Disk almost full',
      source: 'db-01',
      severity: 'warning',
    })) as { dedup_key: string };
    assert.match(output.dedup_key, /^[0-9a-f]{32}$/);
    assert.deepEqual(pd.requests.at(-1)!.json, {
      routing_key: PD_ROUTING_KEY,
      event_action: 'trigger',
      payload: { summary: 'Disk almost full', source: 'db-01', severity: 'warning' },
      client: 'Osprey',
    });
    assert.equal(pd.alerts.get(output.dedup_key)?.summary, 'Disk almost full');
  });

  it('acknowledge and resolve send the dedup key and act on the alert', async () => {
    await succeeded(main.id, 'trigger', {
      summary: 'Beaconing',
      source: 'ws-17',
      severity: 'error',
      dedup_key: 'beacon-ws-17',
    });
    const ack = await succeeded(main.id, 'acknowledge', { dedup_key: 'beacon-ws-17' });
    assert.deepEqual(ack, { status: 'success', message: 'Event processed', dedup_key: 'beacon-ws-17' });
    assert.deepEqual(pd.requests.at(-1)!.json, {
      routing_key: PD_ROUTING_KEY,
      event_action: 'acknowledge',
      dedup_key: 'beacon-ws-17',
    });
    assert.equal(pd.alerts.get('beacon-ws-17')?.status, 'acknowledged');
    await succeeded(main.id, 'resolve', { dedup_key: 'beacon-ws-17' });
    assert.deepEqual(pd.requests.at(-1)!.json, {
      routing_key: PD_ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'beacon-ws-17',
    });
    assert.equal(pd.alerts.get('beacon-ws-17')?.status, 'resolved');
  });

  it('refuses invalid parameters before calling PagerDuty, naming the field', async () => {
    const before = pd.requests.length;
    await invalidParams(
      main.id,
      'trigger',
      { summary: 'x', source: 'y', severity: 'high' },
      'params.severity',
    );
    await invalidParams(main.id, 'trigger', { summary: 'x', severity: 'info' }, 'params.source');
    await invalidParams(
      main.id,
      'trigger',
      { summary: 'x', source: 'y', severity: 'info', dedup_key: 'k'.repeat(256) },
      'params.dedup_key',
    );
    await invalidParams(main.id, 'acknowledge', {}, 'params.dedup_key');
    await invalidParams(main.id, 'resolve', { dedup_key: 'x', summary: 'not here' }, 'params.summary');
    assert.equal(pd.requests.length, before);
  });

  it("a rejected event fails with REMOTE_REJECTED and PagerDuty's errors, never the routing key", async () => {
    let message = await failed(
      unknownKey.id,
      'trigger',
      { summary: 'x', source: 'y', severity: 'info' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /Invalid routing key/);
    assert.equal((pd.requests.at(-1)!.json as { routing_key: string }).routing_key, PD_UNKNOWN_ROUTING_KEY);
    message = await failed(shortKey.id, 'resolve', { dedup_key: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /Length of 'routing_key' is incorrect/);
    assert.ok(!message.includes(SHORT_KEY) && !message.includes(PD_UNKNOWN_ROUTING_KEY), message);
  });

  it('a wrong Events API URL fails with NOT_FOUND', async () => {
    const wrong = await createIntegration({
      name: 'pd_wrong_url',
      app: 'pagerduty',
      configuration: { base_url: `${pd.url}/v2/enqueue`, routing_key: PD_ROUTING_KEY },
    });
    await failed(wrong.id, 'trigger', { summary: 'x', source: 'y', severity: 'info' }, 'NOT_FOUND');
    assert.equal(pd.requests.at(-1)!.path, '/v2/enqueue/v2/enqueue');
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    pd.failNext(PD_RATE_LIMITED);
    const before = pd.requests.length;
    const [output, ms] = await timed(() =>
      succeeded(main.id, 'trigger', {
        summary: 'retry',
        source: 'y',
        severity: 'info',
        dedup_key: 'retry-1',
      }),
    );
    assert.equal((output as { dedup_key: string }).dedup_key, 'retry-1');
    assert.equal(pd.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    pd.failNext(PD_RATE_LIMITED);
    const before = pd.requests.length;
    await failed(noRetry.id, 'resolve', { dedup_key: 'retry-1' }, 'RATE_LIMITED');
    assert.equal(pd.requests.length, before + 1);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    pd.failNext({
      status: 202,
      headers: { 'content-type': 'application/json' },
      text: '{"status":"success","message":',
    });
    await failed(main.id, 'acknowledge', { dedup_key: 'x' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test only checks the configuration: success without raising an alert', async () => {
    const before = pd.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(pd.requests.length, before);
  });

  it('runs as workflow steps: trigger, then resolve with the dedup key trigger returned', async () => {
    const x = await runWorkflow(
      `name: Page and resolve
trigger: { type: on_demand }
steps:
  - id: page
    kind: action
    action: pagerduty.trigger
    integration: pd_main
    with:
      summary: "{{ $.event.summary }}"
      source: "{{ $.event.host }}"
      severity: critical
      custom_details: { host: "{{ $.event.host }}" }
  - id: close
    kind: action
    action: pagerduty.resolve
    integration: pd_main
    with: { dedup_key: "{{ $.page.dedup_key }}" }
  - id: done
    kind: exit
    output: { key: "{{ $.page.dedup_key }}", closed: "{{ $.close.status }}" }
`,
      { summary: 'C2 traffic from ws-3', host: 'ws-3' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    const out = x.output as { key: string; closed: string };
    assert.equal(out.closed, 'success');
    const alert = pd.alerts.get(out.key);
    assert.equal(alert?.summary, 'C2 traffic from ws-3');
    assert.deepEqual(alert?.payload.custom_details, { host: 'ws-3' });
    assert.equal(alert?.status, 'resolved');
    assert.ok(!JSON.stringify(x.steps).includes(PD_ROUTING_KEY));
  });

  it('never shows the routing key in an answer', () => {
    assert.ok(
      pd.requests.some(
        (r) => (r.json as { routing_key?: string } | undefined)?.routing_key === PD_ROUTING_KEY,
      ),
    );
    assertNoLeak([PD_ROUTING_KEY, PD_UNKNOWN_ROUTING_KEY, SHORT_KEY]);
  });
});

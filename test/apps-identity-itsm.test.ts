// The Okta and ServiceNow apps (apps/okta, apps/servicenow) against stand-ins that answer as the vendors
// do: every action's requests (method, path, query, headers, body) and output, the multi-request actions
// (Okta's user lookup before a lifecycle change, ServiceNow's incident by number), the vendors' error
// answers mapped to the documented codes with the vendors' own words, retries of 429, connectivity
// tests, workflow steps, and the credentials kept out of every answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { integrationTestApp, timed, type Integration } from './helpers/integrations.js';
import {
  OKTA_ADMIN_LOGIN,
  OKTA_API_TOKEN,
  oktaRateLimited,
  oktaServerError,
  oktaStandIn,
  type OktaStandIn,
} from './vendors/okta.js';
import {
  SNOW_PASSWORD,
  SNOW_USERNAME,
  serviceNowStandIn,
  snowError,
  snowRateLimited,
  type ServiceNowStandIn,
} from './vendors/servicenow.js';

const { createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow, assertNoLeak } =
  integrationTestApp();

interface LifecycleResult {
  id: string;
  login: string;
  previous_status: string;
  status: string;
  changed: boolean;
}

describe('Okta app', () => {
  let okta: OktaStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;
  const WRONG_TOKEN = '00WrongWrongWrongWrongWrongWrongWrong00000';
  const sswsHeader = `SSWS ${OKTA_API_TOKEN}`;

  before(async () => {
    okta = await oktaStandIn();
    main = await createIntegration({
      name: 'okta_main',
      app: 'okta',
      configuration: { org_url: `${okta.url}/`, api_token: OKTA_API_TOKEN },
    });
    wrong = await createIntegration({
      name: 'okta_wrong',
      app: 'okta',
      configuration: { org_url: okta.url, api_token: WRONG_TOKEN },
    });
    noRetry = await createIntegration({
      name: 'okta_no_retry',
      app: 'okta',
      configuration: { org_url: okta.url, api_token: OKTA_API_TOKEN },
      retries: 0,
    });
  });
  after(async () => {
    await okta.close();
  });

  it('stores the integration with the API token masked', () => {
    assert.equal(main.app, 'okta');
    assert.equal(main.configuration.api_token, '********');
    assert.equal(main.configuration.org_url, `${okta.url}/`);
  });

  it('get_user finds a user by login (URL-encoded), id or shortname, with the SSWS token', async () => {
    const alice = okta.seedUser('alice.analyst@acme.example');
    const output = (await succeeded(main.id, 'get_user', { user: 'alice.analyst@acme.example' })) as {
      id: string;
      status: string;
      profile: { login: string; email: string; firstName: string };
      lastLogin: string;
    };
    const req = okta.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.url, '/api/v1/users/alice.analyst%40acme.example');
    assert.equal(req.headers.authorization, sswsHeader);
    assert.equal(req.headers.accept, 'application/json');
    assert.equal(req.body, '');
    assert.equal(output.id, alice.id);
    assert.equal(output.status, 'ACTIVE');
    assert.equal(output.profile.login, 'alice.analyst@acme.example');
    assert.equal(output.profile.firstName, 'Alice');
    assert.equal(typeof output.lastLogin, 'string');

    assert.equal(((await succeeded(main.id, 'get_user', { user: alice.id })) as { id: string }).id, alice.id);
    assert.equal(okta.requests.at(-1)!.path, `/api/v1/users/${alice.id}`);
    assert.equal(
      ((await succeeded(main.id, 'get_user', { user: 'alice.analyst' })) as { id: string }).id,
      alice.id,
    );
    const me = (await succeeded(main.id, 'get_user', { user: 'me' })) as { profile: { login: string } };
    assert.equal(me.profile.login, OKTA_ADMIN_LOGIN);
  });

  it("get_user of an unknown user fails with NOT_FOUND and Okta's errorSummary, without retrying", async () => {
    const before = okta.requests.length;
    const message = await failed(main.id, 'get_user', { user: 'nobody@acme.example' }, 'NOT_FOUND');
    assert.equal(okta.requests.length, before + 1, 'not retried');
    assert.match(message, /Okta: GET \/api\/v1\/users\/nobody%40acme\.example answered 404/);
    // The documented behaviour: the message has "the vendor's own error text".
    assert.match(message, /Not found: Resource not found: nobody@acme\.example \(User\)/);
  });

  it('suspend_user looks the user up, then suspends it by id; an already suspended user is left alone', async () => {
    const bob = okta.seedUser('bob.builder@acme.example', 'ACTIVE', 3);
    const before = okta.requests.length;
    const output = await succeeded(main.id, 'suspend_user', { user: 'bob.builder@acme.example' });
    assert.deepEqual(output, {
      id: bob.id,
      login: 'bob.builder@acme.example',
      previous_status: 'ACTIVE',
      status: 'SUSPENDED',
      changed: true,
    });
    const [lookup, post] = okta.requests.slice(before);
    assert.equal(okta.requests.length, before + 2);
    assert.equal(lookup!.method, 'GET');
    assert.equal(lookup!.path, '/api/v1/users/bob.builder%40acme.example');
    assert.equal(post!.method, 'POST');
    assert.equal(post!.url, `/api/v1/users/${bob.id}/lifecycle/suspend`);
    assert.equal(post!.headers.authorization, sswsHeader);
    assert.equal(post!.body, '');
    assert.equal(bob.status, 'SUSPENDED');

    const again = (await succeeded(main.id, 'suspend_user', { user: bob.id })) as LifecycleResult;
    assert.deepEqual(again, { ...(output as LifecycleResult), previous_status: 'SUSPENDED', changed: false });
    assert.equal(okta.requests.length, before + 3, 'only the lookup');
  });

  it('unsuspend_user returns a suspended user to ACTIVE; an active one is left alone', async () => {
    const carol = okta.seedUser('carol@acme.example', 'SUSPENDED');
    const before = okta.requests.length;
    const output = await succeeded(main.id, 'unsuspend_user', { user: 'carol@acme.example' });
    assert.deepEqual(output, {
      id: carol.id,
      login: 'carol@acme.example',
      previous_status: 'SUSPENDED',
      status: 'ACTIVE',
      changed: true,
    });
    const post = okta.requests.at(-1)!;
    assert.equal(okta.requests.length, before + 2);
    assert.equal(post.method, 'POST');
    assert.equal(post.url, `/api/v1/users/${carol.id}/lifecycle/unsuspend`);
    assert.equal(carol.status, 'ACTIVE');

    const again = (await succeeded(main.id, 'unsuspend_user', { user: carol.id })) as LifecycleResult;
    assert.equal(again.changed, false);
    assert.equal(okta.requests.length, before + 3);
  });

  it('deactivate_user deactivates the user, emailing the admins only when asked', async () => {
    const dave = okta.seedUser('dave@acme.example');
    const output = await succeeded(main.id, 'deactivate_user', { user: 'dave@acme.example' });
    assert.deepEqual(output, {
      id: dave.id,
      login: 'dave@acme.example',
      previous_status: 'ACTIVE',
      status: 'DEPROVISIONED',
      changed: true,
    });
    const post = okta.requests.at(-1)!;
    assert.equal(post.method, 'POST');
    assert.equal(post.path, `/api/v1/users/${dave.id}/lifecycle/deactivate`);
    assert.equal(post.query.get('sendEmail'), 'false');
    assert.equal(dave.status, 'DEPROVISIONED');

    const again = (await succeeded(main.id, 'deactivate_user', { user: dave.id })) as LifecycleResult;
    assert.equal(again.changed, false);
    assert.equal(okta.requests.at(-1)!.method, 'GET', 'no second deactivation');

    const erin = okta.seedUser('erin@acme.example', 'SUSPENDED');
    await succeeded(main.id, 'deactivate_user', { user: erin.id, send_email: true });
    assert.equal(okta.requests.at(-1)!.query.get('sendEmail'), 'true');
    assert.equal(erin.status, 'DEPROVISIONED');
  });

  it("a lifecycle change Okta refuses fails with REMOTE_REJECTED and Okta's reason", async () => {
    const gone = okta.seedUser('frank@acme.example', 'DEPROVISIONED');
    const before = okta.requests.length;
    const message = await failed(main.id, 'suspend_user', { user: gone.id }, 'REMOTE_REJECTED');
    assert.equal(okta.requests.length, before + 2, 'the lookup and the refused POST');
    assert.equal(gone.status, 'DEPROVISIONED');
    assert.match(message, /POST \/api\/v1\/users\/\w+\/lifecycle\/suspend answered 400/);
    assert.match(message, /Api validation failed: suspendUser/);
  });

  it('clear_sessions ends the sessions by id, revoking OAuth tokens only when asked', async () => {
    const gina = okta.seedUser('gina@acme.example', 'ACTIVE', 4);
    let output = await succeeded(main.id, 'clear_sessions', { user: 'gina@acme.example' });
    assert.deepEqual(output, { id: gina.id, login: 'gina@acme.example', oauth_tokens_revoked: false });
    const req = okta.requests.at(-1)!;
    assert.equal(req.method, 'DELETE');
    assert.equal(req.path, `/api/v1/users/${gina.id}/sessions`);
    assert.equal(req.query.get('oauthTokens'), 'false');
    assert.equal(req.headers.authorization, sswsHeader);
    assert.equal(gina.sessions, 0);
    assert.equal(gina.oauthTokens, 4);

    output = await succeeded(main.id, 'clear_sessions', { user: gina.id, revoke_oauth_tokens: true });
    assert.deepEqual(output, { id: gina.id, login: 'gina@acme.example', oauth_tokens_revoked: true });
    assert.equal(okta.requests.at(-1)!.query.get('oauthTokens'), 'true');
    assert.equal(gina.oauthTokens, 0);
  });

  it("list_user_groups returns the user's groups, as a list even when there is one", async () => {
    const hank = okta.seedUser('hank@acme.example');
    okta.group('Engineering').members.add(hank.id);
    okta.group('Domain Users').members.add(hank.id);
    const output = (await succeeded(main.id, 'list_user_groups', { user: 'hank@acme.example' })) as {
      id: string;
      type: string;
      profile: { name: string };
    }[];
    const req = okta.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, `/api/v1/users/${hank.id}/groups`);
    assert.deepEqual(
      output.map((g) => [g.profile.name, g.type]),
      [
        ['Everyone', 'BUILT_IN'],
        ['Engineering', 'OKTA_GROUP'],
        ['Domain Users', 'APP_GROUP'],
      ],
    );
    assert.equal(output[1]!.id, okta.group('Engineering').id);

    const ivy = okta.seedUser('ivy@acme.example');
    const one = await succeeded(main.id, 'list_user_groups', { user: ivy.id });
    assert.ok(Array.isArray(one), JSON.stringify(one));
    assert.deepEqual(
      (one as { profile: { name: string } }[]).map((g) => g.profile.name),
      ['Everyone'],
    );
  });

  it('add_user_to_group and remove_user_from_group PUT and DELETE the membership by ids', async () => {
    const jack = okta.seedUser('jack@acme.example');
    const quarantine = okta.group('Quarantine');
    const before = okta.requests.length;
    let output = await succeeded(main.id, 'add_user_to_group', {
      user: 'jack@acme.example',
      group_id: quarantine.id,
    });
    assert.deepEqual(output, { user_id: jack.id, login: 'jack@acme.example', group_id: quarantine.id });
    const [lookup, put] = okta.requests.slice(before);
    assert.equal(lookup!.path, '/api/v1/users/jack%40acme.example');
    assert.equal(put!.method, 'PUT');
    assert.equal(put!.path, `/api/v1/groups/${quarantine.id}/users/${jack.id}`);
    assert.equal(put!.headers.authorization, sswsHeader);
    assert.equal(put!.body, '');
    assert.ok(quarantine.members.has(jack.id));

    output = await succeeded(main.id, 'remove_user_from_group', { user: jack.id, group_id: quarantine.id });
    assert.deepEqual(output, { user_id: jack.id, login: 'jack@acme.example', group_id: quarantine.id });
    const del = okta.requests.at(-1)!;
    assert.equal(del.method, 'DELETE');
    assert.equal(del.path, `/api/v1/groups/${quarantine.id}/users/${jack.id}`);
    assert.ok(!quarantine.members.has(jack.id));
  });

  it("an unknown group fails with NOT_FOUND and Okta's errorSummary", async () => {
    const kim = okta.seedUser('kim@acme.example');
    const message = await failed(
      main.id,
      'add_user_to_group',
      { user: kim.id, group_id: '00gNOSUCHGROUP000000' },
      'NOT_FOUND',
    );
    assert.match(message, /PUT \/api\/v1\/groups\/00gNOSUCHGROUP000000\/users\/\w+ answered 404/);
    assert.match(message, /Not found: Resource not found: 00gNOSUCHGROUP000000 \(UserGroup\)/);
  });

  it('a lifecycle action on an unknown user fails with NOT_FOUND at the lookup, changing nothing', async () => {
    const before = okta.requests.length;
    const message = await failed(main.id, 'deactivate_user', { user: 'ghost@acme.example' }, 'NOT_FOUND');
    assert.equal(okta.requests.length, before + 1, 'only the lookup');
    assert.match(message, /GET \/api\/v1\/users\/ghost%40acme\.example answered 404/);
  });

  it("a wrong API token fails with AUTH_FAILED and Okta's message, without retrying or showing the token", async () => {
    const before = okta.requests.length;
    const message = await failed(wrong.id, 'get_user', { user: 'me' }, 'AUTH_FAILED');
    assert.equal(okta.requests.length, before + 1);
    assert.equal(okta.requests.at(-1)!.headers.authorization, `SSWS ${WRONG_TOKEN}`);
    assert.ok(!message.includes(WRONG_TOKEN));
    assert.match(message, /answered 401/);
    assert.match(message, /Invalid token provided/);
  });

  it('refuses invalid parameters before calling Okta, naming the field', async () => {
    const before = okta.requests.length;
    await invalidParams(main.id, 'get_user', {}, 'params.user');
    await invalidParams(main.id, 'get_user', { user: '..' }, 'params.user');
    await invalidParams(main.id, 'suspend_user', { user: 'two words' }, 'params.user');
    await invalidParams(main.id, 'add_user_to_group', { user: 'x' }, 'params.group_id');
    await invalidParams(main.id, 'add_user_to_group', { user: 'x', group_id: '../apps' }, 'params.group_id');
    await invalidParams(
      main.id,
      'clear_sessions',
      { user: 'x', revoke_oauth_tokens: 'yes' },
      'params.revoke_oauth_tokens',
    );
    await invalidParams(main.id, 'deactivate_user', { user: 'x', notify: true }, 'params.notify');
    assert.equal(okta.requests.length, before);
  });

  it('a 429 (X-Rate-Limit-Reset, no Retry-After, as Okta sends it) is retried and then succeeds', async () => {
    const liam = okta.seedUser('liam@acme.example');
    okta.failNext(oktaRateLimited(1));
    let before = okta.requests.length;
    const output = (await succeeded(main.id, 'get_user', { user: liam.id })) as { id: string };
    assert.equal(output.id, liam.id);
    assert.equal(okta.requests.length, before + 2, 'the 429, then the retry');

    // In a multi-request action: the lookup is rate limited and retried, then the POST follows.
    okta.failNext(oktaRateLimited(1));
    before = okta.requests.length;
    const suspended = (await succeeded(main.id, 'suspend_user', { user: liam.id })) as LifecycleResult;
    assert.equal(suspended.changed, true);
    assert.equal(liam.status, 'SUSPENDED');
    assert.equal(okta.requests.length, before + 3, 'the rate-limited lookup, its retry, then the POST');

    // The POST itself: a 429 was not processed, so it is retried too.
    okta.failNextOn('POST', oktaRateLimited(1));
    before = okta.requests.length;
    const restored = (await succeeded(main.id, 'unsuspend_user', { user: liam.id })) as LifecycleResult;
    assert.equal(restored.changed, true);
    assert.equal(liam.status, 'ACTIVE');
    const posts = okta.requests.slice(before).filter((r) => r.method === 'POST');
    assert.equal(posts.length, 2, 'the rate-limited POST, then its retry');
  });

  it('a 429 waits until X-Rate-Limit-Reset before retrying', async () => {
    const mia = okta.seedUser('mia@acme.example');
    const answer = oktaRateLimited(2);
    const reset = Number(answer.headers!['x-rate-limit-reset']) * 1000;
    okta.failNext(answer);
    const started = Date.now();
    const [, ms] = await timed(() => succeeded(main.id, 'get_user', { user: mia.id }));
    assert.ok(started + ms >= reset - 50, `retried ${reset - started - ms} ms before the reset`);
  });

  it('a 500 on a GET is retried at once (the X-Rate-Limit-Reset of every answer is no wait); with retries: 0 it fails with REMOTE_ERROR', async () => {
    const nick = okta.seedUser('nick@acme.example');
    okta.failNext(oktaServerError(500, 45));
    const before = okta.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_user', { user: nick.id }));
    assert.equal((output as { id: string }).id, nick.id);
    assert.equal(okta.requests.length, before + 2, 'the 500, then the retry');
    assert.ok(ms < 5000, `retried after the backoff, not at the rate limit's reset (${ms} ms)`);

    okta.failNext(oktaServerError(500, 45));
    const message = await failed(noRetry.id, 'get_user', { user: nick.id }, 'REMOTE_ERROR');
    assert.match(message, /answered 500: Internal Server Error/);
  });

  it('a 503 without Retry-After on the lifecycle POST is not retried (it may have been processed)', async () => {
    const owen = okta.seedUser('owen@acme.example');
    okta.failNextOn('POST', oktaServerError(503, 1));
    const before = okta.requests.length;
    const message = await failed(main.id, 'suspend_user', { user: owen.id }, 'REMOTE_ERROR');
    assert.equal(okta.requests.length, before + 2, 'the lookup and one POST');
    assert.match(message, /POST \/api\/v1\/users\/\w+\/lifecycle\/suspend answered 503/);
  });

  it("with retries: 0 a 429 fails with RATE_LIMITED and Okta's errorSummary", async () => {
    okta.failNext(oktaRateLimited(1));
    const before = okta.requests.length;
    const message = await failed(noRetry.id, 'get_user', { user: 'me' }, 'RATE_LIMITED');
    assert.equal(okta.requests.length, before + 1);
    assert.match(message, /answered 429/);
    assert.match(message, /API call exceeded rate limit due to too many requests/);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    okta.failNext({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"id":"00u1","status":"ACT',
    });
    await failed(main.id, 'get_user', { user: 'me' }, 'INVALID_RESPONSE');
    // In the lookup of a lifecycle action: nothing is changed.
    const nora = okta.seedUser('nora@acme.example');
    okta.failNext({ status: 200, headers: { 'content-type': 'application/json' }, text: '<html>' });
    await failed(main.id, 'suspend_user', { user: nora.id }, 'INVALID_RESPONSE');
    assert.equal(nora.status, 'ACTIVE');
  });

  it('the connectivity test reads /users/me: success with the right token, failure with a wrong one', async () => {
    const before = okta.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(okta.requests.length, before + 1);
    assert.equal(okta.requests.at(-1)!.method, 'GET');
    assert.equal(okta.requests.at(-1)!.path, '/api/v1/users/me');
    assert.equal(okta.requests.at(-1)!.headers.authorization, sswsHeader);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /401/);
    assert.ok(!bad.message.includes(WRONG_TOKEN));
  });

  it('runs as workflow steps: contain an account (suspend, end sessions, quarantine) and report its groups', async () => {
    const olga = okta.seedUser('olga@acme.example', 'ACTIVE', 2);
    const quarantine = okta.group('Quarantine');
    const x = await runWorkflow(
      `name: Contain Okta account
trigger: { type: on_demand }
steps:
  - id: user
    kind: action
    action: okta.get_user
    integration: okta_main
    with: { user: "{{ $.event.login }}" }
  - id: suspend
    kind: action
    action: okta.suspend_user
    integration: okta_main
    with: { user: "{{ $.user.id }}" }
  - id: sessions
    kind: action
    action: okta.clear_sessions
    integration: okta_main
    with: { user: "{{ $.user.id }}", revoke_oauth_tokens: true }
  - id: quarantine
    kind: action
    action: okta.add_user_to_group
    integration: okta_main
    with: { user: "{{ $.user.id }}", group_id: "{{ $.event.quarantine }}" }
  - id: groups
    kind: action
    action: okta.list_user_groups
    integration: okta_main
    with: { user: "{{ $.user.id }}" }
  - id: missing
    kind: action
    action: okta.suspend_user
    integration: okta_main
    on_error: continue
    with: { user: nobody-at-all }
  - id: done
    kind: exit
    output:
      status: "{{ $.suspend.status }}"
      groups: "{{ $.groups.profile.name }}"
      missing: "{{ $.missing.error.code }}"
`,
      { login: 'olga@acme.example', quarantine: quarantine.id },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, {
      status: 'SUSPENDED',
      groups: ['Everyone', 'Quarantine'],
      missing: 'NOT_FOUND',
    });
    assert.equal(olga.status, 'SUSPENDED');
    assert.equal(olga.sessions, 0);
    assert.equal(olga.oauthTokens, 0);
    assert.ok(quarantine.members.has(olga.id));
  });

  it('never shows the API token in an answer', () => {
    assert.ok(okta.requests.some((r) => r.headers.authorization === sswsHeader));
    assertNoLeak([OKTA_API_TOKEN, WRONG_TOKEN]);
  });
});

interface Incident {
  sys_id: string;
  number: string;
  short_description: string;
  description: string;
  state: string;
  urgency: string;
  impact: string;
  priority: string;
  category: string;
  assignment_group: { link: string; value: string } | string;
  caller_id: { link: string; value: string } | string;
  close_code: string;
  close_notes: string;
  work_notes: string;
  u_alert_id?: string;
}

describe('ServiceNow app', () => {
  let snow: ServiceNowStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;
  const WRONG_PASSWORD = 'Wr0ng!Passw0rd#Wrong';
  const basic = `Basic ${Buffer.from(`${SNOW_USERNAME}:${SNOW_PASSWORD}`).toString('base64')}`;

  before(async () => {
    snow = await serviceNowStandIn();
    main = await createIntegration({
      name: 'snow_main',
      app: 'servicenow',
      configuration: { instance_url: `${snow.url}/`, username: SNOW_USERNAME, password: SNOW_PASSWORD },
    });
    wrong = await createIntegration({
      name: 'snow_wrong',
      app: 'servicenow',
      configuration: { instance_url: snow.url, username: SNOW_USERNAME, password: WRONG_PASSWORD },
    });
    noRetry = await createIntegration({
      name: 'snow_no_retry',
      app: 'servicenow',
      configuration: { instance_url: snow.url, username: SNOW_USERNAME, password: SNOW_PASSWORD },
      retries: 0,
    });
  });
  after(async () => {
    await snow.close();
  });

  const soc = (): string => snow.sysId('sys_user_group', 'name', 'Security Operations');
  const alice = (): string => snow.sysId('sys_user', 'user_name', 'alice.analyst');

  it('stores the integration with the password masked', () => {
    assert.equal(main.app, 'servicenow');
    assert.equal(main.configuration.password, '********');
    assert.equal(main.configuration.username, SNOW_USERNAME);
  });

  it('create_incident posts the fields with basic authentication and returns the record', async () => {
    const output = (await succeeded(main.id, 'create_incident', {
      short_description: 'Phishing: invoice.zip from billing@evil.example',
      description: 'Reported by 3 users.\nSender IP 203.0.113.7',
      urgency: 1,
      impact: 2,
      assignment_group: soc(),
      caller_id: 'alice.analyst',
      category: 'security',
    })) as Incident;
    const req = snow.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/api/now/table/incident');
    assert.equal(req.headers.authorization, basic);
    assert.equal(req.headers.accept, 'application/json');
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(req.json, {
      short_description: 'Phishing: invoice.zip from billing@evil.example',
      description: 'Reported by 3 users.\nSender IP 203.0.113.7',
      urgency: '1',
      impact: '2',
      assignment_group: soc(),
      caller_id: 'alice.analyst',
      category: 'security',
    });
    const stored = snow.incident(output.number)!;
    assert.equal(output.sys_id, stored.sys_id);
    assert.match(output.number, /^INC\d{7}$/);
    assert.equal(output.state, '1');
    assert.equal(output.priority, '2');
    assert.equal(output.short_description, 'Phishing: invoice.zip from billing@evil.example');
    assert.deepEqual(output.assignment_group, {
      link: `${snow.url}/api/now/table/sys_user_group/${soc()}`,
      value: soc(),
    });
    assert.deepEqual(output.caller_id, {
      link: `${snow.url}/api/now/table/sys_user/${alice()}`,
      value: alice(),
    });
  });

  it('create_incident sends only the fields given, and merges further fields', async () => {
    await succeeded(main.id, 'create_incident', { short_description: 'Brute force on vpn-01' });
    assert.deepEqual(snow.requests.at(-1)!.json, { short_description: 'Brute force on vpn-01' });

    const output = (await succeeded(main.id, 'create_incident', {
      short_description: 'EDR: ransomware on fs-02',
      urgency: 1,
      fields: { contact_type: 'monitoring', u_alert_id: 'CS-4242', urgency: '2' },
    })) as Incident;
    assert.deepEqual(snow.requests.at(-1)!.json, {
      short_description: 'EDR: ransomware on fs-02',
      urgency: '2',
      contact_type: 'monitoring',
      u_alert_id: 'CS-4242',
    });
    assert.equal(output.u_alert_id, 'CS-4242');
  });

  it('get_incident reads by sys_id, or by number with a query', async () => {
    const inc = snow.seedIncident({ short_description: 'Read me', urgency: '2', impact: '2' });
    let output = (await succeeded(main.id, 'get_incident', { sys_id: inc.sys_id })) as Incident;
    let req = snow.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.url, `/api/now/table/incident/${inc.sys_id}`);
    assert.equal(req.headers.authorization, basic);
    assert.equal(output.number, inc.number);
    assert.equal(output.priority, '3');

    const before = snow.requests.length;
    output = (await succeeded(main.id, 'get_incident', {
      number: inc.number,
      display_value: true,
    })) as Incident;
    assert.equal(snow.requests.length, before + 1, 'one request');
    req = snow.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/api/now/table/incident');
    assert.deepEqual(Object.fromEntries(req.query), {
      sysparm_query: `number=${inc.number}`,
      sysparm_limit: '1',
      sysparm_display_value: 'true',
    });
    assert.equal(output.sys_id, inc.sys_id);
    assert.equal(output.state, 'New');
    assert.equal(output.urgency, '2 - Medium');
  });

  it('get_incident of an unknown incident fails with NOT_FOUND, by number or by sys_id', async () => {
    let message = await failed(main.id, 'get_incident', { number: 'INC9999999' }, 'NOT_FOUND');
    assert.match(message, /no incident INC9999999/);
    const before = snow.requests.length;
    message = await failed(main.id, 'get_incident', { sys_id: 'f'.repeat(32) }, 'NOT_FOUND');
    assert.equal(snow.requests.length, before + 1, 'not retried');
    assert.match(message, /ServiceNow: GET \/api\/now\/table\/incident\/f{32} answered 404/);
    assert.match(message, /No Record found/);
  });

  it('update_incident patches only the fields given and returns the record', async () => {
    const inc = snow.seedIncident({ short_description: 'Update me' });
    const output = (await succeeded(main.id, 'update_incident', {
      sys_id: inc.sys_id,
      state: 2,
      urgency: 1,
      impact: 1,
      assigned_to: alice(),
      fields: { subcategory: 'email' },
    })) as Incident & { assigned_to: { value: string } };
    const req = snow.requests.at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.url, `/api/now/table/incident/${inc.sys_id}`);
    assert.equal(req.headers.authorization, basic);
    assert.deepEqual(req.json, {
      urgency: '1',
      impact: '1',
      state: '2',
      assigned_to: alice(),
      subcategory: 'email',
    });
    assert.equal(output.state, '2');
    assert.equal(output.priority, '1');
    assert.equal(output.assigned_to.value, alice());
    assert.equal(output.short_description, 'Update me');
    assert.equal(inc.subcategory, 'email');
  });

  it('add_work_note patches work_notes; the note goes to the journal', async () => {
    const inc = snow.seedIncident({ short_description: 'Note me' });
    const output = (await succeeded(main.id, 'add_work_note', {
      sys_id: inc.sys_id,
      note: 'Blocked 203.0.113.7 at the firewall.',
    })) as Incident;
    const req = snow.requests.at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.url, `/api/now/table/incident/${inc.sys_id}`);
    assert.deepEqual(req.json, { work_notes: 'Blocked 203.0.113.7 at the firewall.' });
    assert.equal(output.sys_id, inc.sys_id);
    assert.equal(output.work_notes, '');
    assert.deepEqual(snow.journal.at(-1), {
      element_id: inc.sys_id,
      element: 'work_notes',
      value: 'Blocked 203.0.113.7 at the firewall.',
      sys_created_by: SNOW_USERNAME,
    });
  });

  it('resolve_incident sets state 6 with the resolution code and notes', async () => {
    const inc = snow.seedIncident({ short_description: 'Resolve me', state: '2' });
    const output = (await succeeded(main.id, 'resolve_incident', {
      sys_id: inc.sys_id,
      close_code: 'Solution provided',
      close_notes: 'Mailbox rule removed, password reset.',
    })) as Incident & { resolved_at: string };
    const req = snow.requests.at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.url, `/api/now/table/incident/${inc.sys_id}`);
    assert.deepEqual(req.json, {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'Mailbox rule removed, password reset.',
    });
    assert.equal(output.state, '6');
    assert.equal(output.close_code, 'Solution provided');
    assert.notEqual(output.resolved_at, '');
    assert.equal(inc.state, '6');
  });

  it("a data policy's 403 fails with REMOTE_REJECTED and its reason, not AUTH_FAILED", async () => {
    const inc = snow.seedIncident({ short_description: 'Resolve me badly', state: '2' });
    const message = await failed(
      main.id,
      'update_incident',
      { sys_id: inc.sys_id, state: 6 },
      'REMOTE_REJECTED',
    );
    assert.match(message, /Operation Failed/);
    assert.match(
      message,
      /Data Policy Exception: The following fields are mandatory: Resolution code, Resolution notes/,
    );
    assert.equal(inc.state, '2');
  });

  it('query_table sends the encoded query, fields, limit and offset and returns the records as a list', async () => {
    let output = (await succeeded(main.id, 'query_table', {
      table: 'sys_user',
      query: 'active=true^email=alice@acme.example',
      fields: ['sys_id', 'name', 'manager.email'],
      limit: 5,
    })) as Record<string, string>[];
    let req = snow.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/api/now/table/sys_user');
    assert.equal(req.headers.authorization, basic);
    assert.deepEqual(Object.fromEntries(req.query), {
      sysparm_query: 'active=true^email=alice@acme.example',
      sysparm_fields: 'sys_id,name,manager.email',
      sysparm_limit: '5',
    });
    assert.deepEqual(output, [
      { sys_id: alice(), name: 'Alice Analyst', 'manager.email': 'bob@acme.example' },
    ]);

    output = (await succeeded(main.id, 'query_table', {
      table: 'cmdb_ci_computer',
      query: 'nameSTARTSWITHvpn^ORnameSTARTSWITHfs^ORDERBYname',
      offset: 1,
      display_value: 'all',
    })) as Record<string, string>[];
    req = snow.requests.at(-1)!;
    assert.equal(req.query.get('sysparm_limit'), '100', 'the default limit');
    assert.equal(req.query.get('sysparm_offset'), '1');
    assert.equal(req.query.get('sysparm_display_value'), 'all');
    assert.deepEqual(
      output.map((r) => r.name),
      [{ display_value: 'vpn-01', value: 'vpn-01' }],
    );

    output = (await succeeded(main.id, 'query_table', {
      table: 'incident',
      query: 'number=INC0000000',
    })) as [];
    assert.deepEqual(output, []);
  });

  it("query_table of an unknown table fails with REMOTE_REJECTED and ServiceNow's message", async () => {
    const message = await failed(main.id, 'query_table', { table: 'u_nothing' }, 'REMOTE_REJECTED');
    assert.match(message, /answered 400: Invalid table u_nothing/);
  });

  it('a wrong password fails with AUTH_FAILED and "User Not Authenticated", without retrying', async () => {
    const before = snow.requests.length;
    const message = await failed(wrong.id, 'get_incident', { number: 'INC0010001' }, 'AUTH_FAILED');
    assert.equal(snow.requests.length, before + 1);
    assert.match(message, /answered 401: User Not Authenticated/);
    assert.ok(!message.includes(WRONG_PASSWORD));
    // A write too: the 403 template leaves a 401 to the runtime.
    await failed(wrong.id, 'add_work_note', { sys_id: 'a'.repeat(32), note: 'x' }, 'AUTH_FAILED');
  });

  it('refuses invalid parameters before calling ServiceNow, naming the field', async () => {
    const before = snow.requests.length;
    await invalidParams(main.id, 'create_incident', { description: 'x' }, 'params.short_description');
    await invalidParams(main.id, 'create_incident', { short_description: 'x', urgency: 4 }, 'params.urgency');
    await invalidParams(
      main.id,
      'create_incident',
      { short_description: 'x', urgency: '1' },
      'params.urgency',
    );
    await invalidParams(main.id, 'get_incident', { sys_id: '../sys_user' }, 'params.sys_id');
    await invalidParams(main.id, 'get_incident', { number: 'INC1^ORactive=true' }, 'params.number');
    await invalidParams(main.id, 'get_incident', {}, 'params.number');
    await invalidParams(main.id, 'get_incident', { number: 'INC0010001', sys_id: 'a'.repeat(32) }, 'params');
    await invalidParams(
      main.id,
      'resolve_incident',
      { sys_id: 'a'.repeat(32), close_code: 'x' },
      'params.close_notes',
    );
    await invalidParams(main.id, 'add_work_note', { sys_id: 'a'.repeat(32), note: '' }, 'params.note');
    await invalidParams(main.id, 'query_table', { table: 'sys_user/../incident' }, 'params.table');
    await invalidParams(main.id, 'query_table', { table: 'sys_user', limit: 0 }, 'params.limit');
    assert.equal(snow.requests.length, before);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds, for a GET and a PATCH', async () => {
    const inc = snow.seedIncident({ short_description: 'Rate limited' });
    snow.failNext(snowRateLimited(1));
    let before = snow.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_incident', { sys_id: inc.sys_id }));
    assert.equal((output as Incident).number, inc.number);
    assert.equal(snow.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    snow.failNext(snowRateLimited(1));
    before = snow.requests.length;
    const notes = snow.journal.length;
    await succeeded(main.id, 'add_work_note', { sys_id: inc.sys_id, note: 'after the wait' });
    assert.equal(snow.requests.length, before + 2);
    assert.equal(snow.journal.length, notes + 1, 'noted once');
  });

  it("with retries: 0 a 429 fails with RATE_LIMITED and ServiceNow's message", async () => {
    snow.failNext(snowRateLimited(1));
    const before = snow.requests.length;
    const message = await failed(noRetry.id, 'create_incident', { short_description: 'x' }, 'RATE_LIMITED');
    assert.equal(snow.requests.length, before + 1);
    assert.match(message, /answered 429: Too Many Requests/);
  });

  it('a 500 on a GET is retried at once (the X-RateLimit-Reset of every answer is no wait); with retries: 0 it fails with REMOTE_ERROR', async () => {
    const inc = snow.seedIncident({ short_description: 'Flaky' });
    snow.failNext(snowError(500, 'Internal server error', null));
    const before = snow.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_incident', { sys_id: inc.sys_id }));
    assert.equal((output as Incident).number, inc.number);
    assert.equal(snow.requests.length, before + 2, 'the 500, then the retry');
    assert.ok(ms < 5000, `retried after the backoff, not at the rule's reset (${ms} ms)`);

    snow.failNext(snowError(500, 'Internal server error', null));
    await failed(noRetry.id, 'get_incident', { sys_id: inc.sys_id }, 'REMOTE_ERROR');
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    snow.failNext({
      status: 200,
      headers: { 'content-type': 'application/json;charset=UTF-8' },
      text: '{"result":{"sys_id":"9d38',
    });
    await failed(main.id, 'get_incident', { sys_id: 'a'.repeat(32) }, 'INVALID_RESPONSE');
  });

  it('the connectivity test reads one incident: success with the right password, failure with a wrong one', async () => {
    const before = snow.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(snow.requests.length, before + 1);
    const req = snow.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/api/now/table/incident');
    assert.deepEqual(Object.fromEntries(req.query), { sysparm_limit: '1', sysparm_fields: 'sys_id' });
    assert.equal(req.headers.authorization, basic);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /401/);
    assert.ok(!bad.message.includes(WRONG_PASSWORD));
  });

  it('runs as workflow steps: open an incident for an alert, note the caller, and resolve it', async () => {
    const x = await runWorkflow(
      `name: ServiceNow incident
trigger: { type: on_demand }
steps:
  - id: caller
    kind: action
    action: servicenow.query_table
    integration: snow_main
    with:
      table: sys_user
      query: "email={{ $.event.reporter }}"
      fields: [sys_id, name]
      limit: 1
  - id: incident
    kind: action
    action: servicenow.create_incident
    integration: snow_main
    with:
      short_description: "{{ $.event.title }}"
      urgency: 1
      impact: 2
      caller_id: "{{ $.caller[0].sys_id }}"
  - id: note
    kind: action
    action: servicenow.add_work_note
    integration: snow_main
    with: { sys_id: "{{ $.incident.sys_id }}", note: "Reported by {{ $.caller[0].name }}." }
  - id: resolve
    kind: action
    action: servicenow.resolve_incident
    integration: snow_main
    with: { sys_id: "{{ $.incident.sys_id }}", close_code: Solution provided, close_notes: Contained by Osprey. }
  - id: read
    kind: action
    action: servicenow.get_incident
    integration: snow_main
    with: { number: "{{ $.incident.number }}", display_value: true }
  - id: done
    kind: exit
    output: { number: "{{ $.incident.number }}", state: "{{ $.read.state }}", caller: "{{ $.read.caller_id }}" }
`,
      { reporter: 'alice@acme.example', title: 'Phishing reported by Alice' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    const out = x.output as { number: string; state: string; caller: string };
    assert.equal(out.state, 'Resolved');
    assert.equal(out.caller, 'Alice Analyst');
    const inc = snow.incident(out.number)!;
    assert.equal(inc.short_description, 'Phishing reported by Alice');
    assert.equal(inc.close_notes, 'Contained by Osprey.');
    assert.equal(snow.journal.at(-1)!.value, 'Reported by Alice Analyst.');
  });

  it('never shows the password in an answer', () => {
    assert.ok(snow.requests.some((r) => r.headers.authorization === basic));
    assertNoLeak([SNOW_PASSWORD, WRONG_PASSWORD, basic.slice(6)]);
  });
});

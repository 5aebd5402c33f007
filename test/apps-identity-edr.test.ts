// The CrowdStrike Falcon and Microsoft Entra ID apps (apps/crowdstrike, apps/entra_id) against
// stand-ins that answer as the vendors do: every action's requests (method, path, query, body) and
// output, the OAuth2 client-credentials token (fetched once for many calls, fetched again when the API
// refuses an expired one, a wrong secret failing with AUTH_FAILED), the vendors' error answers mapped to
// the documented codes, retries of 429, connectivity tests, workflow steps, and the client secrets and
// access tokens kept out of every answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timed, integrationTestApp, type Integration } from './helpers/integrations.js';
import {
  FALCON_CLIENT_ID,
  FALCON_CLIENT_SECRET,
  HOSTS,
  falconError,
  falconRateLimited,
  falconStandIn,
  type FalconHost,
  type FalconStandIn,
} from './vendors/crowdstrike.js';
import {
  ENTRA_CLIENT_ID,
  ENTRA_CLIENT_SECRET,
  ENTRA_TENANT_ID,
  FINANCE_GROUP,
  GRAPH_SCOPE,
  QUARANTINE_GROUP,
  USERS,
  entraStandIn,
  graphError,
  graphThrottled,
  type EntraStandIn,
  type EntraUser,
} from './vendors/entra-id.js';
import type { RecordedRequest } from './vendors/stand-in.js';

const { createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow, assertNoLeak } =
  integrationTestApp();

/** The bearer token a request carried. */
function bearer(req: RecordedRequest): string | undefined {
  return /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
}

describe('CrowdStrike Falcon app', () => {
  let cs: FalconStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;
  const WRONG_SECRET = 'Wr0ngSecretWr0ngSecretWr0ngSecretWr0ng00';
  const [WS, WEB, MAC] = HOSTS as [FalconHost, FalconHost, FalconHost];
  const UNKNOWN_AID = 'ffffffffffffffffffffffffffffffff';
  /** The seeded alerts' composite IDs: credential dumping (90, new), PowerShell (50), web shell (70, new). */
  let alertIds: [string, string, string];
  /** The requests to the API, without the token requests. */
  const apiRequests = (): RecordedRequest[] => cs.requests.filter((r) => r.path !== '/oauth2/token');
  const configuration = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    base_url: cs.url,
    client_id: FALCON_CLIENT_ID,
    client_secret: FALCON_CLIENT_SECRET,
    ...overrides,
  });

  before(async () => {
    cs = await falconStandIn();
    alertIds = [...cs.alerts.keys()] as [string, string, string];
    main = await createIntegration({
      name: 'falcon_main',
      app: 'crowdstrike',
      configuration: configuration({ base_url: `${cs.url}/` }),
    });
    wrong = await createIntegration({
      name: 'falcon_wrong',
      app: 'crowdstrike',
      configuration: configuration({ client_secret: WRONG_SECRET }),
    });
    noRetry = await createIntegration({
      name: 'falcon_no_retry',
      app: 'crowdstrike',
      configuration: configuration(),
      retries: 0,
    });
  });
  after(async () => {
    await cs.close();
  });

  it('stores the integration with the client secret masked', () => {
    assert.equal(main.app, 'crowdstrike');
    assert.equal(main.configuration.client_secret, '********');
    assert.equal(main.configuration.client_id, FALCON_CLIENT_ID);
  });

  it('search_hosts gets a token with the client credentials in the form body, then sends the FQL query with it', async () => {
    const before = cs.requests.length;
    const output = await succeeded(main.id, 'search_hosts', {
      filter: "hostname:'WS-FIN-0042'",
      limit: 10,
      sort: 'hostname.asc',
    });
    assert.deepEqual(output, [WS.device_id]);
    const [token, req] = cs.requests.slice(before);
    assert.equal(cs.requests.length, before + 2, 'the token, then the query');
    assert.equal(token!.method, 'POST');
    assert.equal(token!.path, '/oauth2/token');
    assert.match(token!.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.equal(token!.headers.authorization, undefined, 'client_auth body: no Basic header');
    const form = new URLSearchParams(token!.body);
    assert.equal(form.get('client_id'), FALCON_CLIENT_ID);
    assert.equal(form.get('client_secret'), FALCON_CLIENT_SECRET);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(req!.method, 'GET');
    assert.equal(req!.path, '/devices/queries/devices/v1');
    assert.equal(req!.query.get('filter'), "hostname:'WS-FIN-0042'");
    assert.equal(req!.query.get('limit'), '10');
    assert.equal(req!.query.get('sort'), 'hostname.asc');
    assert.equal(req!.query.get('offset'), null);
    assert.equal(bearer(req!), cs.issuedTokens.at(-1));
  });

  it('search_hosts without a filter lists every host; a compound filter narrows it; a bad one is rejected', async () => {
    let output = await succeeded(main.id, 'search_hosts', {});
    let req = apiRequests().at(-1)!;
    assert.deepEqual([...req.query.keys()], ['limit']);
    assert.equal(req.query.get('limit'), '100');
    assert.deepEqual(output, [WS.device_id, WEB.device_id, MAC.device_id]);

    output = await succeeded(main.id, 'search_hosts', {
      filter: "platform_name:'Windows'+status:'normal'",
      offset: 0,
    });
    req = apiRequests().at(-1)!;
    assert.equal(req.query.get('offset'), '0');
    assert.deepEqual(output, [WS.device_id]);

    output = await succeeded(main.id, 'search_hosts', { filter: "hostname:'no-such-host'" });
    assert.deepEqual(output, []);

    const message = await failed(main.id, 'search_hosts', { filter: 'hostname=WS' }, 'REMOTE_REJECTED');
    assert.match(message, /GET \/devices\/queries\/devices\/v1 answered 400: Invalid filter/);
  });

  it('get_hosts sends every ID as its own ids parameter and returns the hosts', async () => {
    const output = (await succeeded(main.id, 'get_hosts', { ids: [WS.device_id, WEB.device_id] })) as Record<
      string,
      unknown
    >[];
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/devices/entities/devices/v2');
    assert.deepEqual(req.query.getAll('ids'), [WS.device_id, WEB.device_id]);
    assert.deepEqual(output, [cs.hosts.get(WS.device_id), cs.hosts.get(WEB.device_id)]);
    assert.equal(output[0]!.hostname, 'WS-FIN-0042');
    assert.equal(output[0]!.status, 'normal');
    assert.equal(output[1]!.platform_name, 'Linux');

    const one = (await succeeded(main.id, 'get_hosts', { ids: [MAC.device_id] })) as { hostname: string }[];
    assert.deepEqual(apiRequests().at(-1)!.query.getAll('ids'), [MAC.device_id]);
    assert.deepEqual(
      one.map((h) => h.hostname),
      ['MBP-JDOE'],
    );
  });

  it('get_hosts leaves out IDs Falcon does not know, and fails with NOT_FOUND when it knows none', async () => {
    const output = (await succeeded(main.id, 'get_hosts', { ids: [UNKNOWN_AID, WEB.device_id] })) as {
      device_id: string;
    }[];
    assert.deepEqual(
      output.map((h) => h.device_id),
      [WEB.device_id],
    );
    const before = cs.requests.length;
    const message = await failed(main.id, 'get_hosts', { ids: [UNKNOWN_AID] }, 'NOT_FOUND');
    assert.match(message, new RegExp(`CrowdStrike Falcon: GET /devices/entities/devices/v2 answered 404`));
    assert.match(message, new RegExp(`Device not found: ${UNKNOWN_AID}`));
    assert.equal(cs.requests.length, before + 1, 'not retried');
  });

  it('contain_host posts the IDs with action_name=contain and returns the hosts affected', async () => {
    const output = await succeeded(main.id, 'contain_host', { ids: [WS.device_id] });
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/devices/entities/devices-actions/v2');
    assert.deepEqual([...req.query.entries()], [['action_name', 'contain']]);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.equal(bearer(req), bearer(apiRequests().at(-2)!), 'the cached token');
    assert.deepEqual(req.json, { ids: [WS.device_id] });
    assert.deepEqual(output, [{ id: WS.device_id, path: '/devices/entities/devices-actions/v2' }]);
    assert.equal(cs.hosts.get(WS.device_id)!.status, 'containment_pending');
    const [host] = (await succeeded(main.id, 'get_hosts', { ids: [WS.device_id] })) as { status: string }[];
    assert.equal(host!.status, 'containment_pending');
  });

  it('lift_containment posts the IDs with action_name=lift_containment', async () => {
    const output = await succeeded(main.id, 'lift_containment', { ids: [MAC.device_id, WEB.device_id] });
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/devices/entities/devices-actions/v2');
    assert.equal(req.query.get('action_name'), 'lift_containment');
    assert.deepEqual(req.json, { ids: [MAC.device_id, WEB.device_id] });
    assert.deepEqual(
      (output as { id: string }[]).map((r) => r.id),
      [MAC.device_id, WEB.device_id],
    );
    assert.equal(cs.hosts.get(MAC.device_id)!.status, 'lift_containment_pending');
  });

  it('containing a host Falcon does not know fails with REMOTE_REJECTED naming it', async () => {
    const message = await failed(main.id, 'contain_host', { ids: [UNKNOWN_AID] }, 'REMOTE_REJECTED');
    assert.match(message, /POST \/devices\/entities\/devices-actions\/v2 answered 400/);
    assert.match(message, new RegExp(`Could not find the host\\(s\\) ${UNKNOWN_AID}`));
  });

  it('search_alerts queries the Alerts API v2 and returns composite IDs', async () => {
    let output = await succeeded(main.id, 'search_alerts', {
      filter: "status:'new'+severity:>=70",
      sort: 'severity.desc',
      limit: 50,
    });
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/alerts/queries/alerts/v2');
    assert.equal(req.query.get('filter'), "status:'new'+severity:>=70");
    assert.equal(req.query.get('sort'), 'severity.desc');
    assert.equal(req.query.get('limit'), '50');
    assert.deepEqual(output, [alertIds[0], alertIds[2]]);

    output = await succeeded(main.id, 'search_alerts', { filter: "device.hostname:'WS-FIN-0042'" });
    assert.deepEqual(output, [alertIds[0], alertIds[1]]);
  });

  it('get_alerts posts the composite IDs and returns the alerts; unknown ones fail with NOT_FOUND', async () => {
    const output = (await succeeded(main.id, 'get_alerts', { composite_ids: [alertIds[0]] })) as Record<
      string,
      unknown
    >[];
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/alerts/entities/alerts/v2');
    assert.deepEqual(req.json, { composite_ids: [alertIds[0]] });
    assert.equal(output.length, 1);
    const alert = output[0]!;
    assert.equal(alert.composite_id, alertIds[0]);
    assert.equal(alert.severity_name, 'Critical');
    assert.equal(alert.technique, 'OS Credential Dumping');
    assert.equal((alert.device as { hostname: string }).hostname, 'WS-FIN-0042');
    assert.equal(alert.comments, undefined);

    const two = (await succeeded(main.id, 'get_alerts', {
      composite_ids: [alertIds[2], alertIds[1]],
    })) as { composite_id: string }[];
    assert.deepEqual(
      two.map((a) => a.composite_id),
      [alertIds[2], alertIds[1]],
    );

    const missing = `${alertIds[0].slice(0, -5)}99999`;
    const message = await failed(main.id, 'get_alerts', { composite_ids: [missing] }, 'NOT_FOUND');
    assert.match(message, /Alert not found/);
  });

  it('update_alerts patches the Alerts API v3 with one action parameter per change', async () => {
    const output = await succeeded(main.id, 'update_alerts', {
      composite_ids: [alertIds[0], alertIds[1]],
      status: 'in_progress',
      comment: 'Host contained by Osprey.',
      add_tags: ['osprey', 'contained'],
      remove_tags: ['triage'],
      assign_to_name: 'analyst@acme.example',
    });
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.path, '/alerts/entities/alerts/v3');
    assert.deepEqual(req.json, {
      composite_ids: [alertIds[0], alertIds[1]],
      action_parameters: [
        { name: 'update_status', value: 'in_progress' },
        { name: 'append_comment', value: 'Host contained by Osprey.' },
        { name: 'remove_tag', value: 'triage' },
        { name: 'add_tag', value: 'osprey' },
        { name: 'add_tag', value: 'contained' },
        { name: 'assign_to_name', value: 'analyst@acme.example' },
      ],
    });
    assert.deepEqual(output, { composite_ids: [alertIds[0], alertIds[1]], resources_affected: 2 });
    for (const id of [alertIds[0], alertIds[1]]) {
      const alert = cs.alerts.get(id)!;
      assert.equal(alert.status, 'in_progress');
      assert.deepEqual(alert.tags, ['osprey', 'contained']);
      assert.deepEqual(alert.comments, ['Host contained by Osprey.']);
      assert.equal(alert.assigned_to_name, 'analyst@acme.example');
    }

    await succeeded(main.id, 'update_alerts', { composite_ids: [alertIds[0]], unassign: true });
    assert.deepEqual(apiRequests().at(-1)!.json, {
      composite_ids: [alertIds[0]],
      action_parameters: [{ name: 'unassign', value: '' }],
    });
    assert.equal(cs.alerts.get(alertIds[0])!.assigned_to_name, undefined);

    const missing = `${alertIds[0].slice(0, -5)}99999`;
    await failed(main.id, 'update_alerts', { composite_ids: [missing], status: 'closed' }, 'NOT_FOUND');
  });

  it('refuses invalid parameters before calling Falcon, naming the field', async () => {
    const before = cs.requests.length;
    await invalidParams(main.id, 'get_hosts', { ids: ['WS-FIN-0042'] }, 'params.ids.0');
    await invalidParams(main.id, 'get_hosts', {}, 'params.ids');
    await invalidParams(main.id, 'contain_host', { ids: [] }, 'params.ids');
    await invalidParams(
      main.id,
      'contain_host',
      { ids: Array.from({ length: 101 }, (_, i) => i.toString(16).padStart(32, '0')) },
      'params.ids',
    );
    await invalidParams(main.id, 'lift_containment', { ids: [WS.device_id, WS.device_id] }, 'params.ids');
    await invalidParams(main.id, 'search_hosts', { limit: 0 }, 'params.limit');
    await invalidParams(main.id, 'search_hosts', { sort: 'hostname; drop' }, 'params.sort');
    await invalidParams(main.id, 'search_hosts', { hostname: 'WS-FIN-0042' }, 'params.hostname');
    await invalidParams(
      main.id,
      'get_alerts',
      { composite_ids: ['../../devices'] },
      'params.composite_ids.0',
    );
    await invalidParams(main.id, 'update_alerts', { composite_ids: [alertIds[0]] }, 'params.status');
    await invalidParams(
      main.id,
      'update_alerts',
      { composite_ids: [alertIds[0]], status: 'resolved' },
      'params.status',
    );
    assert.equal(cs.requests.length, before);
  });

  it('fetches the OAuth2 token once for many calls', async () => {
    const fresh = await createIntegration({
      name: 'falcon_token_cache',
      app: 'crowdstrike',
      configuration: configuration(),
    });
    const tokensBefore = cs.tokenRequests.length;
    const before = cs.requests.length;
    await succeeded(fresh.id, 'search_hosts', {});
    await succeeded(fresh.id, 'get_hosts', { ids: [WEB.device_id] });
    await succeeded(fresh.id, 'search_alerts', {});
    await succeeded(fresh.id, 'get_alerts', { composite_ids: [alertIds[2]] });
    assert.equal(cs.tokenRequests.length, tokensBefore + 1, 'one token request');
    const calls = cs.requests.slice(before).filter((r) => r.path !== '/oauth2/token');
    assert.equal(calls.length, 4);
    const token = cs.issuedTokens.at(-1)!;
    for (const r of calls) assert.equal(bearer(r), token);
  });

  it('fetches a new token when Falcon refuses an expired one, and retries the call with it', async () => {
    await succeeded(main.id, 'search_hosts', { limit: 1 });
    const old = bearer(cs.requests.at(-1)!)!;
    cs.revokeTokens();
    const tokensBefore = cs.tokenRequests.length;
    const before = cs.requests.length;
    const output = (await succeeded(main.id, 'get_hosts', { ids: [WEB.device_id] })) as {
      hostname: string;
    }[];
    assert.equal(output[0]!.hostname, 'srv-web-01');
    assert.equal(cs.tokenRequests.length, tokensBefore + 1);
    const [refused, token, retried] = cs.requests.slice(before);
    assert.equal(cs.requests.length, before + 3);
    assert.equal(refused!.path, '/devices/entities/devices/v2');
    assert.equal(bearer(refused!), old);
    assert.equal(token!.path, '/oauth2/token');
    assert.equal(retried!.path, '/devices/entities/devices/v2');
    assert.equal(bearer(retried!), cs.issuedTokens.at(-1));
    assert.notEqual(bearer(retried!), old);

    await succeeded(main.id, 'search_alerts', {});
    assert.equal(cs.tokenRequests.length, tokensBefore + 1, 'the new token is cached');
  });

  it('a token refused again after the refresh fails with AUTH_FAILED, fetching the token only once more', async () => {
    cs.refuseTokens(true);
    try {
      const tokensBefore = cs.tokenRequests.length;
      const before = cs.requests.length;
      const message = await failed(main.id, 'search_hosts', {}, 'AUTH_FAILED');
      assert.match(
        message,
        /GET \/devices\/queries\/devices\/v1 answered 401: access denied, invalid bearer token/,
      );
      assert.equal(cs.tokenRequests.length, tokensBefore + 1);
      assert.deepEqual(
        cs.requests.slice(before).map((r) => r.path),
        ['/devices/queries/devices/v1', '/oauth2/token', '/devices/queries/devices/v1'],
      );
    } finally {
      cs.refuseTokens(false);
    }
  });

  it('a wrong client secret fails with AUTH_FAILED at the token endpoint, without calling the API', async () => {
    const before = cs.requests.length;
    const message = await failed(wrong.id, 'contain_host', { ids: [WEB.device_id] }, 'AUTH_FAILED');
    assert.match(message, /could not get an OAuth2 token from http:\/\/127\.0\.0\.1:\d+\/oauth2\/token/);
    assert.match(message, /403/);
    assert.ok(!message.includes(WRONG_SECRET));
    assert.ok(!message.includes(FALCON_CLIENT_SECRET));
    assert.deepEqual(
      cs.requests.slice(before).map((r) => r.path),
      ['/oauth2/token'],
      'only the token request: no retry, no API call',
    );
    assert.equal(new URLSearchParams(cs.requests.at(-1)!.body).get('client_secret'), WRONG_SECRET);
    assert.equal(cs.hosts.get(WEB.device_id)!.status, 'lift_containment_pending', 'nothing was contained');
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds, for a GET and a POST', async () => {
    cs.failNextApi(falconRateLimited(1));
    let before = apiRequests().length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_hosts', { ids: [WEB.device_id] }));
    assert.equal((output as { device_id: string }[])[0]!.device_id, WEB.device_id);
    assert.equal(apiRequests().length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    cs.failNextApi(falconRateLimited(1));
    before = apiRequests().length;
    await succeeded(main.id, 'contain_host', { ids: [WEB.device_id] });
    const posts = apiRequests().slice(before);
    assert.equal(posts.length, 2);
    assert.ok(posts.every((r) => r.method === 'POST' && r.path === '/devices/entities/devices-actions/v2'));
    assert.equal(cs.hosts.get(WEB.device_id)!.status, 'containment_pending');
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    await succeeded(noRetry.id, 'search_alerts', {}); // the token
    cs.failNextApi(falconRateLimited(1));
    const before = apiRequests().length;
    const message = await failed(noRetry.id, 'search_alerts', {}, 'RATE_LIMITED');
    assert.match(message, /GET \/alerts\/queries\/alerts\/v2 answered 429: API rate limit exceeded\./);
    assert.equal(apiRequests().length, before + 1);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    cs.failNextApi({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"meta":{"query_time":0.004},"resources":["4e1f3b2a',
    });
    const message = await failed(main.id, 'search_hosts', {}, 'INVALID_RESPONSE');
    assert.match(message, /not valid JSON/);
  });

  it('scrubs the client secret and the access token when Falcon echoes them', async () => {
    await succeeded(main.id, 'search_hosts', { limit: 1 });
    const token = bearer(cs.requests.at(-1)!)!;
    cs.failNextApi(
      falconError(
        400,
        `malformed request from ${FALCON_CLIENT_ID} (${FALCON_CLIENT_SECRET}) with token ${token}`,
      ),
    );
    const message = await failed(main.id, 'get_hosts', { ids: [WS.device_id] }, 'REMOTE_REJECTED');
    assert.ok(!message.includes(token), message);
    assert.ok(!message.includes(FALCON_CLIENT_SECRET), message);
    assert.match(message, /malformed request from [0-9a-f]{32} \(\[secret\]\) with token \[secret\]/);
  });

  it('the connectivity test gets a token and lists one host; a wrong secret fails it', async () => {
    const before = cs.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    const req = cs.requests.at(-1)!;
    assert.equal(cs.requests.length, before + 1, 'the cached token');
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/devices/queries/devices/v1');
    assert.equal(req.query.get('limit'), '1');
    assert.ok(bearer(req));

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /OAuth2 token/);
    assert.ok(!bad.message.includes(WRONG_SECRET));
  });

  it('runs as workflow steps: find a host by name, contain it and close its alerts', async () => {
    cs.hosts.get(WEB.device_id)!.status = 'normal';
    const x = await runWorkflow(
      `name: Contain a host
trigger: { type: on_demand }
steps:
  - id: find
    kind: action
    action: crowdstrike.search_hosts
    integration: falcon_main
    with: { filter: "hostname:'{{ $.event.hostname }}'", limit: 1 }
  - id: host
    kind: action
    action: crowdstrike.get_hosts
    integration: falcon_main
    with: { ids: "{{ $.find }}" }
  - id: contain
    kind: action
    action: crowdstrike.contain_host
    integration: falcon_main
    with: { ids: "{{ $.find }}" }
  - id: alerts
    kind: action
    action: crowdstrike.search_alerts
    integration: falcon_main
    with: { filter: "device.device_id:'{{ $.find[0] }}'+status:'new'" }
  - id: close
    kind: action
    action: crowdstrike.update_alerts
    integration: falcon_main
    with: { composite_ids: "{{ $.alerts }}", status: closed, comment: "Contained {{ $.host[0].hostname }}." }
  - id: done
    kind: exit
    output: { host: "{{ $.host[0].hostname }}", contained: "{{ $.contain[0].id }}", closed: "{{ $.close.resources_affected }}" }
`,
      { hostname: 'srv-web-01' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { host: 'srv-web-01', contained: WEB.device_id, closed: 1 });
    assert.equal(cs.hosts.get(WEB.device_id)!.status, 'containment_pending');
    const alert = cs.alerts.get(alertIds[2])!;
    assert.equal(alert.status, 'closed');
    assert.deepEqual(alert.comments, ['Contained srv-web-01.']);
  });

  it('never shows the client secret or an access token in an answer', () => {
    assert.ok(cs.issuedTokens.length >= 3);
    assertNoLeak([FALCON_CLIENT_SECRET, WRONG_SECRET, ...cs.issuedTokens]);
  });
});

describe('Microsoft Entra ID app', () => {
  let entra: EntraStandIn;
  let main: Integration;
  let wrong: Integration;
  let wrongTenant: Integration;
  let noRetry: Integration;
  const WRONG_SECRET = 'Wr0ng8Q~WrongWrongWrongWrongWrongWrong00';
  const [ALICE, BOB, GUEST, ADMIN] = USERS as [EntraUser, EntraUser, EntraUser, EntraUser];
  const TOKEN_PATH = `/${ENTRA_TENANT_ID}/oauth2/v2.0/token`;
  const DEFAULT_SELECT = [
    'id',
    'displayName',
    'userPrincipalName',
    'mail',
    'accountEnabled',
    'userType',
    'jobTitle',
    'department',
    'officeLocation',
    'mobilePhone',
    'createdDateTime',
    'lastPasswordChangeDateTime',
    'signInSessionsValidFromDateTime',
    'onPremisesSyncEnabled',
  ];
  const apiRequests = (): RecordedRequest[] => entra.requests.filter((r) => r.path.startsWith('/v1.0/'));
  const userPath = (ref: string): string => `/v1.0/users/${encodeURIComponent(ref)}`;
  const configuration = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
    tenant_id: ENTRA_TENANT_ID,
    client_id: ENTRA_CLIENT_ID,
    client_secret: ENTRA_CLIENT_SECRET,
    graph_url: entra.graphUrl,
    login_url: entra.url,
    ...overrides,
  });

  before(async () => {
    entra = await entraStandIn();
    main = await createIntegration({
      name: 'entra_main',
      app: 'entra_id',
      configuration: configuration({ graph_url: `${entra.graphUrl}/`, login_url: `${entra.url}/` }),
    });
    wrong = await createIntegration({
      name: 'entra_wrong',
      app: 'entra_id',
      configuration: configuration({ client_secret: WRONG_SECRET }),
    });
    wrongTenant = await createIntegration({
      name: 'entra_wrong_tenant',
      app: 'entra_id',
      configuration: configuration({ tenant_id: 'fabrikam.onmicrosoft.com' }),
    });
    noRetry = await createIntegration({
      name: 'entra_no_retry',
      app: 'entra_id',
      configuration: configuration(),
      retries: 0,
    });
  });
  after(async () => {
    await entra.close();
  });

  it('stores the integration with the client secret masked', () => {
    assert.equal(main.app, 'entra_id');
    assert.equal(main.configuration.client_secret, '********');
    assert.equal(main.configuration.tenant_id, ENTRA_TENANT_ID);
    assert.equal(main.configuration.client_id, ENTRA_CLIENT_ID);
  });

  it('get_user gets a Graph token for the tenant, then reads the user by UPN with the default properties', async () => {
    const before = entra.requests.length;
    const output = await succeeded(main.id, 'get_user', { user: ALICE.userPrincipalName });
    const [token, req] = entra.requests.slice(before);
    assert.equal(entra.requests.length, before + 2, 'the token, then the user');
    assert.equal(token!.method, 'POST');
    assert.equal(token!.path, TOKEN_PATH);
    assert.match(token!.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.equal(token!.headers.authorization, undefined, 'client_auth body: no Basic header');
    const form = new URLSearchParams(token!.body);
    assert.equal(form.get('grant_type'), 'client_credentials');
    assert.equal(form.get('client_id'), ENTRA_CLIENT_ID);
    assert.equal(form.get('client_secret'), ENTRA_CLIENT_SECRET);
    assert.equal(form.get('scope'), GRAPH_SCOPE);

    assert.equal(req!.method, 'GET');
    assert.equal(req!.path, '/v1.0/users/alice.nguyen%40contoso.com');
    assert.equal(req!.query.get('$select'), DEFAULT_SELECT.join(','));
    assert.equal(bearer(req!), entra.issuedTokens.at(-1));
    assert.deepEqual(output, {
      id: ALICE.id,
      displayName: 'Alice Nguyen',
      userPrincipalName: 'alice.nguyen@contoso.com',
      mail: 'alice.nguyen@contoso.com',
      accountEnabled: true,
      userType: 'Member',
      jobTitle: 'Financial Analyst',
      department: 'Finance',
      officeLocation: 'Berlin 4.12',
      mobilePhone: '+49 151 2345678',
      createdDateTime: '2021-02-15T09:30:00Z',
      lastPasswordChangeDateTime: '2024-06-01T08:00:00Z',
      signInSessionsValidFromDateTime: '2024-06-01T08:00:00Z',
      onPremisesSyncEnabled: null,
    });
  });

  it('get_user takes an object ID and the properties to select; a guest UPN is URL-encoded', async () => {
    let output = await succeeded(main.id, 'get_user', { user: BOB.id, select: ['id', 'displayName'] });
    let req = apiRequests().at(-1)!;
    assert.equal(req.path, `/v1.0/users/${BOB.id}`);
    assert.equal(req.query.get('$select'), 'id,displayName');
    assert.deepEqual(output, { id: BOB.id, displayName: 'Bob Martin' });

    output = await succeeded(main.id, 'get_user', { user: BOB.id, select: ['accountEnabled'] });
    assert.equal(apiRequests().at(-1)!.query.get('$select'), 'accountEnabled');
    assert.deepEqual(output, { accountEnabled: true });

    output = await succeeded(main.id, 'get_user', { user: GUEST.userPrincipalName });
    req = apiRequests().at(-1)!;
    assert.equal(req.path, '/v1.0/users/partner_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com');
    assert.equal((output as { userType: string }).userType, 'Guest');
    assert.equal((output as { id: string }).id, GUEST.id);
  });

  it("an unknown user fails with NOT_FOUND and Graph's message; an unknown property with REMOTE_REJECTED", async () => {
    const before = entra.requests.length;
    let message = await failed(main.id, 'get_user', { user: 'nobody@contoso.com' }, 'NOT_FOUND');
    assert.match(message, /Microsoft Entra ID: GET \/v1\.0\/users\/nobody%40contoso\.com answered 404/);
    assert.match(message, /Resource 'nobody@contoso\.com' does not exist/);
    assert.equal(entra.requests.length, before + 1, 'not retried');

    message = await failed(
      main.id,
      'get_user',
      { user: ALICE.id, select: ['id', 'shoeSize'] },
      'REMOTE_REJECTED',
    );
    assert.match(message, /Could not find a property named 'shoeSize' on type 'microsoft\.graph\.user'/);
  });

  it('disable_user patches accountEnabled false (Graph answers 204); enable_user sets it back', async () => {
    let output = await succeeded(main.id, 'disable_user', { user: ALICE.userPrincipalName });
    let req = apiRequests().at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.path, userPath(ALICE.userPrincipalName));
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(req.json, { accountEnabled: false });
    assert.deepEqual(output, { user: ALICE.userPrincipalName, accountEnabled: false });
    assert.equal(entra.users.get(ALICE.id)!.accountEnabled, false);

    output = await succeeded(main.id, 'enable_user', { user: ALICE.id });
    req = apiRequests().at(-1)!;
    assert.equal(req.method, 'PATCH');
    assert.equal(req.path, `/v1.0/users/${ALICE.id}`);
    assert.deepEqual(req.json, { accountEnabled: true });
    assert.deepEqual(output, { user: ALICE.id, accountEnabled: true });
    assert.equal(entra.users.get(ALICE.id)!.accountEnabled, true);

    await failed(main.id, 'disable_user', { user: 'nobody@contoso.com' }, 'NOT_FOUND');
  });

  it("disabling an administrator without the privilege fails with AUTH_FAILED and Graph's reason", async () => {
    const before = entra.requests.length;
    const message = await failed(main.id, 'disable_user', { user: ADMIN.userPrincipalName }, 'AUTH_FAILED');
    assert.match(message, /PATCH \/v1\.0\/users\/admin%40contoso\.onmicrosoft\.com answered 403/);
    assert.match(message, /Insufficient privileges to complete the operation\./);
    assert.equal(entra.requests.length, before + 1, 'no token refresh on a 403, no retry');
    assert.equal(entra.users.get(ADMIN.id)!.accountEnabled, true);
  });

  it("revoke_sessions posts revokeSignInSessions and returns Graph's answer", async () => {
    const output = await succeeded(main.id, 'revoke_sessions', { user: BOB.userPrincipalName });
    const req = apiRequests().at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `${userPath(BOB.userPrincipalName)}/revokeSignInSessions`);
    assert.equal(req.body, '');
    assert.deepEqual(output, { user: BOB.userPrincipalName, revoked: true });
    assert.equal(entra.users.get(BOB.id)!.signInSessionsValidFromDateTime, '2024-11-12T10:15:00Z');
  });

  it('list_group_members returns the members (all, or users only) with the properties selected', async () => {
    let output = (await succeeded(main.id, 'list_group_members', { group: FINANCE_GROUP })) as Record<
      string,
      unknown
    >[];
    let req = apiRequests().at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, `/v1.0/groups/${FINANCE_GROUP}/members`);
    assert.equal(req.query.get('$top'), '100');
    assert.equal(req.query.get('$select'), 'id,displayName,userPrincipalName,mail,accountEnabled');
    assert.deepEqual(
      output.map((m) => [m['@odata.type'], m.displayName]),
      [
        ['#microsoft.graph.user', 'Alice Nguyen'],
        ['#microsoft.graph.device', 'WS-FIN-0042'],
        ['#microsoft.graph.user', 'Bob Martin'],
      ],
    );
    assert.deepEqual(output[0], {
      '@odata.type': '#microsoft.graph.user',
      id: ALICE.id,
      displayName: 'Alice Nguyen',
      userPrincipalName: ALICE.userPrincipalName,
      mail: ALICE.mail,
      accountEnabled: true,
    });

    output = (await succeeded(main.id, 'list_group_members', {
      group: FINANCE_GROUP,
      users_only: true,
      top: 1,
      select: ['id'],
    })) as Record<string, unknown>[];
    req = apiRequests().at(-1)!;
    assert.equal(req.path, `/v1.0/groups/${FINANCE_GROUP}/members/microsoft.graph.user`);
    assert.equal(req.query.get('$top'), '1');
    assert.equal(req.query.get('$select'), 'id');
    assert.deepEqual(output, [{ '@odata.type': '#microsoft.graph.user', id: ALICE.id }]);

    assert.deepEqual(await succeeded(main.id, 'list_group_members', { group: QUARANTINE_GROUP }), []);

    const missing = '00000000-0000-4000-8000-000000000000';
    const message = await failed(main.id, 'list_group_members', { group: missing }, 'NOT_FOUND');
    assert.match(message, new RegExp(`Resource '${missing}' does not exist`));
  });

  it('add_user_to_group looks the user up, then posts a reference to it; adding again is no error', async () => {
    const before = apiRequests().length;
    let output = await succeeded(main.id, 'add_user_to_group', {
      group: QUARANTINE_GROUP,
      user: BOB.userPrincipalName,
    });
    const [lookup, add] = apiRequests().slice(before);
    assert.equal(apiRequests().length, before + 2);
    assert.equal(lookup!.method, 'GET');
    assert.equal(lookup!.path, userPath(BOB.userPrincipalName));
    assert.equal(lookup!.query.get('$select'), 'id');
    assert.equal(add!.method, 'POST');
    assert.equal(add!.path, `/v1.0/groups/${QUARANTINE_GROUP}/members/$ref`);
    assert.match(add!.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(add!.json, { '@odata.id': `${entra.graphUrl}/directoryObjects/${BOB.id}` });
    assert.equal(bearer(add!), bearer(lookup!));
    assert.deepEqual(output, { group: QUARANTINE_GROUP, user: BOB.id, added: true, already_member: false });
    assert.deepEqual(entra.groups.get(QUARANTINE_GROUP)!.members, [BOB.id]);

    output = await succeeded(main.id, 'add_user_to_group', { group: QUARANTINE_GROUP, user: BOB.id });
    assert.deepEqual(output, { group: QUARANTINE_GROUP, user: BOB.id, added: false, already_member: true });
    assert.deepEqual(entra.groups.get(QUARANTINE_GROUP)!.members, [BOB.id]);
  });

  it('add_user_to_group fails with NOT_FOUND for an unknown user or group, REMOTE_REJECTED for another refusal', async () => {
    let before = apiRequests().length;
    let message = await failed(
      main.id,
      'add_user_to_group',
      { group: QUARANTINE_GROUP, user: 'nobody@contoso.com' },
      'NOT_FOUND',
    );
    assert.match(message, /GET \/v1\.0\/users\/nobody%40contoso\.com answered 404/);
    assert.equal(apiRequests().length, before + 1, 'nothing posted');

    const missing = '00000000-0000-4000-8000-000000000000';
    message = await failed(main.id, 'add_user_to_group', { group: missing, user: ALICE.id }, 'NOT_FOUND');
    assert.match(message, new RegExp(`POST /v1\\.0/groups/${missing}/members/\\$ref answered 404`));

    entra.failNextApi({ status: 200, json: { id: ALICE.id } });
    entra.failNextApi(
      graphError(
        400,
        'Request_BadRequest',
        'Cannot Update a mail-enabled security groups and or distribution list.',
      ),
    );
    before = apiRequests().length;
    message = await failed(
      main.id,
      'add_user_to_group',
      { group: FINANCE_GROUP, user: ALICE.id },
      'REMOTE_REJECTED',
    );
    assert.equal(apiRequests().length, before + 2);
    assert.match(
      message,
      /Microsoft Entra ID: Microsoft Graph refused to add the user to the group \(400\): Cannot Update a mail-enabled security groups/,
    );
  });

  it('remove_user_from_group deletes the member reference; a user who is not a member fails with NOT_FOUND', async () => {
    const before = apiRequests().length;
    const output = await succeeded(main.id, 'remove_user_from_group', {
      group: QUARANTINE_GROUP,
      user: BOB.userPrincipalName,
    });
    const [lookup, remove] = apiRequests().slice(before);
    assert.equal(lookup!.method, 'GET');
    assert.equal(lookup!.path, userPath(BOB.userPrincipalName));
    assert.equal(remove!.method, 'DELETE');
    assert.equal(remove!.path, `/v1.0/groups/${QUARANTINE_GROUP}/members/${BOB.id}/$ref`);
    assert.deepEqual(output, { group: QUARANTINE_GROUP, user: BOB.id, removed: true });
    assert.deepEqual(entra.groups.get(QUARANTINE_GROUP)!.members, []);

    const message = await failed(
      main.id,
      'remove_user_from_group',
      { group: QUARANTINE_GROUP, user: BOB.id },
      'NOT_FOUND',
    );
    assert.match(message, /DELETE .*\/\$ref answered 404/);
  });

  it('refuses invalid parameters before calling Graph, naming the field', async () => {
    const before = entra.requests.length;
    await invalidParams(main.id, 'get_user', {}, 'params.user');
    await invalidParams(main.id, 'get_user', { user: 'alice' }, 'params.user');
    await invalidParams(main.id, 'get_user', { user: '../groups' }, 'params.user');
    await invalidParams(main.id, 'get_user', { user: 'a/b@contoso.com' }, 'params.user');
    await invalidParams(main.id, 'get_user', { user: ALICE.id, select: ['id,mail'] }, 'params.select.0');
    await invalidParams(main.id, 'disable_user', { user: ALICE.id, reason: 'phished' }, 'params.reason');
    await invalidParams(main.id, 'list_group_members', { group: 'Finance' }, 'params.group');
    await invalidParams(main.id, 'list_group_members', { group: FINANCE_GROUP, top: 1000 }, 'params.top');
    await invalidParams(main.id, 'add_user_to_group', { user: ALICE.id }, 'params.group');
    await invalidParams(main.id, 'remove_user_from_group', { group: FINANCE_GROUP }, 'params.user');
    assert.equal(entra.requests.length, before);
  });

  it('fetches the OAuth2 token once for many calls', async () => {
    const fresh = await createIntegration({
      name: 'entra_token_cache',
      app: 'entra_id',
      configuration: configuration(),
    });
    const tokensBefore = entra.tokenRequests.length;
    const before = entra.requests.length;
    await succeeded(fresh.id, 'get_user', { user: ALICE.id });
    await succeeded(fresh.id, 'list_group_members', { group: FINANCE_GROUP });
    await succeeded(fresh.id, 'revoke_sessions', { user: ALICE.id });
    await succeeded(fresh.id, 'enable_user', { user: ALICE.id });
    assert.equal(entra.tokenRequests.length, tokensBefore + 1, 'one token request');
    const calls = entra.requests.slice(before).filter((r) => r.path.startsWith('/v1.0/'));
    assert.equal(calls.length, 4);
    for (const r of calls) assert.equal(bearer(r), entra.issuedTokens.at(-1));
  });

  it('fetches a new token when Graph refuses an expired one, and retries the call with it', async () => {
    await succeeded(main.id, 'get_user', { user: ALICE.id, select: ['id'] });
    const old = bearer(entra.requests.at(-1)!)!;
    entra.revokeTokens();
    const tokensBefore = entra.tokenRequests.length;
    const before = entra.requests.length;
    const output = await succeeded(main.id, 'disable_user', { user: GUEST.id });
    assert.deepEqual(output, { user: GUEST.id, accountEnabled: false });
    assert.equal(entra.tokenRequests.length, tokensBefore + 1);
    const [refused, token, retried] = entra.requests.slice(before);
    assert.equal(entra.requests.length, before + 3);
    assert.equal(refused!.method, 'PATCH');
    assert.equal(bearer(refused!), old);
    assert.equal(token!.path, TOKEN_PATH);
    assert.equal(retried!.method, 'PATCH');
    assert.equal(bearer(retried!), entra.issuedTokens.at(-1));
    assert.notEqual(bearer(retried!), old);
    assert.equal(entra.users.get(GUEST.id)!.accountEnabled, false);

    await succeeded(main.id, 'enable_user', { user: GUEST.id });
    assert.equal(entra.tokenRequests.length, tokensBefore + 1, 'the new token is cached');
  });

  it('a wrong client secret fails with AUTH_FAILED and the AADSTS reason, without calling Graph', async () => {
    const before = entra.requests.length;
    const message = await failed(wrong.id, 'disable_user', { user: BOB.id }, 'AUTH_FAILED');
    assert.match(
      message,
      new RegExp(`could not get an OAuth2 token from http://127\\.0\\.0\\.1:\\d+${TOKEN_PATH}`),
    );
    assert.match(message, /AADSTS7000215: Invalid client secret provided/);
    assert.ok(!message.includes(WRONG_SECRET));
    assert.ok(!message.includes(ENTRA_CLIENT_SECRET));
    assert.deepEqual(
      entra.requests.slice(before).map((r) => r.path),
      [TOKEN_PATH],
      'only the token request: no retry, no Graph call',
    );
    assert.equal(entra.users.get(BOB.id)!.accountEnabled, true);
  });

  it('an unknown tenant fails with AUTH_FAILED naming it', async () => {
    const message = await failed(wrongTenant.id, 'get_user', { user: ALICE.id }, 'AUTH_FAILED');
    assert.match(message, /\/fabrikam\.onmicrosoft\.com\/oauth2\/v2\.0\/token/);
    assert.match(message, /AADSTS90002: Tenant 'fabrikam\.onmicrosoft\.com' not found/);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds, for a GET and a PATCH', async () => {
    entra.failNextApi(graphThrottled(1));
    let before = apiRequests().length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_user', { user: BOB.id, select: ['id'] }));
    assert.deepEqual(output, { id: BOB.id });
    assert.equal(apiRequests().length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    entra.failNextApi(graphThrottled(1));
    before = apiRequests().length;
    await succeeded(main.id, 'disable_user', { user: BOB.id });
    const patches = apiRequests().slice(before);
    assert.equal(patches.length, 2);
    assert.ok(patches.every((r) => r.method === 'PATCH'));
    assert.equal(entra.users.get(BOB.id)!.accountEnabled, false);
    await succeeded(main.id, 'enable_user', { user: BOB.id });
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    await succeeded(noRetry.id, 'get_user', { user: ALICE.id }); // the token
    entra.failNextApi(graphThrottled(1));
    const before = apiRequests().length;
    const message = await failed(noRetry.id, 'revoke_sessions', { user: ALICE.id }, 'RATE_LIMITED');
    assert.match(message, /answered 429: Too many requests/);
    assert.equal(apiRequests().length, before + 1);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    entra.failNextApi({
      status: 200,
      headers: { 'content-type': 'application/json;odata.metadata=minimal;charset=utf-8' },
      text: '{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users/$entity","id":"8a6b',
    });
    const message = await failed(main.id, 'get_user', { user: ALICE.id }, 'INVALID_RESPONSE');
    assert.match(message, /not valid JSON/);
  });

  it('the connectivity test gets a token and reads one user; a wrong secret fails it', async () => {
    const before = entra.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(entra.requests.length, before + 1, 'the cached token');
    const req = entra.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/v1.0/users');
    assert.equal(req.query.get('$top'), '1');
    assert.equal(req.query.get('$select'), 'id');
    assert.ok(bearer(req));

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /AADSTS7000215/);
    assert.ok(!bad.message.includes(WRONG_SECRET));
  });

  it("runs as workflow steps: revoke a phished user's sessions, disable the account and quarantine it", async () => {
    const x = await runWorkflow(
      `name: Lock out a phished user
trigger: { type: on_demand }
steps:
  - id: user
    kind: action
    action: entra_id.get_user
    integration: entra_main
    with: { user: "{{ $.event.upn }}" }
  - id: revoke
    kind: action
    action: entra_id.revoke_sessions
    integration: entra_main
    with: { user: "{{ $.user.id }}" }
  - id: disable
    kind: action
    action: entra_id.disable_user
    integration: entra_main
    with: { user: "{{ $.user.id }}" }
  - id: quarantine
    kind: action
    action: entra_id.add_user_to_group
    integration: entra_main
    with: { group: ${QUARANTINE_GROUP}, user: "{{ $.user.id }}" }
  - id: missing
    kind: action
    action: entra_id.get_user
    integration: entra_main
    on_error: continue
    with: { user: nobody@contoso.com }
  - id: done
    kind: exit
    output:
      name: "{{ $.user.displayName }}"
      revoked: "{{ $.revoke.revoked }}"
      enabled: "{{ $.disable.accountEnabled }}"
      added: "{{ $.quarantine.added }}"
      missing: "{{ $.missing.error.code }}"
`,
      { upn: ALICE.userPrincipalName },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, {
      name: 'Alice Nguyen',
      revoked: true,
      enabled: false,
      added: true,
      missing: 'NOT_FOUND',
    });
    assert.equal(entra.users.get(ALICE.id)!.accountEnabled, false);
    assert.deepEqual(entra.groups.get(QUARANTINE_GROUP)!.members, [ALICE.id]);
  });

  it('never shows the client secret or an access token in an answer', () => {
    assert.ok(entra.issuedTokens.length >= 3);
    assertNoLeak([ENTRA_CLIENT_SECRET, WRONG_SECRET, ...entra.issuedTokens]);
  });
});

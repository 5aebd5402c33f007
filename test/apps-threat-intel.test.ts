// The VirusTotal and AbuseIPDB apps (apps/virustotal, apps/abuseipdb) against stand-ins that answer
// as the vendors do: every action's request and output, the vendors' error answers mapped to the
// documented codes, retries of 429, connectivity tests, workflow steps, and the API key kept out of
// every answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timed, integrationTestApp, type Integration } from './helpers/integrations.js';
import {
  ABUSEIPDB_API_KEY,
  abuseError,
  abuseIpdbStandIn,
  abuseRateLimited,
  type AbuseIpdbStandIn,
} from './vendors/abuseipdb.js';
import type { StandIn } from './vendors/stand-in.js';
import { EICAR, KNOWN_URL, VT_API_KEY, VT_QUOTA_EXCEEDED, virusTotalStandIn } from './vendors/virustotal.js';

const WRONG_VT_KEY = '0000000000000000000000000000000000000000000000000000000000000bad';
const WRONG_ABUSEIPDB_KEY =
  'deadbeef00000000000000000000000000000000000000000000000000000000000000000000bad0';

const { answers, createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow } =
  integrationTestApp({ nestedFields: true });

describe('VirusTotal app', () => {
  let vt: StandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;

  before(async () => {
    vt = await virusTotalStandIn();
    const base_url = `${vt.url}/api/v3`;
    main = await createIntegration({
      name: 'vt_main',
      app: 'virustotal',
      configuration: { base_url, api_key: VT_API_KEY },
    });
    wrong = await createIntegration({
      name: 'vt_wrong',
      app: 'virustotal',
      configuration: { base_url, api_key: WRONG_VT_KEY },
    });
    noRetry = await createIntegration({
      name: 'vt_no_retry',
      app: 'virustotal',
      configuration: { base_url, api_key: VT_API_KEY },
      retries: 0,
    });
  });
  after(async () => {
    await vt.close();
  });

  it('stores the integration with the API key masked', () => {
    assert.equal(main.app, 'virustotal');
    assert.equal(main.configuration.api_key, '********');
    assert.equal(main.configuration.base_url, `${vt.url}/api/v3`);
  });

  it('get_file_report looks a file up by MD5, SHA-1 or SHA-256 and returns the file object', async () => {
    for (const hash of [EICAR.md5, EICAR.sha1, EICAR.sha256, EICAR.sha256.toUpperCase()]) {
      const before = vt.requests.length;
      const output = (await succeeded(main.id, 'get_file_report', { hash })) as {
        id: string;
        type: string;
        attributes: { sha256: string; meaningful_name: string; last_analysis_stats: { malicious: number } };
      };
      assert.equal(output.id, EICAR.sha256);
      assert.equal(output.type, 'file');
      assert.equal(output.attributes.meaningful_name, 'eicar.com');
      assert.equal(output.attributes.last_analysis_stats.malicious, 63);
      assert.equal(vt.requests.length, before + 1, 'one request per lookup');
      const req = vt.requests.at(-1)!;
      assert.equal(req.method, 'GET');
      assert.equal(req.url, `/api/v3/files/${hash.toLowerCase()}`, 'the hash in the path, no query');
      assert.equal(req.headers['x-apikey'], VT_API_KEY);
      assert.equal(req.body, '');
    }
  });

  it('get_url_report sends the URL as unpadded base64url and returns the URL object', async () => {
    const output = (await succeeded(main.id, 'get_url_report', { url: KNOWN_URL })) as {
      type: string;
      attributes: { url: string; last_analysis_stats: { malicious: number } };
    };
    assert.equal(output.type, 'url');
    assert.equal(output.attributes.url, KNOWN_URL);
    assert.equal(output.attributes.last_analysis_stats.malicious, 9);
    const req = vt.requests.at(-1)!;
    const id = Buffer.from(KNOWN_URL).toString('base64url');
    assert.match(Buffer.from(KNOWN_URL).toString('base64'), /\+.*\/.*=$/, 'the fixture exercises +, / and =');
    assert.equal(req.path, `/api/v3/urls/${id}`);
    assert.doesNotMatch(req.path, /[+/=]$|=/);
    assert.equal(req.headers['x-apikey'], VT_API_KEY);

    const message = await failed(
      main.id,
      'get_url_report',
      { url: 'http://never-submitted.example/' },
      'NOT_FOUND',
    );
    assert.match(message, /not found/);
  });

  it('get_ip_report looks up IPv4 and IPv6 addresses', async () => {
    const v4 = (await succeeded(main.id, 'get_ip_report', { ip: '203.0.113.7' })) as {
      id: string;
      type: string;
      attributes: { as_owner: string; country: string; last_analysis_stats: { malicious: number } };
    };
    assert.equal(v4.id, '203.0.113.7');
    assert.equal(v4.type, 'ip_address');
    assert.equal(v4.attributes.country, 'NL');
    assert.equal(v4.attributes.last_analysis_stats.malicious, 11);
    assert.equal(vt.requests.at(-1)!.path, '/api/v3/ip_addresses/203.0.113.7');

    const v6 = (await succeeded(main.id, 'get_ip_report', { ip: '2001:4860:4860::8888' })) as {
      id: string;
      attributes: { as_owner: string };
    };
    assert.equal(v6.id, '2001:4860:4860::8888');
    assert.equal(v6.attributes.as_owner, 'GOOGLE');
    assert.equal(decodeURIComponent(vt.requests.at(-1)!.path), '/api/v3/ip_addresses/2001:4860:4860::8888');
    assert.equal(vt.requests.at(-1)!.method, 'GET');
  });

  it('get_domain_report looks a domain up (lower-cased) and fails with NOT_FOUND for an unknown one', async () => {
    const output = (await succeeded(main.id, 'get_domain_report', { domain: 'Example.COM' })) as {
      id: string;
      type: string;
      attributes: { registrar: string; last_dns_records: { type: string }[] };
    };
    assert.equal(output.id, 'example.com');
    assert.equal(output.type, 'domain');
    assert.equal(output.attributes.last_dns_records[0]!.type, 'A');
    assert.equal(vt.requests.at(-1)!.path, '/api/v3/domains/example.com');
  });

  it('refuses invalid parameters before calling VirusTotal, naming the field', async () => {
    const before = vt.requests.length;
    await invalidParams(main.id, 'get_file_report', { hash: 'not-a-hash' }, 'params.hash');
    await invalidParams(main.id, 'get_file_report', {}, 'params.hash');
    await invalidParams(main.id, 'get_ip_report', { ip: '999.1.1.1' }, 'params.ip');
    await invalidParams(main.id, 'get_ip_report', { ip: '8.8.8.8', verbose: true }, 'params.verbose');
    await invalidParams(main.id, 'get_domain_report', { domain: 'https://example.com/x' }, 'params.domain');
    await invalidParams(main.id, 'get_url_report', { url: 'http://exa mple.com/' }, 'params.url');
    assert.equal(vt.requests.length, before, 'nothing reached VirusTotal');
  });

  it("a wrong key fails with AUTH_FAILED and VirusTotal's message, without retrying", async () => {
    const before = vt.requests.length;
    const message = await failed(wrong.id, 'get_ip_report', { ip: '8.8.8.8' }, 'AUTH_FAILED');
    assert.match(message, /Wrong API key/, 'the vendor message');
    assert.match(message, /virustotal/i, 'the app');
    assert.match(message, /GET/, 'the method');
    assert.match(message, /\/ip_addresses\/8\.8\.8\.8/, 'the path');
    assert.equal(vt.requests.length, before + 1, 'not retried');
    assert.equal(vt.requests.at(-1)!.headers['x-apikey'], WRONG_VT_KEY);
  });

  it('an unknown file fails with NOT_FOUND, without retrying', async () => {
    const before = vt.requests.length;
    const unknown = 'a'.repeat(64);
    const message = await failed(main.id, 'get_file_report', { hash: unknown }, 'NOT_FOUND');
    assert.match(message, new RegExp(`File "${unknown}" not found`));
    assert.equal(vt.requests.length, before + 1);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    vt.failNext({ ...VT_QUOTA_EXCEEDED, headers: { 'retry-after': '1' } });
    const before = vt.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_ip_report', { ip: '8.8.8.8' }));
    assert.equal((output as { id: string }).id, '8.8.8.8');
    assert.equal(vt.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    vt.failNext({ ...VT_QUOTA_EXCEEDED, headers: { 'retry-after': '1' } });
    const before = vt.requests.length;
    const message = await failed(noRetry.id, 'get_ip_report', { ip: '8.8.8.8' }, 'RATE_LIMITED');
    assert.match(message, /Quota exceeded/);
    assert.equal(vt.requests.length, before + 1);
  });

  it('a 5xx is retried for a GET, and fails with REMOTE_ERROR when retries run out', async () => {
    vt.failNext({ status: 503, text: 'Service Unavailable', headers: { 'content-type': 'text/plain' } });
    const output = (await succeeded(main.id, 'get_domain_report', { domain: 'example.com' })) as {
      id: string;
    };
    assert.equal(output.id, 'example.com');
    vt.failNext({ status: 500, json: { error: { code: 'TransientError', message: 'Please retry later' } } });
    const message = await failed(noRetry.id, 'get_domain_report', { domain: 'example.com' }, 'REMOTE_ERROR');
    assert.match(message, /retry later/);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    vt.failNext({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '{"data": {"id": "8.8.8.8", ',
    });
    await failed(main.id, 'get_ip_report', { ip: '8.8.8.8' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test succeeds with the right key and fails with a wrong one', async () => {
    const before = vt.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(vt.requests.length, before + 1);
    assert.equal(vt.requests.at(-1)!.path, '/api/v3/ip_addresses/8.8.8.8');
    assert.equal(vt.requests.at(-1)!.headers['x-apikey'], VT_API_KEY);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.ok(bad.message.length > 0);
    assert.match(bad.message, /Wrong API key|401|auth/i);
  });

  it('runs as a workflow step, and a failing step carries the code', async () => {
    const x = await runWorkflow(
      `name: VT enrich
trigger: { type: on_demand }
steps:
  - id: ip_intel
    kind: action
    action: virustotal.get_ip_report
    integration: vt_main
    with: { ip: "{{ $.event.ip }}" }
  - id: file_intel
    kind: action
    action: virustotal.get_file_report
    integration: vt_wrong
    on_error: continue
    with: { hash: "{{ $.event.hash }}" }
  - id: done
    kind: exit
    output:
      malicious: "{{ $.ip_intel.attributes.last_analysis_stats.malicious }}"
      owner: "{{ $.ip_intel.attributes.as_owner }}"
      file_error: "{{ $.file_intel.error.code }}"
`,
      { ip: '203.0.113.7', hash: EICAR.md5 },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { malicious: 11, owner: 'EXAMPLE-HOSTING', file_error: 'AUTH_FAILED' });
    assert.equal(vt.requests.at(-1)!.path, `/api/v3/files/${EICAR.md5}`);
    const step = x.steps.find((s) => s.key === 'ip_intel')!;
    assert.equal(step.status, 'succeeded');
    assert.equal((step.output as { id: string }).id, '203.0.113.7');
  });

  it('never shows the API key in an answer', () => {
    assert.ok(
      vt.requests.some((r) => r.headers['x-apikey'] === VT_API_KEY),
      'the key was sent to VirusTotal',
    );
    for (const body of answers) {
      assert.ok(!body.includes(VT_API_KEY), `the key leaked: ${body.slice(0, 500)}`);
      assert.ok(!body.includes(WRONG_VT_KEY), `the wrong key leaked: ${body.slice(0, 500)}`);
    }
  });
});

describe('AbuseIPDB app', () => {
  let ab: AbuseIpdbStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;

  before(async () => {
    ab = await abuseIpdbStandIn();
    const base_url = `${ab.url}/api/v2`;
    main = await createIntegration({
      name: 'abuse_main',
      app: 'abuseipdb',
      configuration: { base_url, api_key: ABUSEIPDB_API_KEY },
    });
    wrong = await createIntegration({
      name: 'abuse_wrong',
      app: 'abuseipdb',
      configuration: { base_url, api_key: WRONG_ABUSEIPDB_KEY },
    });
    noRetry = await createIntegration({
      name: 'abuse_no_retry',
      app: 'abuseipdb',
      configuration: { base_url, api_key: ABUSEIPDB_API_KEY },
      retries: 0,
    });
  });
  after(async () => {
    await ab.close();
  });

  it('stores the integration with the API key masked', () => {
    assert.equal(main.app, 'abuseipdb');
    assert.equal(main.configuration.api_key, '********');
  });

  it('check_ip sends the address and the default age, and returns the data object', async () => {
    const output = (await succeeded(main.id, 'check_ip', { ip: '118.25.6.39' })) as Record<string, unknown>;
    const req = ab.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, '/api/v2/check');
    assert.deepEqual(Object.fromEntries(req.query), { ipAddress: '118.25.6.39', maxAgeInDays: '30' });
    assert.equal(req.headers.key, ABUSEIPDB_API_KEY);
    assert.equal(req.headers.accept, 'application/json');
    assert.equal(output.ipAddress, '118.25.6.39');
    assert.equal(output.abuseConfidenceScore, 100);
    assert.equal(output.totalReports, 1, 'only the report of the last 30 days');
    assert.equal(output.isp, 'Tencent Cloud Computing (Beijing) Co. Ltd');
    assert.equal(output.reports, undefined, 'no reports without verbose');
  });

  it('check_ip with verbose and a longer age returns the reports', async () => {
    const output = (await succeeded(main.id, 'check_ip', {
      ip: '118.25.6.39',
      max_age_in_days: 90,
      verbose: true,
    })) as {
      totalReports: number;
      countryName: string;
      reports: { categories: number[] }[];
    };
    const req = ab.requests.at(-1)!;
    assert.equal(req.query.get('maxAgeInDays'), '90');
    assert.ok(req.query.has('verbose'), 'the verbose flag is sent');
    assert.equal(output.totalReports, 2);
    assert.equal(output.countryName, 'China');
    assert.deepEqual(output.reports[0]!.categories, [18, 22]);

    const ipv6 = (await succeeded(main.id, 'check_ip', { ip: '2001:db8::1', verbose: false })) as {
      ipVersion: number;
    };
    assert.equal(ipv6.ipVersion, 6);
    assert.equal(ab.requests.at(-1)!.query.get('ipAddress'), '2001:db8::1');
    assert.ok(!ab.requests.at(-1)!.query.has('verbose'), 'verbose: false leaves the flag out');
  });

  it('report_ip posts a form with the categories joined by commas', async () => {
    const comment = 'sshd[8812]: Failed password for root from 203.0.113.7 port 52144 ssh2 & more';
    const output = (await succeeded(main.id, 'report_ip', {
      ip: '203.0.113.7',
      categories: [18, 22],
      comment,
    })) as { ipAddress: string; abuseConfidenceScore: number };
    assert.deepEqual(output, { ipAddress: '203.0.113.7', abuseConfidenceScore: 52 });
    const req = ab.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/api/v2/report');
    assert.equal(req.url, '/api/v2/report', 'the parameters are in the body, not the query');
    assert.match(req.headers['content-type'] ?? '', /^application\/x-www-form-urlencoded/);
    assert.equal(req.headers.key, ABUSEIPDB_API_KEY);
    assert.equal(req.headers.accept, 'application/json');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(req.body)), {
      ip: '203.0.113.7',
      categories: '18,22',
      comment,
    });
    assert.deepEqual(ab.reports.at(-1), { ip: '203.0.113.7', categories: [18, 22], comment });

    await succeeded(main.id, 'report_ip', { ip: '198.51.100.23', categories: [14] });
    const form = new URLSearchParams(ab.requests.at(-1)!.body);
    assert.equal(form.get('categories'), '14');
    assert.equal(form.has('comment'), false, 'no comment field when none is given');
  });

  it('refuses invalid parameters before calling AbuseIPDB, naming the field', async () => {
    const before = ab.requests.length;
    await invalidParams(main.id, 'check_ip', { ip: 'not-an-ip' }, 'params.ip');
    await invalidParams(
      main.id,
      'check_ip',
      { ip: '1.2.3.4', max_age_in_days: 400 },
      'params.max_age_in_days',
    );
    await invalidParams(main.id, 'report_ip', { ip: '1.2.3.4', categories: [] }, 'params.categories');
    await invalidParams(main.id, 'report_ip', { ip: '1.2.3.4', categories: [99] }, 'params.categories');
    await invalidParams(main.id, 'report_ip', { ip: '1.2.3.4', categories: ['18'] }, 'params.categories');
    await invalidParams(main.id, 'report_ip', { ip: '1.2.3.4' }, 'params.categories');
    await invalidParams(
      main.id,
      'report_ip',
      { ip: '1.2.3.4', categories: [18], comment: 'x'.repeat(1025) },
      'params.comment',
    );
    assert.equal(ab.requests.length, before, 'nothing reached AbuseIPDB');
  });

  it("a wrong key fails with AUTH_FAILED and AbuseIPDB's detail; the message has the path but not the query", async () => {
    const before = ab.requests.length;
    const message = await failed(wrong.id, 'check_ip', { ip: '118.25.6.39' }, 'AUTH_FAILED');
    assert.match(message, /Authentication failed/);
    assert.match(message, /abuseipdb/i);
    assert.match(message, /GET/);
    assert.match(message, /\/check/);
    assert.doesNotMatch(message, /ipAddress=|118\.25\.6\.39/, 'never the query');
    assert.equal(ab.requests.length, before + 1, 'not retried');
  });

  it('an endpoint that does not exist fails with NOT_FOUND', async () => {
    const old = await createIntegration({
      name: 'abuse_old_api',
      app: 'abuseipdb',
      configuration: { base_url: `${ab.url}/api/v1`, api_key: ABUSEIPDB_API_KEY },
    });
    const message = await failed(old.id, 'check_ip', { ip: '8.8.8.8' }, 'NOT_FOUND');
    assert.match(message, /could not be found/);
    assert.equal(ab.requests.at(-1)!.path, '/api/v1/check');
  });

  it('a 422 fails with REMOTE_REJECTED and the detail', async () => {
    ab.failNext(abuseError(422, 'The ip address must be a valid IPv4 or IPv6 address.', 'ip'));
    const before = ab.requests.length;
    const message = await failed(
      main.id,
      'report_ip',
      { ip: '203.0.113.9', categories: [4] },
      'REMOTE_REJECTED',
    );
    assert.match(message, /must be a valid IPv4 or IPv6 address/);
    assert.match(message, /POST/);
    assert.equal(ab.requests.length, before + 1);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    ab.failNext(abuseRateLimited(1));
    const before = ab.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'check_ip', { ip: '8.8.8.8' }));
    assert.equal((output as { ipAddress: string }).ipAddress, '8.8.8.8');
    assert.equal(ab.requests.length, before + 2);
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);
  });

  it('a 429 on a POST is retried too', async () => {
    ab.failNext(abuseRateLimited(1));
    const reports = ab.reports.length;
    const posts = ab.received('POST', '/api/v2/report').length;
    await succeeded(main.id, 'report_ip', { ip: '203.0.113.10', categories: [21] });
    assert.equal(ab.received('POST', '/api/v2/report').length, posts + 2, 'the 429, then the retry');
    assert.equal(ab.reports.length, reports + 1, 'reported once');
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    ab.failNext(abuseRateLimited(1));
    const message = await failed(noRetry.id, 'check_ip', { ip: '8.8.8.8' }, 'RATE_LIMITED');
    assert.match(message, /Daily rate limit of 1000 requests exceeded/);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    ab.failNext({
      status: 200,
      headers: { 'content-type': 'application/json' },
      text: '<html><body>Bad gateway</body></html>',
    });
    await failed(main.id, 'check_ip', { ip: '8.8.8.8' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test succeeds with the right key and fails with a wrong one', async () => {
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    const req = ab.requests.at(-1)!;
    assert.equal(req.path, '/api/v2/check');
    assert.equal(req.query.get('ipAddress'), '127.0.0.1');
    assert.equal(req.headers.key, ABUSEIPDB_API_KEY);
    assert.equal(req.headers.accept, 'application/json');

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /Authentication failed|401|auth/i);
  });

  it('runs as workflow steps: check, then report', async () => {
    const before = ab.reports.length;
    const x = await runWorkflow(
      `name: Check and report
trigger: { type: on_demand }
steps:
  - id: check
    kind: action
    action: abuseipdb.check_ip
    integration: abuse_main
    with: { ip: "{{ $.event.ip }}", max_age_in_days: 90 }
  - id: report
    kind: action
    action: abuseipdb.report_ip
    integration: abuse_main
    with:
      ip: "{{ $.event.ip }}"
      categories: "{{ $.event.categories }}"
      comment: "seen {{ $.check.totalReports }} times before"
  - id: done
    kind: exit
    output: { before: "{{ $.check.abuseConfidenceScore }}", after: "{{ $.report.abuseConfidenceScore }}" }
`,
      { ip: '118.25.6.39', categories: [18, 22] },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    assert.deepEqual(x.output, { before: 100, after: 100 });
    assert.equal(ab.reports.length, before + 1);
    assert.deepEqual(ab.reports.at(-1), {
      ip: '118.25.6.39',
      categories: [18, 22],
      comment: 'seen 2 times before',
    });
  });

  it('never shows the API key in an answer', () => {
    assert.ok(
      ab.requests.some((r) => r.headers.key === ABUSEIPDB_API_KEY),
      'the key was sent to AbuseIPDB',
    );
    for (const body of answers) {
      assert.ok(!body.includes(ABUSEIPDB_API_KEY), `the key leaked: ${body.slice(0, 500)}`);
      assert.ok(!body.includes(WRONG_ABUSEIPDB_KEY), `the wrong key leaked: ${body.slice(0, 500)}`);
    }
  });
});

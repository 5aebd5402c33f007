// The Jira and GitHub apps (apps/jira, apps/github) against stand-ins that answer as the vendors do:
// every action's requests (method, path, headers, body) and output, multi-request actions (Jira
// transitions by name, GitHub create-or-update with the current sha), the vendors' error answers
// mapped to the documented codes, retries of 429, connectivity tests, workflow steps, and the
// credentials kept out of every answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timed, integrationTestApp, type Integration } from './helpers/integrations.js';
import {
  GITHUB_OWNER,
  GITHUB_REPO,
  GITHUB_TOKEN,
  gitHubStandIn,
  githubError,
  type GitHubStandIn,
} from './vendors/github.js';
import { JIRA_API_TOKEN, JIRA_EMAIL, jiraError, jiraStandIn, type JiraStandIn } from './vendors/jira.js';

const { createIntegration, succeeded, failed, invalidParams, connectivity, runWorkflow, assertNoLeak } =
  integrationTestApp();

describe('Jira app', () => {
  let jira: JiraStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;
  const WRONG_TOKEN = 'ATATT3xFfGF0WrongWrongWrongWrongWrongWrongWrong0000';
  const basic = `Basic ${Buffer.from(`${JIRA_EMAIL}:${JIRA_API_TOKEN}`).toString('base64')}`;

  before(async () => {
    jira = await jiraStandIn();
    main = await createIntegration({
      name: 'jira_main',
      app: 'jira',
      configuration: { base_url: `${jira.url}/`, username: JIRA_EMAIL, api_token: JIRA_API_TOKEN },
    });
    wrong = await createIntegration({
      name: 'jira_wrong',
      app: 'jira',
      configuration: { base_url: jira.url, username: JIRA_EMAIL, api_token: WRONG_TOKEN },
    });
    noRetry = await createIntegration({
      name: 'jira_no_retry',
      app: 'jira',
      configuration: { base_url: jira.url, username: JIRA_EMAIL, api_token: JIRA_API_TOKEN },
      retries: 0,
    });
  });
  after(async () => {
    await jira.close();
  });

  it('stores the integration with the API token masked', () => {
    assert.equal(main.app, 'jira');
    assert.equal(main.configuration.api_token, '********');
    assert.equal(main.configuration.username, JIRA_EMAIL);
  });

  it('create_issue posts the fields with basic authentication and returns the key and a link', async () => {
    const output = await succeeded(main.id, 'create_issue', {
      project: 'SEC',
      summary: 'Phishing: invoice.zip from billing@evil.example',
      description: 'h2. Indicators\n* 203.0.113.7',
      issue_type: 'Incident',
      labels: ['phishing', 'osprey'],
      priority: 'High',
      fields: { customfield_10010: 'SOC-L1' },
    });
    const req = jira.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/rest/api/2/issue');
    assert.equal(req.headers.authorization, basic);
    assert.match(req.headers['content-type'] ?? '', /^application\/json/);
    assert.deepEqual(req.json, {
      fields: {
        project: { key: 'SEC' },
        summary: 'Phishing: invoice.zip from billing@evil.example',
        description: 'h2. Indicators\n* 203.0.113.7',
        issuetype: { name: 'Incident' },
        labels: ['phishing', 'osprey'],
        priority: { name: 'High' },
        customfield_10010: 'SOC-L1',
      },
    });
    const issue = [...jira.issues.values()].at(-1)!;
    assert.deepEqual(output, {
      id: issue.id,
      key: issue.key,
      self: `${jira.url}/rest/api/2/issue/${issue.id}`,
      url: `${jira.url}/browse/${issue.key}`,
    });
    assert.match(issue.key, /^SEC-\d+$/);
  });

  it('create_issue sends only the fields given, with the default issue type', async () => {
    const output = (await succeeded(main.name, 'jira.create_issue', {
      project: 'IT',
      summary: 'Reset MFA for bob',
    })) as {
      key: string;
    };
    assert.deepEqual(jira.requests.at(-1)!.json, {
      fields: { project: { key: 'IT' }, summary: 'Reset MFA for bob', issuetype: { name: 'Task' } },
    });
    assert.match(output.key, /^IT-\d+$/);
  });

  it("Jira's field errors fail with REMOTE_REJECTED naming the fields", async () => {
    let message = await failed(main.id, 'create_issue', { project: 'NOPE', summary: 'x' }, 'REMOTE_REJECTED');
    assert.match(message, /project: valid project is required/);
    message = await failed(
      main.id,
      'create_issue',
      { project: 'SEC', summary: '  ', issue_type: 'Epic' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /summary: You must specify a summary of the issue\./);
    assert.match(message, /issuetype: Specify a valid issue type/);
    message = await failed(
      main.id,
      'create_issue',
      { project: 'SEC', summary: 'x', fields: { customfield_99999: 1 } },
      'REMOTE_REJECTED',
    );
    assert.match(message, /customfield_99999: Field 'customfield_99999' cannot be set/);
  });

  it('add_comment posts the body to the issue and returns the comment', async () => {
    const issue = jira.seed('SEC', 'Brute force on vpn-01');
    const output = (await succeeded(main.id, 'add_comment', {
      issue: issue.key,
      body: 'Blocked 203.0.113.7 at the firewall.',
    })) as {
      id: string;
      body: string;
      author: { displayName: string };
    };
    const req = jira.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `/rest/api/2/issue/${issue.key}/comment`);
    assert.deepEqual(req.json, { body: 'Blocked 203.0.113.7 at the firewall.' });
    assert.equal(output.body, 'Blocked 203.0.113.7 at the firewall.');
    assert.equal(output.author.displayName, 'SOC Automation');
    assert.equal(issue.comments.at(-1)!.id, output.id);
  });

  it('list_transitions returns the transitions from the current status', async () => {
    const issue = jira.seed('SEC', 'Transitions');
    const output = (await succeeded(main.id, 'list_transitions', { issue: issue.key })) as {
      id: string;
      name: string;
      to: { name: string };
    }[];
    assert.equal(jira.requests.at(-1)!.method, 'GET');
    assert.equal(jira.requests.at(-1)!.path, `/rest/api/2/issue/${issue.key}/transitions`);
    assert.deepEqual(
      output.map((tr) => [tr.id, tr.name, tr.to.name]),
      [
        ['11', 'Start Progress', 'In Progress'],
        ['31', 'Done', 'Done'],
      ],
    );
  });

  it('transition_issue finds a transition by name (any case), then posts its id', async () => {
    const issue = jira.seed('SEC', 'Move me');
    const before = jira.requests.length;
    const output = await succeeded(main.id, 'transition_issue', {
      issue: issue.key,
      transition: 'start progress',
    });
    assert.deepEqual(output, {
      issue: issue.key,
      transition: { id: '11', name: 'Start Progress' },
      status: 'In Progress',
    });
    const [list, post] = jira.requests.slice(before);
    assert.equal(jira.requests.length, before + 2);
    assert.equal(list!.method, 'GET');
    assert.equal(list!.path, `/rest/api/2/issue/${issue.key}/transitions`);
    assert.equal(post!.method, 'POST');
    assert.equal(post!.path, `/rest/api/2/issue/${issue.key}/transitions`);
    assert.equal(post!.headers.authorization, basic);
    assert.deepEqual(post!.json, { transition: { id: '11' } });
    assert.equal(issue.status, 'progress');
  });

  it('transition_issue takes an id too, with a comment and fields', async () => {
    const issue = jira.seed('SEC', 'Close me', 'progress');
    const output = await succeeded(main.id, 'transition_issue', {
      issue: issue.key,
      transition: '31',
      comment: 'Closed by Osprey.',
      fields: { resolution: { name: 'Done' } },
    });
    assert.deepEqual(output, { issue: issue.key, transition: { id: '31', name: 'Done' }, status: 'Done' });
    assert.deepEqual(jira.requests.at(-1)!.json, {
      transition: { id: '31' },
      fields: { resolution: { name: 'Done' } },
      update: { comment: [{ add: { body: 'Closed by Osprey.' } }] },
    });
    assert.equal(issue.status, 'done');
    assert.equal(issue.comments.at(-1)!.body, 'Closed by Osprey.');
  });

  it('an unknown transition fails with REMOTE_REJECTED listing the available ones, without posting', async () => {
    const issue = jira.seed('SEC', 'Stuck');
    const before = jira.requests.length;
    const message = await failed(
      main.id,
      'transition_issue',
      { issue: issue.key, transition: 'Escalate' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /no transition "Escalate"/);
    assert.match(message, /Start Progress \(11\), Done \(31\)/);
    assert.equal(jira.requests.length, before + 1, 'only the list was requested');
    assert.equal(issue.status, 'todo');

    const rejected = await failed(
      main.id,
      'transition_issue',
      { issue: issue.key, transition: 'Done', fields: { assignee: { name: 'x' } } },
      'REMOTE_REJECTED',
    );
    assert.match(rejected, /assignee: Field 'assignee' cannot be set/);
  });

  it('get_issue returns the issue with the fields asked for; an unknown issue fails with NOT_FOUND', async () => {
    const issue = jira.seed('SEC', 'Read me');
    const output = (await succeeded(main.id, 'get_issue', {
      issue: issue.key,
      fields: ['summary', 'status'],
    })) as {
      key: string;
      fields: { summary: string; status: { name: string } };
    };
    const req = jira.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, `/rest/api/2/issue/${issue.key}`);
    assert.equal(req.query.get('fields'), 'summary,status');
    assert.equal(req.query.get('expand'), null);
    assert.equal(output.key, issue.key);
    assert.deepEqual(Object.keys(output.fields).sort(), ['status', 'summary']);
    assert.equal(output.fields.status.name, 'To Do');

    const before = jira.requests.length;
    const message = await failed(main.id, 'get_issue', { issue: 'SEC-9999' }, 'NOT_FOUND');
    assert.match(message, /Issue does not exist or you do not have permission to see it/);
    assert.equal(jira.requests.length, before + 1, 'not retried');
    await failed(main.id, 'transition_issue', { issue: 'SEC-9999', transition: 'Done' }, 'NOT_FOUND');
  });

  it("a wrong API token fails with AUTH_FAILED and Jira's message, without retrying", async () => {
    const before = jira.requests.length;
    const message = await failed(wrong.id, 'get_issue', { issue: 'SEC-1' }, 'AUTH_FAILED');
    assert.match(message, /Basic authentication with passwords is deprecated/);
    assert.equal(jira.requests.length, before + 1);
    assert.ok(!message.includes(WRONG_TOKEN));
  });

  it('refuses invalid parameters before calling Jira, naming the field', async () => {
    const before = jira.requests.length;
    await invalidParams(main.id, 'create_issue', { summary: 'x' }, 'params.project');
    await invalidParams(
      main.id,
      'create_issue',
      { project: 'SEC', summary: 'x', labels: ['two words'] },
      'params.labels.0',
    );
    await invalidParams(main.id, 'get_issue', { issue: '../../myself' }, 'params.issue');
    await invalidParams(main.id, 'transition_issue', { issue: 'SEC-1' }, 'params.transition');
    await invalidParams(
      main.id,
      'add_comment',
      { issue: 'SEC-1', body: 'x', visibility: 'internal' },
      'params.visibility',
    );
    assert.equal(jira.requests.length, before);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds, for a GET and a POST', async () => {
    const issue = jira.seed('SEC', 'Rate limited');
    jira.failNext({ ...jiraError(429, ['Rate limit exceeded.']), headers: { 'retry-after': '1' } });
    let before = jira.requests.length;
    const [output, ms] = await timed(() => succeeded(main.id, 'get_issue', { issue: issue.key }));
    assert.equal((output as { key: string }).key, issue.key);
    assert.equal(jira.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);

    jira.failNext({ ...jiraError(429, ['Rate limit exceeded.']), headers: { 'retry-after': '1' } });
    before = jira.requests.length;
    await succeeded(main.id, 'add_comment', { issue: issue.key, body: 'after the wait' });
    assert.equal(jira.requests.length, before + 2);
    assert.equal(issue.comments.length, 1, 'posted once');
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    jira.failNext({ ...jiraError(429, ['Rate limit exceeded.']), headers: { 'retry-after': '1' } });
    const before = jira.requests.length;
    const message = await failed(
      noRetry.id,
      'create_issue',
      { project: 'SEC', summary: 'x' },
      'RATE_LIMITED',
    );
    assert.match(message, /Rate limit exceeded/);
    assert.equal(jira.requests.length, before + 1);
  });

  it('a 503 on a GET is retried; with retries: 0 it fails with REMOTE_ERROR', async () => {
    const issue = jira.seed('SEC', 'Flaky');
    jira.failNext({ status: 503, text: 'Service Unavailable', headers: { 'content-type': 'text/plain' } });
    await succeeded(main.id, 'list_transitions', { issue: issue.key });
    jira.failNext({ status: 503, text: 'Service Unavailable', headers: { 'content-type': 'text/plain' } });
    await failed(noRetry.id, 'list_transitions', { issue: issue.key }, 'REMOTE_ERROR');
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    jira.failNext({
      status: 200,
      headers: { 'content-type': 'application/json;charset=UTF-8' },
      text: '{"id":"10001","key":',
    });
    await failed(main.id, 'get_issue', { issue: 'SEC-1' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test reads /myself: success with the right token, failure with a wrong one', async () => {
    const before = jira.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(jira.requests.length, before + 1);
    assert.equal(jira.requests.at(-1)!.path, '/rest/api/2/myself');
    assert.equal(jira.requests.at(-1)!.headers.authorization, basic);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /401/);
  });

  it('runs as workflow steps: open an issue, comment on it and close it', async () => {
    const x = await runWorkflow(
      `name: Jira ticket
trigger: { type: on_demand }
steps:
  - id: ticket
    kind: action
    action: jira.create_issue
    integration: jira_main
    with:
      project: SEC
      summary: "{{ $.event.summary }}"
      labels: [osprey]
  - id: note
    kind: action
    action: jira.add_comment
    integration: jira_main
    with: { issue: "{{ $.ticket.key }}", body: "Contained host {{ $.event.host }}." }
  - id: close
    kind: action
    action: jira.transition_issue
    integration: jira_main
    with: { issue: "{{ $.ticket.key }}", transition: Done }
  - id: missing
    kind: action
    action: jira.get_issue
    integration: jira_main
    on_error: continue
    with: { issue: SEC-99999 }
  - id: done
    kind: exit
    output: { key: "{{ $.ticket.key }}", status: "{{ $.close.status }}", missing: "{{ $.missing.error.code }}" }
`,
      { summary: 'EDR: ransomware on fs-02', host: 'fs-02' },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    const out = x.output as { key: string; status: string; missing: string };
    assert.equal(out.status, 'Done');
    assert.equal(out.missing, 'NOT_FOUND');
    const issue = jira.issues.get(out.key)!;
    assert.equal(issue.fields.summary, 'EDR: ransomware on fs-02');
    assert.equal(issue.status, 'done');
    assert.equal(issue.comments.at(-1)!.body, 'Contained host fs-02.');
  });

  it('never shows the API token in an answer', () => {
    assert.ok(jira.requests.some((r) => r.headers.authorization === basic));
    assertNoLeak([JIRA_API_TOKEN, WRONG_TOKEN, basic.slice(6)]);
  });
});

describe('GitHub app', () => {
  let gh: GitHubStandIn;
  let main: Integration;
  let wrong: Integration;
  let noRetry: Integration;
  const WRONG_TOKEN =
    'github_pat_11ABCDEFG0WrongWrongWrongWrong_WrongWrongWrongWrongWrongWrongWrongWrong0000';
  const repo = { owner: GITHUB_OWNER, repo: GITHUB_REPO };
  const contents = (path: string): string => `/repos/${GITHUB_OWNER}/${GITHUB_REPO}/contents/${path}`;
  const WORKFLOW = `name: Überprüfung — phishing triage ✓
# 🚀 committed by Osprey
trigger: { type: webhook }
steps:
  - id: lookup
    kind: action
    action: virustotal.get_url_report
    with: { url: "{{ $.event.url }}" }
`;

  before(async () => {
    gh = await gitHubStandIn();
    main = await createIntegration({
      name: 'github_main',
      app: 'github',
      configuration: { base_url: gh.url, token: GITHUB_TOKEN },
    });
    wrong = await createIntegration({
      name: 'github_wrong',
      app: 'github',
      configuration: { base_url: gh.url, token: WRONG_TOKEN },
    });
    noRetry = await createIntegration({
      name: 'github_no_retry',
      app: 'github',
      configuration: { base_url: gh.url, token: GITHUB_TOKEN },
      retries: 0,
    });
  });
  after(async () => {
    await gh.close();
  });

  function assertGitHubHeaders(req: { headers: Record<string, string | string[] | undefined> }): void {
    assert.equal(req.headers.authorization, `Bearer ${GITHUB_TOKEN}`);
    assert.equal(req.headers.accept, 'application/vnd.github+json');
    assert.equal(req.headers['x-github-api-version'], '2022-11-28');
  }

  it('stores the integration with the token masked', () => {
    assert.equal(main.app, 'github');
    assert.equal(main.configuration.token, '********');
  });

  it('create_or_update_file creates a new file: looks it up (404), then PUTs the UTF-8 content as base64 without a sha', async () => {
    const before = gh.requests.length;
    const output = (await succeeded(main.id, 'create_or_update_file', {
      ...repo,
      path: 'workflows/phishing triage.yaml',
      content: WORKFLOW,
      message: 'Add phishing triage workflow',
    })) as Record<string, unknown>;
    const [lookup, put] = gh.requests.slice(before);
    assert.equal(gh.requests.length, before + 2);
    assert.equal(lookup!.method, 'GET');
    assert.equal(lookup!.path, contents('workflows/phishing%20triage.yaml'));
    assertGitHubHeaders(lookup!);
    assert.equal(put!.method, 'PUT');
    assert.equal(put!.path, contents('workflows/phishing%20triage.yaml'));
    assertGitHubHeaders(put!);
    assert.deepEqual(put!.json, {
      message: 'Add phishing triage workflow',
      content: Buffer.from(WORKFLOW, 'utf8').toString('base64'),
    });
    assert.equal(gh.branches.get('main')!.get('workflows/phishing triage.yaml')!.toString('utf8'), WORKFLOW);
    const commit = gh.commits.at(-1)!;
    assert.equal(output.created, true);
    assert.equal(output.path, 'workflows/phishing triage.yaml');
    assert.match(output.sha as string, /^[0-9a-f]{40}$/);
    assert.equal(output.commit_sha, commit.sha);
    assert.equal(output.commit_url, `https://github.com/${GITHUB_OWNER}/${GITHUB_REPO}/commit/${commit.sha}`);
    assert.equal(
      output.html_url,
      `https://github.com/${GITHUB_OWNER}/${GITHUB_REPO}/blob/main/workflows/phishing%20triage.yaml`,
    );
  });

  it('create_or_update_file updates an existing file with its current sha, on the branch given', async () => {
    const oldSha = gh.seed('workflows/triage.yaml', 'name: old\n', 'staging');
    const before = gh.requests.length;
    const output = (await succeeded(main.id, 'create_or_update_file', {
      ...repo,
      path: 'workflows/triage.yaml',
      content: 'name: new\n',
      message: 'Update triage',
      branch: 'staging',
      committer: { name: 'Osprey', email: 'osprey@acme.example' },
    })) as Record<string, unknown>;
    const [lookup, put] = gh.requests.slice(before);
    assert.equal(lookup!.query.get('ref'), 'staging');
    assert.deepEqual(put!.json, {
      message: 'Update triage',
      content: Buffer.from('name: new\n').toString('base64'),
      branch: 'staging',
      committer: { name: 'Osprey', email: 'osprey@acme.example' },
      sha: oldSha,
    });
    assert.equal(output.created, false);
    assert.notEqual(output.sha, oldSha);
    assert.equal(gh.branches.get('staging')!.get('workflows/triage.yaml')!.toString(), 'name: new\n');
    assert.deepEqual(gh.commits.at(-1)!.committer, { name: 'Osprey', email: 'osprey@acme.example' });
  });

  it('create_or_update_file refuses to replace a directory', async () => {
    gh.seed('workflows/archive/a.yaml', 'name: a\n');
    const before = gh.requests.length;
    const message = await failed(
      main.id,
      'create_or_update_file',
      { ...repo, path: 'workflows/archive', content: 'x', message: 'x' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /workflows\/archive is a directory/);
    assert.equal(gh.requests.length, before + 1, 'only the lookup: nothing was committed');
    assert.equal(gh.branches.get('main')!.get('workflows/archive'), undefined);
  });

  it('a stale sha (409) fails with REMOTE_REJECTED', async () => {
    gh.seed('workflows/race.yaml', 'name: one\n');
    // Someone else changed the file between the lookup (which answers the old sha) and the PUT.
    const stale = '0'.repeat(40);
    gh.failNext({
      status: 200,
      json: { type: 'file', path: 'workflows/race.yaml', sha: stale, encoding: 'base64', content: '' },
    });
    const message = await failed(
      main.id,
      'create_or_update_file',
      { ...repo, path: 'workflows/race.yaml', content: 'name: two\n', message: 'x' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /workflows\/race\.yaml does not match 0{40}/);
    assert.equal((gh.requests.at(-1)!.json as { sha: string }).sha, stale);
    assert.equal(gh.branches.get('main')!.get('workflows/race.yaml')!.toString(), 'name: one\n');
  });

  it('get_file returns the content decoded as UTF-8, or as base64', async () => {
    const sha = gh.seed('workflows/unicode.yaml', WORKFLOW);
    const output = (await succeeded(main.id, 'get_file', {
      ...repo,
      path: 'workflows/unicode.yaml',
    })) as Record<string, unknown>;
    const req = gh.requests.at(-1)!;
    assert.equal(req.method, 'GET');
    assert.equal(req.path, contents('workflows/unicode.yaml'));
    assert.equal(req.query.get('ref'), null);
    assertGitHubHeaders(req);
    assert.deepEqual(output, {
      path: 'workflows/unicode.yaml',
      name: 'unicode.yaml',
      sha,
      size: Buffer.byteLength(WORKFLOW),
      content: WORKFLOW,
      encoding: 'utf-8',
      html_url: `https://github.com/${GITHUB_OWNER}/${GITHUB_REPO}/blob/main/workflows/unicode.yaml`,
    });

    const raw = (await succeeded(main.id, 'get_file', {
      ...repo,
      path: 'workflows/unicode.yaml',
      ref: 'main',
      decode: false,
    })) as {
      content: string;
      encoding: string;
    };
    assert.equal(gh.requests.at(-1)!.query.get('ref'), 'main');
    assert.equal(raw.encoding, 'base64');
    assert.equal(raw.content, Buffer.from(WORKFLOW, 'utf8').toString('base64'));
  });

  it('get_file of a file that is not UTF-8 fails unless decode is false', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80]);
    gh.seed('assets/logo.png', png);
    const message = await failed(
      main.id,
      'get_file',
      { ...repo, path: 'assets/logo.png' },
      'REMOTE_REJECTED',
    );
    assert.match(message, /assets\/logo\.png is not UTF-8 text/);
    const raw = (await succeeded(main.id, 'get_file', {
      ...repo,
      path: 'assets/logo.png',
      decode: false,
    })) as {
      content: string;
    };
    assert.deepEqual(Buffer.from(raw.content, 'base64'), png);
  });

  it('get_file of a missing file fails with NOT_FOUND, of a directory with REMOTE_REJECTED', async () => {
    let message = await failed(main.id, 'get_file', { ...repo, path: 'nothing/here.yaml' }, 'NOT_FOUND');
    assert.match(message, /Not Found/);
    message = await failed(main.id, 'get_file', { ...repo, path: 'workflows' }, 'REMOTE_REJECTED');
    assert.match(message, /workflows is a directory/);
    message = await failed(
      main.id,
      'get_file',
      { ...repo, path: 'workflows/triage.yaml', ref: 'nope' },
      'NOT_FOUND',
    );
    assert.match(message, /No commit found for the ref nope/);
  });

  it('create_issue posts the title, body and labels and returns the issue', async () => {
    const output = (await succeeded(main.id, 'create_issue', {
      ...repo,
      title: 'Workflow phishing-triage failed 3 times',
      body: 'See execution `01J…`.',
      labels: ['osprey', 'bug'],
      assignees: ['octocat'],
    })) as Record<string, unknown>;
    const req = gh.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `/repos/${GITHUB_OWNER}/${GITHUB_REPO}/issues`);
    assertGitHubHeaders(req);
    assert.deepEqual(req.json, {
      title: 'Workflow phishing-triage failed 3 times',
      body: 'See execution `01J…`.',
      labels: ['osprey', 'bug'],
      assignees: ['octocat'],
    });
    const number = gh.issues.at(-1)!.number;
    assert.deepEqual(output, {
      id: 2_000_000 + number,
      number,
      title: 'Workflow phishing-triage failed 3 times',
      state: 'open',
      html_url: `https://github.com/${GITHUB_OWNER}/${GITHUB_REPO}/issues/${number}`,
      url: `${gh.url}/repos/${GITHUB_OWNER}/${GITHUB_REPO}/issues/${number}`,
      labels: ['osprey', 'bug'],
      assignees: ['octocat'],
      created_at: '2024-11-12T10:00:00Z',
    });
    await succeeded(main.id, 'create_issue', { ...repo, title: 'Bare' });
    assert.deepEqual(gh.requests.at(-1)!.json, { title: 'Bare' });
  });

  it('add_issue_comment comments on the issue; an unknown issue fails with NOT_FOUND', async () => {
    const issue = (await succeeded(main.id, 'create_issue', { ...repo, title: 'Comment here' })) as {
      number: number;
    };
    const output = (await succeeded(main.id, 'add_issue_comment', {
      ...repo,
      issue_number: issue.number,
      body: 'Re-ran: **green**.',
    })) as Record<string, unknown>;
    const req = gh.requests.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, `/repos/${GITHUB_OWNER}/${GITHUB_REPO}/issues/${issue.number}/comments`);
    assertGitHubHeaders(req);
    assert.deepEqual(req.json, { body: 'Re-ran: **green**.' });
    assert.equal(output.body, 'Re-ran: **green**.');
    assert.equal(output.user, 'osprey-bot');
    assert.match(output.html_url as string, new RegExp(`/issues/${issue.number}#issuecomment-\\d+$`));
    assert.deepEqual(gh.issues.find((i) => i.number === issue.number)!.comments, ['Re-ran: **green**.']);
    await failed(main.id, 'add_issue_comment', { ...repo, issue_number: 9999, body: 'x' }, 'NOT_FOUND');
  });

  it('a repository the token cannot see fails with NOT_FOUND', async () => {
    const message = await failed(
      main.id,
      'create_issue',
      { owner: GITHUB_OWNER, repo: 'private-repo', title: 'x' },
      'NOT_FOUND',
    );
    assert.match(message, /Not Found/);
  });

  it('a wrong token fails with AUTH_FAILED and "Bad credentials", without retrying', async () => {
    const before = gh.requests.length;
    const message = await failed(
      wrong.id,
      'get_file',
      { ...repo, path: 'workflows/triage.yaml' },
      'AUTH_FAILED',
    );
    assert.match(message, /Bad credentials/);
    assert.equal(gh.requests.length, before + 1);
    assert.ok(!message.includes(WRONG_TOKEN));
  });

  it('refuses invalid parameters before calling GitHub, naming the field', async () => {
    const before = gh.requests.length;
    await invalidParams(
      main.id,
      'create_or_update_file',
      { ...repo, path: 'a.yaml', content: 'x' },
      'params.message',
    );
    await invalidParams(main.id, 'get_file', { ...repo, path: '/etc/passwd' }, 'params.path');
    await invalidParams(main.id, 'get_file', { ...repo, path: 'a/../../../../user' }, 'params.path');
    await invalidParams(main.id, 'get_file', { ...repo, path: '..' }, 'params.path');
    await invalidParams(main.id, 'get_file', { ...repo, path: 'a//b' }, 'params.path');
    await invalidParams(
      main.id,
      'create_or_update_file',
      { owner: GITHUB_OWNER, repo: '..', path: 'a', content: 'x', message: 'x' },
      'params.repo',
    );
    await invalidParams(
      main.id,
      'get_file',
      { owner: 'acme/../x', repo: GITHUB_REPO, path: 'a' },
      'params.owner',
    );
    await invalidParams(
      main.id,
      'add_issue_comment',
      { ...repo, issue_number: '7', body: 'x' },
      'params.issue_number',
    );
    await invalidParams(main.id, 'create_issue', { ...repo, title: 'x', milestone: 3 }, 'params.milestone');
    assert.equal(gh.requests.length, before);
  });

  it('a 429 with Retry-After is retried after the wait and then succeeds', async () => {
    gh.failNext(
      githubError(
        429,
        'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
        'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
        { 'retry-after': '1' },
      ),
    );
    const before = gh.requests.length;
    const [output, ms] = await timed(() =>
      succeeded(main.id, 'create_issue', { ...repo, title: 'After a wait' }),
    );
    assert.equal((output as { title: string }).title, 'After a wait');
    assert.equal(gh.requests.length, before + 2, 'the 429, then the retry');
    assert.ok(ms >= 900, `waited for Retry-After (${ms} ms)`);
  });

  it('with retries: 0 a 429 fails with RATE_LIMITED', async () => {
    gh.failNext(
      githubError(429, 'You have exceeded a secondary rate limit.', undefined, { 'retry-after': '1' }),
    );
    const before = gh.requests.length;
    const message = await failed(
      noRetry.id,
      'get_file',
      { ...repo, path: 'workflows/triage.yaml' },
      'RATE_LIMITED',
    );
    assert.match(message, /secondary rate limit/);
    assert.equal(gh.requests.length, before + 1);
  });

  it('a body that is not the JSON it claims to be fails with INVALID_RESPONSE', async () => {
    gh.failNext({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      text: '{"type":"file","content":"bmFt',
    });
    await failed(main.id, 'get_file', { ...repo, path: 'workflows/triage.yaml' }, 'INVALID_RESPONSE');
  });

  it('the connectivity test checks the token: success with the right one, failure with a wrong one', async () => {
    const before = gh.requests.length;
    const ok = await connectivity(main.id);
    assert.equal(ok.status, 'success', JSON.stringify(ok));
    assert.equal(gh.requests.length, before + 1);
    assert.equal(gh.requests.at(-1)!.path, '/rate_limit');
    assertGitHubHeaders(gh.requests.at(-1)!);

    const bad = await connectivity(wrong.id);
    assert.equal(bad.status, 'failed', JSON.stringify(bad));
    assert.match(bad.message, /Bad credentials/);
  });

  it('runs as workflow steps: commit a workflow definition, read it back and open an issue', async () => {
    const x = await runWorkflow(
      `name: Version a workflow
trigger: { type: on_demand }
steps:
  - id: commit
    kind: action
    action: github.create_or_update_file
    integration: github_main
    with:
      owner: ${GITHUB_OWNER}
      repo: ${GITHUB_REPO}
      path: "workflows/{{ $.event.name }}.yaml"
      content: "{{ $.event.yaml }}"
      message: "Save {{ $.event.name }}"
  - id: read
    kind: action
    action: github.get_file
    integration: github_main
    with: { owner: ${GITHUB_OWNER}, repo: ${GITHUB_REPO}, path: "{{ $.commit.path }}" }
  - id: issue
    kind: action
    action: github.create_issue
    integration: github_main
    with: { owner: ${GITHUB_OWNER}, repo: ${GITHUB_REPO}, title: "Review {{ $.commit.path }}", body: "{{ $.commit.commit_url }}" }
  - id: done
    kind: exit
    output: { created: "{{ $.commit.created }}", same: "{{ $.read.content = $.event.yaml }}", sha: "{{ $.read.sha = $.commit.sha }}", issue: "{{ $.issue.number }}" }
`,
      { name: 'contain-host', yaml: WORKFLOW },
    );
    assert.equal(x.status, 'succeeded', JSON.stringify(x.error));
    const out = x.output as { created: boolean; same: boolean; sha: boolean; issue: number };
    assert.deepEqual(
      { ...out, issue: typeof out.issue },
      { created: true, same: true, sha: true, issue: 'number' },
    );
    assert.equal(gh.branches.get('main')!.get('workflows/contain-host.yaml')!.toString('utf8'), WORKFLOW);
    assert.equal(gh.commits.at(-1)!.message, 'Save contain-host');
  });

  it('never shows the token in an answer', () => {
    assert.ok(gh.requests.some((r) => r.headers.authorization === `Bearer ${GITHUB_TOKEN}`));
    assertNoLeak([GITHUB_TOKEN, WRONG_TOKEN]);
  });
});

import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { Scheduler } from '../src/engine/scheduler.js';
import type { Worker } from '../src/engine/worker.js';
import { startTestApp, type KeyPair, type TestApp } from './helpers/app.js';
import { testWorker } from './helpers/worker.js';
import {
  GITHUB_OWNER,
  GITHUB_REPO,
  GITHUB_TOKEN,
  gitHubStandIn,
  type GitHubStandIn,
} from './vendors/github.js';
import { SLACK_WEBHOOK_PATH, slackStandIn, type SlackStandIn } from './vendors/slack.js';
import { TEAMS_WEBHOOK_PATH, teamsStandIn, type TeamsStandIn } from './vendors/teams.js';

interface Execution {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string; step_id?: string } | null;
  steps: { key: string; step_id: string; status: string; output: unknown }[];
}

interface WorkflowView {
  id: string;
  name: string;
  tags: string[];
  current_revision_id: string;
  published_revision_id: string | null;
}

/** The first run the copy forwards, as the copy's output carries it. */
interface ForwardedRun {
  id: string;
  status: string;
  output: unknown;
  error: { code: string; message: string } | null;
  failed_steps: { step: string; code: string; message: string }[];
}

const ENRICH_IP = `name: Enrich IP
description: Looks an address up
tags: [intel]
trigger:
  type: on_demand
  inputs: { type: object, properties: { ip: { type: string } } }
steps:
  - id: shape
    kind: transform
    value: { ip: "{{ $.event.ip }}", checked: true }
  - id: done
    kind: exit
    output: "{{ $.shape }}"
`;

// Its runs fail without a domain: the copy forwards the run's error and the failed step.
const CHECK_DOMAIN = `name: Check domain
trigger: { type: on_demand }
steps:
  - id: lookup
    kind: transform
    value: "{{ $exists($.event.domain) ? $.event.domain : $error('no domain given') }}"
  - id: done
    kind: exit
    output: { domain: "{{ $.lookup }}" }
`;

const NIGHTLY_REPORT = `name: Nightly report
trigger: { type: on_demand }
steps:
  - { id: done, kind: exit, output: { sent: true } }
`;

const TAG = 'Workflow Importer';

/** Bytes written as =XX (quoted-printable and RFC 2047 "Q" words), read back as UTF-8. */
function unhex(text: string): string {
  return Buffer.from(
    text.replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

/** A received message's decoded subject and plain-text body. */
function readMail(raw: string): { subject: string; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const subject = (/^Subject: (.*)$/m.exec(head)?.[1] ?? '')
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_m, q: string) => unhex(q.replaceAll('_', ' ')));
  return { subject, body: unhex(raw.slice(split + 4).replace(/=\r\n/g, '')).replace(/\r\n/g, '\n') };
}
const TERMINAL = ['succeeded', 'failed', 'cancelled'];

/**
 * The shipped templates "Copy a workflow" and "Back up workflows to Git", installed through the API
 * and run by a worker: the copy goes from workspace A to workspace B through two osprey
 * integrations on a real port, waits for the copy's first run in B and forwards it to local
 * stand-ins for Slack, Teams and an SMTP server; the backup commits every workflow's YAML to a
 * GitHub stand-in.
 */
describe('templates: copy a workflow between workspaces, back up workflows to Git', () => {
  let t: TestApp;
  let worker: Worker;
  let base: string;
  let keyB: KeyPair;
  let slack: SlackStandIn;
  let teams: TeamsStandIn;
  let github: GitHubStandIn;
  let smtp: SMTPServer;
  const mails: { to: string[]; raw: string }[] = [];
  /** The installed copy workflows in A, by notify channel. */
  const copier: Record<string, string> = {};

  before(async () => {
    smtp = new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          mails.push({
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb(null, 'queued');
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    [slack, teams, github] = await Promise.all([slackStandIn(), teamsStandIn(), gitHubStandIn()]);

    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    worker = testWorker(t, { pollMs: 50, concurrency: 4 });
    await worker.start();

    const ws = await t.request({ method: 'POST', url: '/v1/workspaces', payload: { name: 'workspace-b' } });
    assert.equal(ws.statusCode, 201, ws.body);
    keyB = (ws.json() as { api_key: KeyPair }).api_key;
    const operatorB = await t.keyWithRole('operator', keyB);

    const osprey = (key: KeyPair): Record<string, unknown> => ({
      base_url: base,
      client_id: key.client_id,
      client_secret: key.client_secret,
    });
    const integrations: [string, string, Record<string, unknown>][] = [
      ['osprey-a', 'osprey', osprey(t.owner)],
      ['osprey-b', 'osprey', osprey(keyB)],
      ['osprey-b-operator', 'osprey', osprey(operatorB)],
      [
        'slack-secops',
        'slack',
        { webhook_url: `${slack.url}${SLACK_WEBHOOK_PATH}`, base_url: `${slack.url}/api` },
      ],
      ['teams-secops', 'teams', { webhook_url: `${teams.url}${TEAMS_WEBHOOK_PATH}` }],
      [
        'mail-relay',
        'email',
        {
          host: '127.0.0.1',
          port: (smtp.server.address() as AddressInfo).port,
          security: 'none',
          from: 'osprey@example.com',
        },
      ],
      ['github-backup', 'github', { base_url: github.url, token: GITHUB_TOKEN }],
    ];
    for (const [name, app, configuration] of integrations) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: { name, app, configuration },
      });
      assert.equal(res.statusCode, 201, res.body);
    }

    for (const yaml of [ENRICH_IP, CHECK_DOMAIN, NIGHTLY_REPORT]) await create(yaml, true);
  });
  after(async () => {
    await worker.stop();
    await t.close();
    await Promise.all([slack.close(), teams.close(), github.close()]);
    await new Promise<void>((r) => smtp.close(() => r()));
  });

  async function create(yaml: string, publish = false): Promise<string> {
    const res = await t.request({ method: 'POST', url: '/v1/workflows', payload: { yaml } });
    assert.equal(res.statusCode, 201, res.body);
    const id = (res.json() as { workflow: { id: string } }).workflow.id;
    if (publish) {
      const pub = await t.request({ method: 'POST', url: `/v1/workflows/${id}/publish`, payload: {} });
      assert.equal(pub.statusCode, 200, pub.body);
    }
    return id;
  }

  async function install(name: string, parameters: Record<string, unknown>): Promise<WorkflowView[]> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/templates/${name}/install`,
      payload: { parameters },
    });
    assert.equal(res.statusCode, 201, res.body);
    const workflows = (res.json() as { workflows: WorkflowView[] }).workflows;
    for (const w of workflows) assert.ok(w.published_revision_id, `${w.name} is published`);
    return workflows;
  }

  async function start(workflowId: string, inputs: unknown, as?: KeyPair): Promise<string> {
    const res = await t.request({
      method: 'POST',
      url: `/v1/workflows/${workflowId}/executions`,
      payload: { inputs },
      ...(as && { as }),
    });
    assert.equal(res.statusCode, 201, res.body);
    return (res.json() as { execution_id: string }).execution_id;
  }

  async function finished(id: string, as?: KeyPair, timeoutMs = 30_000): Promise<Execution> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const res = await t.request({ method: 'GET', url: `/v1/executions/${id}`, ...(as && { as }) });
      assert.equal(res.statusCode, 200, res.body);
      const e = (res.json() as { execution: Execution }).execution;
      if (TERMINAL.includes(e.status)) return e;
      assert.ok(Date.now() < deadline, `execution ${id} still ${e.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** B's workflows with the importer's tag, by name. */
  async function copiesInB(name: string): Promise<WorkflowView[]> {
    const res = await t.request({
      method: 'GET',
      url: `/v1/workflows?tag=${encodeURIComponent(TAG)}&page_size=500`,
      as: keyB,
    });
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { workflows: WorkflowView[] }).workflows.filter((w) => w.name === name);
  }

  /** Waits until the copy of `name` is published in B, as the copy's watch loop runs. */
  async function publishedCopyInB(name: string, copyRun: string): Promise<WorkflowView> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const [copy] = await copiesInB(name);
      if (copy?.published_revision_id) return copy;
      const run = (await t.request({ method: 'GET', url: `/v1/executions/${copyRun}` })).json() as {
        execution: Execution;
      };
      assert.ok(
        !TERMINAL.includes(run.execution.status),
        `the copy ended early: ${JSON.stringify(run.execution)}`,
      );
      assert.ok(Date.now() < deadline, `no published copy of ${name} in B`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('lists both templates and refuses an install without its required parameters', async () => {
    const res = await t.request({ method: 'GET', url: '/v1/templates' });
    assert.equal(res.statusCode, 200, res.body);
    const templates = (res.json() as { templates: { name: string; workflows: string[] }[] }).templates;
    const byName = new Map(templates.map((x) => [x.name, x.workflows]));
    assert.deepEqual(byName.get('copy-workflow'), ['Copy a workflow']);
    assert.deepEqual(byName.get('backup-workflows-to-git'), [
      'Back up workflows to Git (one page)',
      'Back up workflows to Git',
    ]);

    const refused = await t.request({
      method: 'POST',
      url: '/v1/templates/copy-workflow/install',
      payload: {
        parameters: { source_integration: 'osprey-a', notify_channel: 'slack', notify_integration: 'x' },
      },
    });
    assert.equal(refused.statusCode, 400, refused.body);
    const body = refused.json() as { code: string; message: string };
    assert.equal(body.code, 'INVALID_ARGUMENT');
    assert.match(body.message, /parameters\.target_integration/);
    const badChannel = await t.request({
      method: 'POST',
      url: '/v1/templates/copy-workflow/install',
      payload: {
        parameters: {
          source_integration: 'osprey-a',
          target_integration: 'osprey-b',
          notify_channel: 'pager',
          notify_integration: 'x',
        },
      },
    });
    assert.equal(badChannel.statusCode, 400, badChannel.body);
    assert.match((badChannel.json() as { message: string }).message, /parameters\.notify_channel/);
  });

  it('copies a workflow from A to B, tags and publishes it, and forwards its first run to Slack', async () => {
    const [installed] = await install('copy-workflow', {
      source_integration: 'osprey-a',
      target_integration: 'osprey-b',
      notify_channel: 'slack',
      notify_integration: 'slack-secops',
      poll_interval: '1s',
      poll_limit: 30,
    });
    copier.slack = installed!.id;
    const copyRun = await start(copier.slack, { workflow_name: 'Enrich IP' });

    // The copy is in B, tagged and published, while the copy workflow waits for its first run.
    const copy = await publishedCopyInB('Enrich IP', copyRun);
    assert.deepEqual([...copy.tags].sort(), [TAG, 'intel']);
    assert.equal(copy.published_revision_id, copy.current_revision_id);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(slack.messages.length, 0, 'nothing is reported before the copy has run');

    // Someone runs the copy in B (its published revision).
    const runInB = await start(copy.id, { ip: '203.0.113.9' }, keyB);
    const firstRun = await finished(runInB, keyB);
    assert.equal(firstRun.status, 'succeeded');

    const ex = await finished(copyRun);
    assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error ?? ex.output));
    const out = ex.output as {
      copy_id: string;
      tags: string[];
      published: boolean;
      execution: ForwardedRun;
      notified: string;
    };
    assert.equal(out.copy_id, copy.id);
    assert.deepEqual([...out.tags].sort(), [TAG, 'intel']);
    assert.equal(out.published, true);
    assert.equal(out.notified, 'slack');
    assert.deepEqual(out.execution, {
      id: runInB,
      status: 'succeeded',
      output: { ip: '203.0.113.9', checked: true },
      error: null,
      failed_steps: [],
    });
    // It polled, waiting between looks, and stopped once the run had ended.
    const polls = ex.steps.filter((s) => s.step_id === 'runs').length;
    const waits = ex.steps.filter((s) => s.step_id === 'pause').length;
    assert.ok(polls >= 2 && polls < 30, `polled ${polls} times`);
    assert.equal(waits, polls - 1);

    assert.equal(slack.messages.length, 1);
    const text = slack.messages[0]!.text;
    assert.equal(
      text,
      [
        '*Workflow copied: "Enrich IP", first run succeeded*',
        `Workflow "Enrich IP" was copied into the target workspace as ${copy.id}, tagged "${TAG}" and published.`,
        `Its first run, ${runInB}, ended: succeeded`,
        'Output: {"ip":"203.0.113.9","checked":true}',
        'Errors: none',
      ].join('\n'),
    );

    // The copy's YAML is the source's published revision, and A does not see B's copy.
    const revision = await t.request({
      method: 'GET',
      url: `/v1/workflows/${copy.id}/revisions/${copy.published_revision_id}`,
      as: keyB,
    });
    assert.match((revision.json() as { yaml: string }).yaml, /checked: true/);
    assert.equal((await t.request({ method: 'GET', url: `/v1/workflows/${copy.id}` })).statusCode, 404);
    // B's audit log shows the import, the tagging and the publish by B's key.
    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=100', as: keyB });
    const actions = (audit.json() as { audit_logs: { action: string; resource_id: string }[] }).audit_logs
      .filter((e) => e.resource_id === copy.id)
      .map((e) => e.action);
    for (const a of ['Workflow created', 'Workflow updated', 'Workflow published'])
      assert.ok(actions.includes(a), `B's audit log has "${a}": ${actions.join(', ')}`);
    // No key secret reaches the run's record or the message.
    for (const secret of [t.owner.client_secret, keyB.client_secret])
      assert.ok(!JSON.stringify(ex).includes(secret) && !text.includes(secret));
  });

  it("forwards a failing first run's status, output and errors to Teams", async () => {
    const [installed] = await install('copy-workflow', {
      source_integration: 'osprey-a',
      target_integration: 'osprey-b',
      notify_channel: 'teams',
      notify_integration: 'teams-secops',
      poll_interval: '1s',
      poll_limit: 30,
    });
    copier.teams = installed!.id;
    const copyRun = await start(copier.teams, { workflow_name: 'Check domain' });
    const copy = await publishedCopyInB('Check domain', copyRun);
    const runInB = await start(copy.id, {}, keyB);
    const failed = await finished(runInB, keyB);
    assert.equal(failed.status, 'failed');

    const ex = await finished(copyRun);
    assert.equal(ex.status, 'succeeded', JSON.stringify(ex.error ?? ex.output));
    const forwarded = (ex.output as { execution: ForwardedRun }).execution;
    assert.equal(forwarded.id, runInB);
    assert.equal(forwarded.status, 'failed');
    assert.equal(forwarded.output, null);
    assert.equal(forwarded.error?.code, failed.error?.code);
    assert.match(forwarded.error!.message, /no domain given/);
    assert.deepEqual(
      forwarded.failed_steps.map((s) => s.step),
      ['lookup'],
    );

    assert.equal(teams.delivered.length, 1);
    const card = teams.delivered[0] as { title: string; text: string; themeColor: string };
    assert.equal(card.title, 'Workflow copied: "Check domain", first run failed');
    assert.equal(card.themeColor, 'D7000C');
    assert.match(card.text, new RegExp(`Its first run, ${runInB}, ended: failed\nOutput: none\nErrors: `));
    assert.ok(card.text.includes(`${failed.error!.code}: ${failed.error!.message}`), card.text);
    assert.match(card.text, /step lookup failed with \w+: .*no domain given/);
  });

  it('gives up after poll_limit looks when the copy never runs, and says so by email', async () => {
    const [installed] = await install('copy-workflow', {
      source_integration: 'osprey-a',
      target_integration: 'osprey-b',
      notify_channel: 'email',
      notify_integration: 'mail-relay',
      notify_to: 'soc@example.com',
      poll_interval: '1s',
      poll_limit: 2,
    });
    copier.email = installed!.id;
    const ex = await finished(await start(copier.email, { workflow_name: 'Nightly report' }));
    assert.equal(ex.status, 'failed');
    assert.equal(ex.error?.code, 'EXIT_FAILURE');
    const out = ex.output as { error: string; copy_id: string; execution: unknown };
    assert.match(out.error, /No run of it appeared in the target workspace within 2 checks, 1s apart\.$/);
    assert.equal(out.execution, null);
    const [copy] = await copiesInB('Nightly report');
    assert.equal(out.copy_id, copy!.id);
    assert.equal(ex.steps.filter((s) => s.step_id === 'runs').length, 2);

    assert.equal(mails.length, 1);
    assert.deepEqual(mails[0]!.to, ['soc@example.com']);
    const mail = readMail(mails[0]!.raw);
    assert.equal(mail.subject, 'Workflow copied: "Nightly report", no run yet');
    assert.equal(
      mail.body.trim(),
      `Workflow "Nightly report" was copied into the target workspace as ${copy!.id}, tagged "${TAG}" and ` +
        'published.\nNo run of it appeared in the target workspace within 2 checks, 1s apart.',
    );
  });

  it('fails clearly, copying nothing, when no workflow or several have the name, or it is unpublished', async () => {
    await create(NIGHTLY_REPORT.replace('Nightly report', 'Duplicate playbook'), true);
    await create(NIGHTLY_REPORT.replace('Nightly report', 'Duplicate playbook'));
    const draftId = await create(NIGHTLY_REPORT.replace('Nightly report', 'Draft only'));
    const before = await t.request({ method: 'GET', url: '/v1/workflows?page_size=500', as: keyB });
    const messages = slack.messages.length;

    // Names match exactly: "enrich ip" is not "Enrich IP".
    const none = await finished(await start(copier.slack!, { workflow_name: 'enrich ip' }));
    assert.equal(none.status, 'failed');
    assert.equal(none.error?.code, 'EXIT_FAILURE');
    assert.deepEqual(none.output, {
      error:
        'no workflow is named "enrich ip" in the source workspace (the workspace of the osprey integration ' +
        '"osprey-a"); names must match exactly, case included',
    });

    const several = await finished(await start(copier.slack!, { workflow_name: 'Duplicate playbook' }));
    assert.equal(several.status, 'failed');
    const dup = several.output as { error: string; workflow_ids: string[] };
    assert.equal(dup.workflow_ids.length, 2);
    assert.equal(
      dup.error,
      `2 workflows are named "Duplicate playbook" in the source workspace (${dup.workflow_ids.join(', ')}); ` +
        'rename all but the one to copy, then run the copy again',
    );

    const draft = await finished(await start(copier.slack!, { workflow_name: 'Draft only' }));
    assert.equal(draft.status, 'failed');
    assert.deepEqual(draft.output, {
      error:
        `the workflow "Draft only" (${draftId}) has no published revision in the source workspace; ` +
        'publish it first (the copy takes the published revision)',
      workflow_id: draftId,
    });

    for (const ex of [none, several, draft])
      assert.ok(!ex.steps.some((s) => s.step_id === 'import'), 'nothing was imported');
    const afterwards = await t.request({ method: 'GET', url: '/v1/workflows?page_size=500', as: keyB });
    assert.deepEqual(afterwards.json(), before.json(), 'B is unchanged');
    assert.equal(slack.messages.length, messages, 'a failed copy notifies nobody');
  });

  it('fails clearly when the target key may not create workflows (an operator key in B)', async () => {
    const [installed] = await install('copy-workflow', {
      source_integration: 'osprey-a',
      target_integration: 'osprey-b-operator',
      notify_channel: 'slack',
      notify_integration: 'slack-secops',
      poll_interval: '1s',
      poll_limit: 5,
    });
    const copiesBefore = (await copiesInB('Enrich IP')).length;
    const ex = await finished(await start(installed!.id, { workflow_name: 'Enrich IP' }));
    assert.equal(ex.status, 'failed');
    assert.equal(ex.error?.code, 'EXIT_FAILURE');
    const out = ex.output as { error: string; code: string };
    assert.equal(out.code, 'AUTH_FAILED');
    assert.equal(
      out.error,
      'the target workspace refused to import "Enrich IP": Osprey: POST /v1/workflows/import answered 403: ' +
        "You don't have permission to access this resource. (the API key of the osprey integration " +
        '"osprey-b-operator" must be allowed to create and publish workflows: role contributor or owner)',
    );
    const importStep = ex.steps.find((s) => s.step_id === 'import');
    assert.equal(importStep?.status, 'failed');
    assert.ok(!ex.steps.some((s) => ['tag', 'publish', 'runs'].includes(s.step_id)));
    const unnamed = await t.request({ method: 'GET', url: '/v1/workflows?name=Enrich%20IP', as: keyB });
    assert.equal((unnamed.json() as { workflows: unknown[] }).workflows.length, copiesBefore);
  });

  it('refuses to start when email is the channel but notify_to is no address', async () => {
    const [installed] = await install('copy-workflow', {
      source_integration: 'osprey-a',
      target_integration: 'osprey-b',
      notify_channel: 'email',
      notify_integration: 'mail-relay',
    });
    const ex = await finished(await start(installed!.id, { workflow_name: 'Enrich IP' }));
    assert.equal(ex.status, 'failed');
    assert.deepEqual(ex.output, {
      error:
        'notify_to must be the recipient\'s email address when notify_channel is email (it is "webhook"); ' +
        'reinstall the template with notify_to set',
    });
    assert.ok(!ex.steps.some((s) => s.step_id === 'find'));
  });

  it('backs up every workflow to GitHub on its schedule, then commits only what changed', async () => {
    const [onePage, scheduled] = await install('backup-workflows-to-git', {
      osprey_integration: 'osprey-a',
      github_integration: 'github-backup',
      owner: GITHUB_OWNER,
      repo: GITHUB_REPO,
      branch: 'main',
      folder: 'osprey/workflows',
      cron: '0 3 * * *',
      // A small page, so that the nested workflow pages through them by calling itself.
      page_size: 4,
    });
    const list = await t.request({ method: 'GET', url: '/v1/workflows?page_size=500' });
    const all = (list.json() as { workflows: WorkflowView[] }).workflows;
    assert.ok(all.length > 8, `${all.length} workflows: more than two pages`);
    const pathOf = (w: WorkflowView): string =>
      `osprey/workflows/${w.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '')}-${w.id}.yaml`;

    // The scheduler fires it once (the first tick only computes the next one).
    const scheduler = new Scheduler({
      db: t.db,
      queue: t.services.queue,
      clock: { now: () => Date.now() },
      logger: pino({ level: 'silent' }),
    });
    await scheduler.tick();
    await t.db.exec(`UPDATE workflows SET schedule_next_at = now() - interval '1 second' WHERE id = $1`, [
      scheduled!.id,
    ]);
    assert.equal(await scheduler.tick(), 1);
    const runs = await t.request({ method: 'GET', url: `/v1/executions?workflow_id=${scheduled!.id}` });
    const [tick] = (runs.json() as { executions: { id: string }[] }).executions;
    const first = await finished(tick!.id, undefined, 60_000);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    const out1 = first.output as { created: string[]; updated: string[]; unchanged: number };
    assert.deepEqual([...out1.created].sort(), all.map(pathOf).sort());
    assert.deepEqual(out1.updated, []);
    assert.equal(out1.unchanged, 0);

    // One nested run per page of 4.
    const pages = await t.request({ method: 'GET', url: `/v1/executions?workflow_id=${onePage!.id}` });
    assert.equal((pages.json() as { executions: unknown[] }).executions.length, Math.ceil(all.length / 4));

    const files = github.branches.get('main')!;
    assert.equal(files.size, all.length);
    for (const w of all) {
      const rev = await t.request({
        method: 'GET',
        url: `/v1/workflows/${w.id}/revisions/${w.current_revision_id}`,
      });
      assert.equal(files.get(pathOf(w))?.toString('utf8'), (rev.json() as { yaml: string }).yaml, w.name);
    }
    const enrich = all.find((w) => w.name === 'Enrich IP')!;
    assert.equal(files.get(pathOf(enrich))?.toString('utf8'), ENRICH_IP);
    assert.equal(github.commits.length, all.length);
    assert.ok(github.commits.every((c) => c.branch === 'main'));
    assert.ok(
      github.commits.some((c) => c.message === `Back up workflow "Enrich IP" (${enrich.id}), revision 1`),
    );

    // One workflow changes; the next backup updates its file and leaves the others alone.
    const changed = ENRICH_IP.replace('Looks an address up', 'Looks an address up, and says so');
    const patch = await t.request({
      method: 'PATCH',
      url: `/v1/workflows/${enrich.id}`,
      payload: { yaml: changed },
    });
    assert.equal(patch.statusCode, 200, patch.body);
    const second = await finished(await start(scheduled!.id, {}), undefined, 60_000);
    assert.equal(second.status, 'succeeded', JSON.stringify(second.error));
    assert.deepEqual(second.output, {
      repository: `${GITHUB_OWNER}/${GITHUB_REPO}`,
      branch: 'main',
      created: [],
      updated: [pathOf(enrich)],
      unchanged: all.length - 1,
    });
    assert.equal(files.get(pathOf(enrich))?.toString('utf8'), changed);
    assert.equal(github.commits.length, all.length + 1);
    assert.equal(github.commits.at(-1)!.message, `Back up workflow "Enrich IP" (${enrich.id}), revision 2`);
    // The GitHub token never reaches the record.
    assert.ok(!JSON.stringify([first, second]).includes(GITHUB_TOKEN));
  });
});

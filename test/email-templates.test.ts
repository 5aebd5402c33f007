import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { startTestApp, type TestApp } from './helpers/app.js';
import { sign } from './helpers/orchestrate.js';

describe('email templates', () => {
  let t: TestApp;
  let server: SMTPServer;
  const received: string[] = [];

  before(async () => {
    server = new SMTPServer({
      logger: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      disableReverseLookup: true,
      onData(stream, _s, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push(Buffer.concat(chunks).toString('utf8'));
          cb();
        });
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    const port = (server.server.address() as AddressInfo).port;
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations',
      payload: {
        name: 'mail',
        app: 'email',
        is_default: true,
        configuration: { host: '127.0.0.1', port, security: 'none', from: 'osprey@example.com' },
      },
    });
    assert.equal(res.statusCode, 201, res.body);
  });
  after(async () => {
    await t.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('creates, lists, reads, updates and deletes templates, audited', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/email-templates',
      payload: {
        title: 'Incident notice',
        subject: 'Incident {{case}}',
        body: '<p>Hello {{user}},</p><p>{{summary}}</p>',
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const tpl = (created.json() as { template: { id: string; name: string; placeholders: string[] } })
      .template;
    assert.equal(tpl.name, 'incident_notice');
    assert.deepEqual(tpl.placeholders, ['case', 'user', 'summary']);
    const list = await t.request({ method: 'GET', url: '/v1/email-templates?q=incident' });
    const items = (list.json() as { templates: { name: string; body?: string }[] }).templates;
    assert.deepEqual(
      items.map((i) => i.name),
      ['incident_notice'],
    );
    assert.equal(items[0]!.body, undefined);
    const patched = await t.request({
      method: 'PATCH',
      url: '/v1/email-templates/incident_notice',
      payload: { description: 'sent to the reporter' },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const dup = await t.request({
      method: 'POST',
      url: '/v1/email-templates',
      payload: { title: 'Incident notice', body: 'x' },
    });
    assert.equal((dup.json() as { code: string }).code, 'EMAIL_TEMPLATE_NAME_TAKEN');
    const missing = await t.request({
      method: 'POST',
      url: '/v1/email-templates',
      payload: { title: 'No body' },
    });
    assert.equal(missing.statusCode, 400);
    const viewer = await t.keyWithRole('viewer');
    assert.equal(
      (await t.request({ method: 'GET', url: `/v1/email-templates/${tpl.id}`, as: viewer })).statusCode,
      200,
    );
    assert.equal(
      (await t.request({ method: 'DELETE', url: `/v1/email-templates/${tpl.id}`, as: viewer })).statusCode,
      403,
    );
    const audit = await t.request({ method: 'GET', url: '/v1/audit-logs?page_size=10' });
    const actions = (audit.json() as { audit_logs: { action: string; resource_id: string }[] }).audit_logs
      .filter((e) => e.resource_id === tpl.id)
      .map((e) => e.action);
    assert.deepEqual(actions.sort(), ['Email template created', 'Email template updated']);
  });

  it('sends a templated email with the values HTML-escaped, and refuses missing values', async () => {
    const sent = await t.request({
      method: 'POST',
      url: '/v1/integrations/mail/execute',
      payload: {
        action: 'send_email',
        params: {
          to: 'reporter@example.com',
          template: 'incident_notice',
          template_data: { case: 'C-9', user: 'Eve', summary: '<script>alert(1)</script> & more' },
        },
      },
    });
    assert.equal((sent.json() as { status: string }).status, 'succeeded', sent.body);
    const raw = received.at(-1)!;
    assert.match(raw, /Subject: Incident C-9/);
    assert.match(raw, /&lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; more/);
    assert.ok(!raw.includes('<script>'));

    const incomplete = await t.request({
      method: 'POST',
      url: '/v1/integrations/mail/execute',
      payload: {
        action: 'send_email',
        params: { to: 'reporter@example.com', template: 'incident_notice', template_data: { case: 'C-9' } },
      },
    });
    assert.equal(incomplete.statusCode, 400, incomplete.body);
    const fields = (incomplete.json() as { details: { field: string }[] }).details.map((d) => d.field);
    assert.deepEqual(fields.sort(), ['params.template_data.summary', 'params.template_data.user']);
    const unknown = await t.request({
      method: 'POST',
      url: '/v1/integrations/mail/execute',
      payload: { action: 'send_email', params: { to: 'a@example.com', template: 'nope' } },
    });
    assert.equal((unknown.json() as { error: { code: string } }).error.code, 'EMAIL_TEMPLATE_NOT_FOUND');
  });

  it('answers Orchestrate custom-templates (list without body, detail with template_body)', async () => {
    const list = await t.app.inject({
      method: 'GET',
      url: `/soarapi/openapi/v1/custom-templates/?${sign(t.owner)}`,
    });
    assert.equal(list.statusCode, 200, list.body);
    const page = list.json() as {
      count: number;
      results: { unique_id: string; title: string; template_body?: string }[];
    };
    assert.equal(page.count, 1);
    assert.equal(page.results[0]!.template_body, undefined);
    const detail = await t.app.inject({
      method: 'GET',
      url: `/soarapi/openapi/v1/custom-templates/${page.results[0]!.unique_id}/?${sign(t.owner)}`,
    });
    assert.equal(
      (detail.json() as { template_body: string }).template_body,
      '<p>Hello {{user}},</p><p>{{summary}}</p>',
    );
  });
});

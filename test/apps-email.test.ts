import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { SMTPServer } from 'smtp-server';
import { Worker } from '../src/engine/worker.js';
import { startTestApp, type TestApp } from './helpers/app.js';

const PASSWORD = 'smtp-Pa55word-xyz';

interface Received {
  from: string;
  to: string[];
  raw: string;
}

/** The email app end to end: an integration, the execute API and a workflow step, against a real SMTP server. */
describe('email app (SMTP) through integrations', () => {
  let t: TestApp;
  let worker: Worker;
  let server: SMTPServer;
  let port = 0;
  const received: Received[] = [];

  before(async () => {
    server = new SMTPServer({
      logger: false,
      authOptional: false,
      allowInsecureAuth: true,
      disabledCommands: ['STARTTLS'],
      authMethods: ['PLAIN', 'LOGIN'],
      disableReverseLookup: true,
      onAuth(auth, _s, cb) {
        if (auth.username === 'soc' && auth.password === PASSWORD) return cb(null, { user: 'soc' });
        return cb(Object.assign(new Error(`bad credentials ${auth.password}`), { responseCode: 535 }));
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          cb(null, 'queued as E2E1');
        });
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.server.address() as AddressInfo).port;
    t = await startTestApp({ env: { OSPREY_HTTP_ALLOW_NETWORKS: '127.0.0.0/8' } });
    worker = new Worker({
      db: t.db,
      executor: t.services.executor,
      logger: pino({ level: 'silent' }),
      pollMs: 50,
    });
    await worker.start();
    for (const [name, password] of [
      ['mail', PASSWORD],
      ['mail-wrong', 'not-the-password-123'],
    ] as const) {
      const res = await t.request({
        method: 'POST',
        url: '/v1/integrations',
        payload: {
          name,
          app: 'email',
          configuration: {
            host: '127.0.0.1',
            port,
            security: 'none',
            username: 'soc',
            password,
            from: 'Osprey <osprey@example.com>',
          },
        },
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(
        (res.json() as { integration: { configuration: { password: string } } }).integration.configuration
          .password,
        '********',
      );
    }
  });
  after(async () => {
    await worker.stop();
    await t.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('sends through the execute API, and the connectivity test logs in', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations/mail/execute',
      payload: {
        action: 'email.send_email',
        params: {
          to: ['analyst@example.com'],
          cc: 'lead@example.com',
          subject: 'Alert 42',
          text: 'Look at 203.0.113.7',
        },
      },
    });
    const body = res.json() as { status: string; output: { accepted: string[]; response: string } };
    assert.equal(body.status, 'succeeded', res.body);
    assert.deepEqual(body.output.accepted.sort(), ['analyst@example.com', 'lead@example.com']);
    assert.match(body.output.response, /queued as E2E1/);
    const mail = received.at(-1)!;
    assert.equal(mail.from, 'osprey@example.com');
    assert.match(mail.raw, /Subject: Alert 42/);
    assert.match(mail.raw, /Look at 203\.0\.113\.7/);
    const tested = await t.request({ method: 'POST', url: '/v1/integrations/mail/test' });
    assert.equal((tested.json() as { connectivity: { status: string } }).connectivity.status, 'success');
  });

  it('a wrong password fails with AUTH_FAILED and the password appears nowhere', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/v1/integrations/mail-wrong/execute',
      payload: { action: 'send_email', params: { to: 'a@example.com', subject: 'x', text: 'y' } },
    });
    const body = res.json() as { status: string; error: { code: string } };
    assert.equal(body.status, 'failed');
    assert.equal(body.error.code, 'AUTH_FAILED');
    assert.ok(!res.body.includes('not-the-password-123'), res.body);
    const tested = await t.request({ method: 'POST', url: '/v1/integrations/mail-wrong/test' });
    assert.ok(!tested.body.includes('not-the-password-123'));
    assert.equal(
      (tested.json() as { connectivity: { error_code: string } }).connectivity.error_code,
      'AUTH_FAILED',
    );
  });

  it('sends from a workflow step, with the parameters checked', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/workflows',
      payload: {
        yaml: `name: Notify
trigger: { type: on_demand }
steps:
  - id: mail
    kind: action
    action: email.send_email
    integration: mail
    with: { to: "{{ $.event.to }}", subject: "Case {{ $.event.case }}", html: "<b>{{ $.event.case }}</b>" }
  - id: done
    kind: exit
    output: "{{ $.mail.accepted }}"
`,
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { workflow: { id: string } }).workflow.id;
    const run = await t.request({
      method: 'POST',
      url: `/v1/workflows/${id}/executions?wait=true`,
      payload: { inputs: { to: 'ir@example.com', case: 'C-7' }, revision: 'current' },
    });
    const ex = (run.json() as { execution: { status: string; output: unknown } }).execution;
    assert.equal(ex.status, 'succeeded', run.body);
    assert.deepEqual(ex.output, ['ir@example.com']);
    assert.match(received.at(-1)!.raw, /Subject: Case C-7/);
    assert.ok(!run.body.includes(PASSWORD));
  });
});

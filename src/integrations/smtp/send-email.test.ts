import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { parameterAjv, parseManifest } from '../../domain/apps/manifest.js';
import { ActionError } from '../action-error.js';
import type { NativeActionContext } from '../apps/native-handler.js';
import { SsrfGuard } from '../http/ssrf-guard.js';
import { sendEmail, testSmtp } from './send-email.js';

const USER = 'alice';
const PASSWORD = 'Hunter2-very-secret';
const LOOPBACK = new SsrfGuard(['127.0.0.0/8', '::1/128']);

interface Received {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user: unknown;
  servername: unknown;
}

interface TestServer {
  port: number;
  received: Received[];
  connections: number;
  auths: number;
  mailFroms: number;
  close(): Promise<void>;
}

/** A guard whose DNS answers every name with the given addresses, in order. */
class FixedDns extends SsrfGuard {
  override readonly lookup: SsrfGuard['lookup'];
  constructor(answers: string[]) {
    super(['127.0.0.0/8']);
    this.lookup = (_host, _options, callback) =>
      setImmediate(() =>
        callback(
          null,
          answers.map((address) => ({ address, family: 4 })),
        ),
      );
  }
}

let tls: { key: string; cert: string };
let tlsDir: string;

/** A real SMTP server on 127.0.0.1: AUTH PLAIN/LOGIN for alice, STARTTLS with a self-signed certificate. */
async function startServer(options: Partial<SMTPServerOptions> = {}): Promise<TestServer> {
  const state: TestServer = {
    port: 0,
    received: [],
    connections: 0,
    auths: 0,
    mailFroms: 0,
    close: () => Promise.resolve(),
  };
  const server = new SMTPServer({
    logger: false,
    key: tls.key,
    cert: tls.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    disableReverseLookup: true,
    onConnect(_session, cb) {
      state.connections++;
      cb();
    },
    onAuth(auth, _session, cb) {
      state.auths++;
      if (auth.username === USER && auth.password === PASSWORD) return cb(null, { user: USER });
      // A careless server that echoes what it was sent: the handler must still keep it out of errors.
      return cb(
        Object.assign(new Error(`Invalid credentials ${auth.username}/${auth.password}`), {
          responseCode: 535,
        }),
      );
    },
    onMailFrom(_address, _session, cb) {
      state.mailFroms++;
      cb();
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('nobody@'))
        return cb(Object.assign(new Error('No such user here'), { responseCode: 550 }));
      return cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { mailFrom, rcptTo } = session.envelope;
        state.received.push({
          from: mailFrom ? mailFrom.address : '',
          to: rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: session.user,
          servername: session.servername,
        });
        cb(null, 'Message queued as TEST123');
      });
    },
    ...options,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  state.port = (server.server.address() as AddressInfo).port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

function context(
  port: number,
  config: Record<string, unknown> = {},
  params: Record<string, unknown> = {},
  extra: Partial<NativeActionContext> = {},
): NativeActionContext {
  return {
    config: {
      host: '127.0.0.1',
      port,
      security: 'starttls',
      username: USER,
      password: PASSWORD,
      from: 'Osprey <osprey@example.org>',
      ...config,
    },
    params: { to: 'bob@example.com', subject: 'Hello', text: 'Body text', ...params },
    workspaceId: '00000000-0000-4000-8000-000000000000',
    signal: new AbortController().signal,
    guard: LOOPBACK,
    policy: {},
    verifyTls: false,
    timeoutMs: 10_000,
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<ActionError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof ActionError, `expected an ActionError, got ${String(error)}`);
  return error;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

before(async () => {
  tlsDir = await mkdtemp(join(tmpdir(), 'osprey-smtp-tls-'));
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    join(tlsDir, 'key.pem'),
    '-out',
    join(tlsDir, 'cert.pem'),
  ]);
  tls = {
    key: await readFile(join(tlsDir, 'key.pem'), 'utf8'),
    cert: await readFile(join(tlsDir, 'cert.pem'), 'utf8'),
  };
});
after(() => rm(tlsDir, { recursive: true, force: true }));

describe('smtp send_email against a real SMTP server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  it('delivers over STARTTLS with authentication: envelope, headers, body and attachment', async () => {
    const before = server.received.length;
    const output = (await sendEmail(
      context(
        server.port,
        {},
        {
          to: ['Bob Example <bob@example.com>'],
          cc: 'carol@example.com',
          bcc: ['dave@example.com'],
          reply_to: 'soc@example.org',
          subject: 'Alert: suspicious login',
          text: 'A suspicious login was seen.',
          html: '<p>A <b>suspicious</b> login was seen.</p>',
          attachments: [
            { filename: 'iocs.csv', content: 'ip,score\n203.0.113.7,97\n', content_type: 'text/csv' },
          ],
        },
      ),
    )) as { message_id: string; accepted: string[]; rejected: string[]; response: string };

    assert.match(output.message_id, /^<[^<>\s]+@example\.org>$/);
    assert.deepEqual(output.accepted.sort(), ['bob@example.com', 'carol@example.com', 'dave@example.com']);
    assert.deepEqual(output.rejected, []);
    assert.match(output.response, /^250 .*TEST123/);

    assert.equal(server.received.length, before + 1);
    const got = server.received.at(-1)!;
    assert.equal(got.from, 'osprey@example.org');
    assert.deepEqual(got.to.sort(), ['bob@example.com', 'carol@example.com', 'dave@example.com']);
    assert.equal(got.secure, true, 'the message went over TLS');
    assert.equal(got.user, USER);
    const [head, ...rest] = got.raw.split('\r\n\r\n');
    const body = rest.join('\r\n\r\n');
    assert.match(head!, /^From: Osprey <osprey@example\.org>$/m);
    assert.match(head!, /^To: Bob Example <bob@example\.com>$/m);
    assert.match(head!, /^Cc: carol@example\.com$/m);
    assert.match(head!, /^Reply-To: soc@example\.org$/m);
    assert.match(head!, /^Subject: Alert: suspicious login$/m);
    assert.doesNotMatch(got.raw, /^Bcc:/im, 'Bcc stays out of the headers');
    assert.doesNotMatch(got.raw, /dave@example\.com/, 'the Bcc address appears only in the envelope');
    assert.ok(head!.includes(`Message-ID: ${output.message_id}`));
    assert.match(head!, /^Date: /m);
    assert.ok(body.includes('A suspicious login was seen.'));
    assert.ok(body.includes('<p>A <b>suspicious</b> login was seen.</p>'));
    assert.match(body, /Content-Type: text\/csv; name=iocs\.csv/);
    assert.match(body, /Content-Disposition: attachment; filename=iocs\.csv/);
    const attachment = /filename=iocs\.csv\r\n(?:[\w-]+: [^\r\n]*\r\n)*\r\n([\s\S]*?)\r\n--/.exec(body);
    assert.ok(attachment, 'the attachment part is there');
    const encoded = attachment[1]!.trim();
    const decoded = /Content-Transfer-Encoding: base64/.test(
      body.slice(body.indexOf('filename=iocs.csv') - 200),
    )
      ? Buffer.from(encoded.replace(/\s+/g, ''), 'base64').toString('utf8')
      : encoded
          .replace(/=\r\n/g, '')
          .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    assert.equal(decoded.replace(/\r\n/g, '\n'), 'ip,score\n203.0.113.7,97\n');
  });

  it('reports recipients the server rejected while delivering to the others', async () => {
    const output = (await sendEmail(
      context(server.port, {}, { to: ['bob@example.com', 'nobody@example.com'] }),
    )) as { accepted: string[]; rejected: string[] };
    assert.deepEqual(output.accepted, ['bob@example.com']);
    assert.deepEqual(output.rejected, ['nobody@example.com']);
  });

  it('fails with RECIPIENT_REJECTED naming the addresses when every recipient is rejected', async () => {
    const before = server.received.length;
    const error = await failure(
      sendEmail(context(server.port, {}, { to: 'nobody@example.com', cc: 'nobody@example.net' })),
    );
    assert.equal(error.code, 'RECIPIENT_REJECTED');
    assert.match(error.message, /nobody@example\.com/);
    assert.match(error.message, /nobody@example\.net/);
    assert.match(error.message, /550/);
    assert.equal(server.received.length, before);
  });

  it('fails with AUTH_FAILED on a wrong password, without the password in the message', async () => {
    const before = server.received.length;
    const wrong = 'Wr0ng-Passw0rd-xyz';
    const error = await failure(sendEmail(context(server.port, { password: wrong })));
    assert.equal(error.code, 'AUTH_FAILED');
    assert.match(error.message, /535/);
    assert.match(error.message, /alice/);
    assert.ok(!error.message.includes(wrong), error.message);
    assert.ok(!error.message.includes(Buffer.from(wrong).toString('base64')), error.message);
    assert.ok(!error.stack?.includes(wrong));
    assert.equal(server.received.length, before);
  });

  it('refuses a self-signed certificate when TLS is verified (TLS_FAILED), before authenticating', async () => {
    const auths = server.auths;
    const before = server.received.length;
    const error = await failure(sendEmail(context(server.port, {}, {}, { verifyTls: true })));
    assert.equal(error.code, 'TLS_FAILED');
    assert.match(error.message, /self.signed|certificate/i);
    assert.match(error.message, /verify_tls/);
    assert.equal(server.auths, auths, 'no credentials were sent');
    assert.equal(server.received.length, before);
  });

  it('connects to the address the guard checked and presents the host name for TLS', async () => {
    const output = (await sendEmail(context(server.port, { host: 'localhost' }))) as { accepted: string[] };
    assert.deepEqual(output.accepted, ['bob@example.com']);
    assert.equal(server.received.at(-1)!.servername, 'localhost');
  });

  it('tries the next resolved address when one refuses the connection', async () => {
    // Nothing listens on 127.0.0.2 (the server is bound to 127.0.0.1 only).
    const output = (await sendEmail(
      context(server.port, { host: 'mail.test' }, {}, { guard: new FixedDns(['127.0.0.2', '127.0.0.1']) }),
    )) as { accepted: string[] };
    assert.deepEqual(output.accepted, ['bob@example.com']);
    assert.equal(server.received.at(-1)!.servername, 'mail.test', 'TLS still uses the configured name');
  });

  it('refuses a loopback server unless it is allow-listed (ADDRESS_BLOCKED), without connecting', async () => {
    const connections = server.connections;
    for (const host of ['127.0.0.1', 'localhost']) {
      const error = await failure(
        sendEmail(context(server.port, { host }, {}, { guard: new SsrfGuard([]) })),
      );
      assert.equal(error.code, 'ADDRESS_BLOCKED');
      assert.ok(error.message.includes(host), error.message);
    }
    const error = await failure(testSmtp(context(server.port, {}, {}, { guard: new SsrfGuard([]) })));
    assert.equal(error.code, 'ADDRESS_BLOCKED');
    assert.equal(server.connections, connections, 'the server saw no connection');

    const output = (await sendEmail(
      context(server.port, {}, {}, { guard: new SsrfGuard(['127.0.0.0/8']) }),
    )) as {
      accepted: string[];
    };
    assert.deepEqual(output.accepted, ['bob@example.com']);
  });

  it('refuses header injection and invalid parameters with INVALID_INPUT naming the field, before connecting', async () => {
    const connections = server.connections;
    const cases: [Record<string, unknown>, string][] = [
      [{ subject: 'Hi\r\nBcc: victim@example.com' }, 'subject'],
      [{ subject: 'Hi\nX-Evil: 1' }, 'subject'],
      [{ to: 'bob@example.com\r\nBcc: victim@example.com' }, 'to'],
      [{ to: ['bob@example.com', 'eve@example.com\nX: y'] }, 'to.1'],
      [{ reply_to: 'a@example.com\rX: y' }, 'reply_to'],
      [{ cc: 'not an address' }, 'cc'],
      [{ to: [] }, 'to'],
      [{ text: undefined }, 'text'],
      [{ attachments: [{ filename: 'a\r\n.txt', content: 'x' }] }, 'attachments.0.filename'],
      [{ attachments: [{ filename: 'a.txt' }] }, 'attachments.0.content'],
    ];
    for (const [params, field] of cases) {
      const error = await failure(sendEmail(context(server.port, {}, params)));
      assert.equal(error.code, 'INVALID_INPUT', JSON.stringify(params));
      assert.equal(error.details?.[0]?.field, field, error.message);
      assert.ok(error.message.includes(`: ${field} `), error.message);
    }
    let error = await failure(
      sendEmail(context(server.port, { from: 'Osprey <osprey@example.org>\r\nBcc: x@y.z' })),
    );
    assert.equal(error.code, 'INTEGRATION_INVALID');
    assert.match(error.message, /\bfrom\b/);
    error = await failure(sendEmail(context(server.port, { host: 'smtp.example.com:587' })));
    assert.equal(error.code, 'INTEGRATION_INVALID');
    assert.match(error.message, /\bport\b/);
    error = await failure(sendEmail(context(server.port, { host: '' })));
    assert.equal(error.code, 'INTEGRATION_INCOMPLETE');
    assert.match(error.message, /\bhost\b/);
    error = await failure(testSmtp(context(server.port, { password: undefined })));
    assert.equal(error.code, 'INTEGRATION_INCOMPLETE');
    assert.match(error.message, /\bpassword\b/);
    assert.equal(server.connections, connections);
  });

  it('testSmtp passes with good credentials and fails with AUTH_FAILED on bad ones', async () => {
    const before = server.received.length;
    await testSmtp(context(server.port));
    const error = await failure(testSmtp(context(server.port, { password: 'nope-nope' })));
    assert.equal(error.code, 'AUTH_FAILED');
    assert.ok(!error.message.includes('nope-nope'));
    assert.equal(server.received.length, before, 'a test sends no mail');
  });

  it('security none sends in clear text even when the server offers STARTTLS', async () => {
    const plain = await startServer({ allowInsecureAuth: true });
    try {
      await sendEmail(context(plain.port, { security: 'none' }));
      assert.equal(plain.received[0]!.secure, false);
      assert.equal(plain.received[0]!.user, USER);
    } finally {
      await plain.close();
    }
  });
});

describe('smtp send_email: TLS modes and failures', () => {
  it('security tls uses implicit TLS', async () => {
    const server = await startServer({ secure: true });
    try {
      await sendEmail(context(server.port, { security: 'tls' }));
      assert.equal(server.received[0]!.secure, true);
      await testSmtp(context(server.port, { security: 'tls' }));
    } finally {
      await server.close();
    }
  });

  it('security starttls refuses a server without STARTTLS: nothing is sent in clear text', async () => {
    const server = await startServer({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    try {
      const error = await failure(sendEmail(context(server.port)));
      assert.equal(error.code, 'TLS_FAILED');
      assert.match(error.message, /STARTTLS/);
      assert.match(error.message, /no credentials or message were sent without encryption/);
      assert.equal(server.auths, 0, 'no credentials went over the plain connection');
      assert.equal(server.mailFroms, 0);
      assert.equal(server.received.length, 0);
      const test = await failure(testSmtp(context(server.port)));
      assert.equal(test.code, 'TLS_FAILED');
    } finally {
      await server.close();
    }
  });

  it('a refused connection is CONNECTION_FAILED', async () => {
    const port = await closedPort();
    const error = await failure(sendEmail(context(port)));
    assert.equal(error.code, 'CONNECTION_FAILED');
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.equal((await failure(testSmtp(context(port)))).code, 'CONNECTION_FAILED');
  });

  describe('a server that never answers', () => {
    let silent: Server;
    let port: number;
    const sockets = new Set<Socket>();
    before(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
      port = (silent.address() as AddressInfo).port;
    });
    after(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    });

    it('the step signal aborts the session (STEP_TIMEOUT) and closes the connection', async () => {
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 200);
      const error = await failure(
        sendEmail(context(port, {}, {}, { signal: controller.signal, timeoutMs: 30_000 })),
      );
      assert.equal(error.code, 'STEP_TIMEOUT');
      assert.ok(Date.now() - started < 5000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(sockets.size, 0, 'the connection was closed');
    });

    it('an already aborted signal fails at once', async () => {
      const error = await failure(testSmtp(context(port, {}, {}, { signal: AbortSignal.abort() })));
      assert.equal(error.code, 'STEP_TIMEOUT');
    });

    it('timeoutMs bounds the session (STEP_TIMEOUT)', async () => {
      const started = Date.now();
      const error = await failure(testSmtp(context(port, {}, {}, { timeoutMs: 300 })));
      assert.equal(error.code, 'STEP_TIMEOUT');
      assert.ok(Date.now() - started < 5000);
    });
  });
});

describe('apps/email/manifest.yaml', () => {
  it('is a valid built-in manifest naming the smtp handlers, and its schema fits the handler', async () => {
    const text = await readFile(new URL('../../../apps/email/manifest.yaml', import.meta.url), 'utf8');
    const { manifest, problems } = parseManifest(text, {
      handlers: new Set(['smtp.send_email', 'smtp.test']),
    });
    assert.deepEqual(problems, []);
    assert.equal(manifest!.identifier, 'email');
    assert.equal(manifest!.test?.handler, 'smtp.test');
    const action = manifest!.actions.send_email!;
    assert.equal(action.handler, 'smtp.send_email');
    assert.equal(action.request, undefined);
    assert.equal(manifest!.configuration!.password!.secret, true);
    assert.deepEqual(Object.keys(manifest!.configuration!).sort(), [
      'from',
      'host',
      'password',
      'port',
      'security',
      'username',
    ]);

    const validate = parameterAjv.compile(action.parameters!);
    const accepted = [
      { to: 'bob@example.com', subject: 's', text: 't' },
      {
        to: ['a@example.com', 'B <b@example.com>'],
        cc: 'c@example.com',
        bcc: [],
        subject: 's',
        html: '<p/>',
      },
      {
        to: 'a@example.com',
        subject: 's',
        text: 't',
        attachments: [{ filename: 'a.csv', content: 'x', content_type: 'text/csv' }],
      },
    ];
    for (const params of accepted) assert.ok(validate(params), JSON.stringify(validate.errors));
    const refused = [
      { subject: 's', text: 't' },
      { to: [], subject: 's', text: 't' },
      { to: 'a@example.com', text: 't' },
      { to: 'a@example.com', subject: 's', text: 't', headers: { 'X-A': '1' } },
      { to: 'a@example.com', subject: 's', text: 't', attachments: [{ filename: 'a.csv' }] },
    ];
    for (const params of refused) assert.ok(!validate(params), JSON.stringify(params));
  });
});

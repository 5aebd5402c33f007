import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ActionError } from '../action-error.js';
import { OutboundHttp } from './outbound.js';
import { HttpClient } from './request.js';
import { SsrfGuard } from './ssrf-guard.js';

describe('SSRF guard', () => {
  it('blocks private, loopback, link-local, metadata and mapped addresses; allows public ones', () => {
    const guard = new SsrfGuard();
    for (const blocked of [
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '127.0.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fe80::1',
      'fd00::1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
    ]) {
      assert.equal(guard.isAllowed(blocked), false, blocked);
    }
    for (const open of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])
      assert.equal(guard.isAllowed(open), true, open);
  });

  it('allows what is allow-listed, and only that', () => {
    const guard = new SsrfGuard(['10.1.0.0/16', '127.0.0.1/32']);
    assert.equal(guard.isAllowed('10.1.9.9'), true);
    assert.equal(guard.isAllowed('10.2.0.1'), false);
    assert.equal(guard.isAllowed('127.0.0.1'), true);
    assert.equal(guard.isAllowed('127.0.0.2'), false);
  });
});

describe('http.request against a local server', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/json')
        return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      if (req.url === '/to-metadata')
        return res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      return res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  async function refused(client: HttpClient, url: string): Promise<ActionError> {
    const error = await client.run({ url }, AbortSignal.timeout(5000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof ActionError, `expected a refusal for ${url}`);
    return error;
  }

  it('refuses a hostname that resolves to a private address, and a literal one, with a clear error', async () => {
    const outbound = new OutboundHttp({ allow: [] });
    const client = new HttpClient(outbound);
    try {
      const byName = await refused(client, `http://localhost:${port}/json`);
      assert.equal(byName.code, 'ADDRESS_BLOCKED');
      assert.match(
        byName.message,
        /localhost resolves to (127\.0\.0\.1|::1), a private, loopback or link-local address/,
      );
      const literal = await refused(client, `http://127.0.0.1:${port}/json`);
      assert.equal(literal.code, 'ADDRESS_BLOCKED');
      assert.equal(
        (await refused(client, 'http://169.254.169.254/latest/meta-data/')).code,
        'ADDRESS_BLOCKED',
      );
      assert.equal((await refused(client, 'http://10.0.0.1/')).code, 'ADDRESS_BLOCKED');
    } finally {
      await outbound.close();
    }
  });

  it('works for an allow-listed address, and refuses a redirect to a blocked one', async () => {
    const outbound = new OutboundHttp({ allow: ['127.0.0.0/8'] });
    const client = new HttpClient(outbound);
    try {
      const ok = await client.run({ url: `http://127.0.0.1:${port}/json` }, AbortSignal.timeout(5000));
      assert.deepEqual(ok.api_object, { ok: true });
      assert.equal(ok.status_code, 200);
      const redirected = await refused(client, `http://127.0.0.1:${port}/to-metadata`);
      assert.equal(redirected.code, 'ADDRESS_BLOCKED');
      assert.equal((await refused(client, 'file:///etc/passwd')).code, 'INVALID_INPUT');
    } finally {
      await outbound.close();
    }
  });
});

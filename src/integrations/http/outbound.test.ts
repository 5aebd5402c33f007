// The outbound client through an HTTP proxy (the standard variables, read from OutboundOptions.env):
// requests tunnel through the proxy, NO_PROXY bypasses it, and the SSRF rules still apply to the
// target behind the proxy.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ActionError } from '../action-error.js';
import { OutboundHttp } from './outbound.js';
import { proxyFor } from './proxy-env.js';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<ActionError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ActionError, String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('OutboundHttp through a proxy', () => {
  let target: Server;
  let targetHost: string;
  let proxy: Server;
  let proxyUrl: string;
  /** The CONNECT targets the proxy was asked for, and the plain (absolute-URL) requests it got. */
  const connects: string[] = [];
  const forwarded: string[] = [];
  const sockets = new Set<Socket | Duplex>();
  const clients: OutboundHttp[] = [];

  before(async () => {
    target = createServer((req, res) => {
      if (req.url === '/redirect-to-metadata')
        res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      else res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello ${req.url}`);
    });
    targetHost = await listen(target);
    proxy = createServer((req: IncomingMessage, res) => {
      // A plain forward-proxy request (absolute URL), in case the client does not tunnel.
      forwarded.push(req.url ?? '');
      const url = new URL(req.url ?? '');
      const upstream = connect(Number(url.port), url.hostname, () => {
        upstream.write(
          `${req.method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n\r\n`,
        );
      });
      upstream.pipe(res.socket!);
    });
    proxy.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
      connects.push(req.url ?? '');
      sockets.add(client);
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    proxyUrl = `http://${await listen(proxy)}`;
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    for (const s of sockets) s.destroy();
    await close(proxy);
    await close(target);
  });

  function client(allow: string[], env: NodeJS.ProcessEnv): OutboundHttp {
    const c = new OutboundHttp({ allow, env });
    clients.push(c);
    return c;
  }

  function get(http: OutboundHttp, url: string, policy = {}) {
    return http.send(
      {
        method: 'GET',
        url: new URL(url),
        headers: { 'user-agent': 'Osprey' },
        signal: AbortSignal.timeout(5000),
      },
      policy,
    );
  }

  it('sends the request through HTTP_PROXY', async () => {
    const before = connects.length;
    const res = await get(client(['127.0.0.0/8'], { HTTP_PROXY: proxyUrl }), `http://${targetHost}/via`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'hello /via');
    assert.equal(connects.length - before, 1, 'the proxy tunnelled the request (one CONNECT)');
    assert.equal(connects.at(-1), targetHost, 'the CONNECT named the target');
    assert.deepEqual(forwarded, []);
  });

  it('accepts the lower-case variable too', async () => {
    const before = connects.length + forwarded.length;
    const res = await get(client(['127.0.0.0/8'], { http_proxy: proxyUrl }), `http://${targetHost}/lower`);
    assert.equal(res.text, 'hello /lower');
    assert.equal(connects.length + forwarded.length - before, 1);
  });

  it('goes direct for a host in NO_PROXY', async () => {
    const before = connects.length + forwarded.length;
    for (const noProxy of [
      '127.0.0.1',
      `127.0.0.1:${targetHost.split(':')[1]}`,
      '*',
      'example.com, 127.0.0.1',
    ]) {
      const res = await get(
        client(['127.0.0.0/8'], { HTTP_PROXY: proxyUrl, NO_PROXY: noProxy }),
        `http://${targetHost}/direct`,
      );
      assert.equal(res.text, 'hello /direct', noProxy);
    }
    assert.equal(connects.length + forwarded.length - before, 0, 'the proxy saw nothing');
  });

  it('still refuses a blocked target behind the proxy, before asking the proxy', async () => {
    const before = connects.length + forwarded.length;
    const http = client([], { HTTP_PROXY: proxyUrl });
    let e = await rejectsWith(get(http, `http://${targetHost}/blocked`), 'ADDRESS_BLOCKED');
    assert.match(e.message, /127\.0\.0\.1/);
    e = await rejectsWith(get(http, 'http://169.254.169.254/latest/meta-data/'), 'ADDRESS_BLOCKED');
    assert.match(e.message, /169\.254\.169\.254/);
    // A name is resolved and checked too.
    e = await rejectsWith(
      get(http, `http://localhost:${targetHost.split(':')[1]}/blocked`),
      'ADDRESS_BLOCKED',
    );
    assert.match(e.message, /localhost/);
    assert.equal(connects.length + forwarded.length - before, 0, 'the proxy was never asked');
    // The policy's allow-list opens it.
    const res = await get(http, `http://${targetHost}/policy`, { allow: ['127.0.0.1/32'] });
    assert.equal(res.text, 'hello /policy');
  });

  it('checks a redirect hop behind the proxy', async () => {
    const http = client(['127.0.0.0/8'], { HTTP_PROXY: proxyUrl });
    const e = await rejectsWith(get(http, `http://${targetHost}/redirect-to-metadata`), 'ADDRESS_BLOCKED');
    assert.match(e.message, /169\.254\.169\.254/);
  });
});

describe('proxyFor', () => {
  const url = (u: string) => new URL(u);
  it('picks HTTPS_PROXY for https and HTTP_PROXY for http', () => {
    const env = { HTTPS_PROXY: 'http://secure-proxy:3128', HTTP_PROXY: 'http://plain-proxy:3128' };
    assert.equal(proxyFor(url('https://api.example.com/'), env), 'http://secure-proxy:3128');
    assert.equal(proxyFor(url('http://api.example.com/'), env), 'http://plain-proxy:3128');
    assert.equal(proxyFor(url('https://api.example.com/'), { HTTP_PROXY: 'http://p:1' }), 'http://p:1');
    assert.equal(proxyFor(url('http://api.example.com/'), { HTTPS_PROXY: 'http://p:1' }), undefined);
    assert.equal(proxyFor(url('http://api.example.com/'), {}), undefined);
  });

  it('honours NO_PROXY names, suffixes, ports and *', () => {
    const env = (no: string) => ({ HTTP_PROXY: 'http://p:1', HTTPS_PROXY: 'http://p:1', NO_PROXY: no });
    assert.equal(proxyFor(url('http://internal.corp/'), env('internal.corp')), undefined);
    assert.equal(proxyFor(url('http://a.internal.corp/'), env('.internal.corp')), undefined);
    assert.equal(proxyFor(url('http://a.internal.corp/'), env('internal.corp')), undefined);
    assert.equal(proxyFor(url('http://notinternal.corp/'), env('internal.corp')), 'http://p:1');
    assert.equal(proxyFor(url('http://host:8080/'), env('host:8080')), undefined);
    assert.equal(proxyFor(url('http://host:9090/'), env('host:8080')), 'http://p:1');
    assert.equal(proxyFor(url('https://host/'), env('host:443')), undefined);
    assert.equal(proxyFor(url('http://anything/'), env('*')), undefined);
    assert.equal(proxyFor(url('http://API.Example.com/'), env('api.example.COM')), undefined);
    assert.equal(
      proxyFor(url('http://b.example/'), { http_proxy: 'http://p:1', no_proxy: 'b.example' }),
      undefined,
    );
  });

  it('honours IPv6 addresses in NO_PROXY', () => {
    const env = (no: string) => ({ HTTP_PROXY: 'http://p:1', NO_PROXY: no });
    // Regression (failed at d05a628, fixed in the working tree since): the host:port split (/:(?=\d+$)/) cuts "::1" into name ":" and port "1", so an IPv6
    // address in NO_PROXY never matches and the request goes through the proxy.
    assert.equal(proxyFor(url('http://[::1]:80/'), env('::1')), undefined);
    assert.equal(proxyFor(url('http://[fd00::1]/'), env('fd00::1')), undefined);
    assert.equal(proxyFor(url('http://[::1]:8080/'), env('[::1]:8080')), undefined);
  });
});

import { createHmac } from 'node:crypto';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { OutboundHttp } from '../integrations/http/outbound.js';
import type { StreamEntry } from './sources.js';

/** Read once: a system call per entry showed in the stream benchmark's profile. */
const HOST = hostname();

export const DESTINATION_TYPES = ['splunk_hec', 'elasticsearch', 'syslog', 'webhook', 'file'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];

/** A destination's settings (no secret: the secret is resolved from the workspace's secrets). */
export interface DestinationConfig {
  type: DestinationType;
  /** splunk_hec, elasticsearch, webhook. */
  url?: string;
  /** splunk_hec: the index; elasticsearch: the index (default osprey-<log>). */
  index?: string;
  /** splunk_hec: the sourcetype prefix (default osprey). */
  sourcetype?: string;
  /** elasticsearch: how the secret authenticates (ApiKey, Bearer or Basic user:password). */
  auth?: 'api_key' | 'bearer' | 'basic';
  /** syslog. */
  host?: string;
  port?: number;
  transport?: 'tcp' | 'tls' | 'udp';
  /** syslog facility (default 13, log audit). */
  facility?: number;
  /** file: the file name under the data directory's streams/ folder; rotation size. */
  path?: string;
  max_bytes?: number;
  keep?: number;
  verify_tls?: boolean;
  allowed_networks?: string[];
}

export interface DeliveryContext {
  http: OutboundHttp;
  /** Networks reachable despite the SSRF rules: the workspace's and the destination's own. */
  allow: readonly string[];
  /** The resolved secret (HEC token, API key, HMAC key), if the stream names one. */
  secret: string | undefined;
  /** The folder file destinations write under. */
  filesDir: string;
  timeoutMs: number;
}

/** A destination's refusal, with the text to show on the stream. */
export class DeliveryError extends Error {}

/** Delivers one batch; resolves only when the destination acknowledged it. */
export async function deliver(
  config: DestinationConfig,
  entries: StreamEntry[],
  ctx: DeliveryContext,
): Promise<void> {
  if (entries.length === 0) return;
  switch (config.type) {
    case 'splunk_hec':
      return splunkHec(config, entries, ctx);
    case 'elasticsearch':
      return elasticsearch(config, entries, ctx);
    case 'webhook':
      return webhook(config, entries, ctx);
    case 'syslog':
      return syslog(config, entries, ctx);
    case 'file':
      return file(config, entries, ctx);
  }
}

async function post(
  config: DestinationConfig,
  url: URL,
  headers: Record<string, string>,
  body: string,
  ctx: DeliveryContext,
): Promise<string> {
  const signal = AbortSignal.timeout(ctx.timeoutMs);
  const res = await ctx.http
    .send(
      { method: 'POST', url, headers, body, signal, maxRedirects: 0 },
      { allow: ctx.allow, verifyTls: config.verify_tls ?? true },
    )
    .catch((error: unknown) => {
      throw new DeliveryError(`${url.host}: ${(error as Error).message}`);
    });
  if (res.status < 200 || res.status > 299)
    throw new DeliveryError(`${url.host} answered ${res.status}: ${res.text.slice(0, 300)}`);
  return res.text;
}

async function splunkHec(
  config: DestinationConfig,
  entries: StreamEntry[],
  ctx: DeliveryContext,
): Promise<void> {
  const url = new URL(config.url!);
  if (!/\/services\/collector/.test(url.pathname))
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/services/collector/event`;
  const body = entries
    .map((e) =>
      JSON.stringify({
        time: Date.parse(e.timestamp) / 1000,
        host: HOST,
        source: 'osprey',
        sourcetype: `${config.sourcetype ?? 'osprey'}:${e.log}`,
        ...(config.index ? { index: config.index } : {}),
        event: e.entry,
      }),
    )
    .join('\n');
  const text = await post(
    config,
    url,
    { 'content-type': 'application/json', ...(ctx.secret ? { authorization: `Splunk ${ctx.secret}` } : {}) },
    body,
    ctx,
  );
  // HEC acknowledges with {"text":"Success","code":0}.
  const code = safeJson(text)?.code;
  if (code !== undefined && code !== 0)
    throw new DeliveryError(`${url.host} refused the batch: ${text.slice(0, 300)}`);
}

async function elasticsearch(
  config: DestinationConfig,
  entries: StreamEntry[],
  ctx: DeliveryContext,
): Promise<void> {
  const url = new URL(config.url!);
  if (!url.pathname.endsWith('/_bulk')) url.pathname = `${url.pathname.replace(/\/+$/, '')}/_bulk`;
  // The entry id as the document id: a batch delivered twice writes each document once.
  const body =
    entries
      .map(
        (e) =>
          `${JSON.stringify({ index: { _index: config.index ?? `osprey-${e.log}`, _id: e.id } })}\n${JSON.stringify({ '@timestamp': e.timestamp, log: e.log, ...e.entry })}`,
      )
      .join('\n') + '\n';
  const scheme = config.auth === 'bearer' ? 'Bearer' : config.auth === 'basic' ? 'Basic' : 'ApiKey';
  const secret =
    ctx.secret && config.auth === 'basic' ? Buffer.from(ctx.secret).toString('base64') : ctx.secret;
  const text = await post(
    config,
    url,
    { 'content-type': 'application/x-ndjson', ...(secret ? { authorization: `${scheme} ${secret}` } : {}) },
    body,
    ctx,
  );
  const answer = safeJson(text) as
    { errors?: boolean; items?: Record<string, { error?: unknown }>[] } | undefined;
  if (answer?.errors) {
    const failed = (answer.items ?? []).map((i) => Object.values(i)[0]).find((i) => i?.error);
    throw new DeliveryError(
      `${url.host} refused part of the batch: ${JSON.stringify(failed?.error ?? 'unknown error').slice(0, 300)}`,
    );
  }
}

async function webhook(
  config: DestinationConfig,
  entries: StreamEntry[],
  ctx: DeliveryContext,
): Promise<void> {
  const body = JSON.stringify({ entries: entries.map((e) => ({ id: e.id, log: e.log, ...e.entry })) });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-osprey-timestamp': timestamp,
  };
  // HMAC-SHA256 over "<timestamp>.<body>": receivers check it and refuse old timestamps.
  if (ctx.secret)
    headers['x-osprey-signature'] =
      `sha256=${createHmac('sha256', ctx.secret).update(`${timestamp}.${body}`).digest('hex')}`;
  await post(config, new URL(config.url!), headers, body, ctx);
}

/** RFC 5424: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG, the entry as JSON in MSG. */
export function syslogMessage(config: DestinationConfig, e: StreamEntry): string {
  const pri = (config.facility ?? 13) * 8 + 6;
  const id = e.id.replace(/["\\\]]/g, (c) => `\\${c}`);
  return `<${pri}>1 ${e.timestamp} ${HOST} osprey ${process.pid} ${e.log} [osprey@32473 id="${id}"] ${JSON.stringify(e.entry)}`;
}

async function syslog(
  config: DestinationConfig,
  entries: StreamEntry[],
  ctx: DeliveryContext,
): Promise<void> {
  const host = config.host!;
  const port = config.port ?? (config.transport === 'tls' ? 6514 : 514);
  const messages = entries.map((e) => syslogMessage(config, e));
  // The same SSRF rules as HTTP: literal addresses checked here, names checked as they resolve.
  const guard = ctx.http.guard({ allow: ctx.allow });
  try {
    guard.checkLiteral(host);
  } catch (error) {
    throw new DeliveryError((error as Error).message);
  }
  if (config.transport === 'udp') {
    // Resolved and checked here (a custom lookup would also be asked about the socket's own bind).
    const addresses = isIP(host) ? [host] : (await dnsLookup(host, { all: true })).map((a) => a.address);
    const bad = addresses.find((a) => !guard.isAllowed(a));
    if (bad) throw new DeliveryError(`${host} resolves to ${bad}, an address log streams may not reach`);
    const target = addresses[0]!;
    const socket = createSocket(isIP(target) === 6 ? 'udp6' : 'udp4');
    const failed = new Promise<never>((_resolve, reject) =>
      socket.once('error', (error) => reject(new DeliveryError(`${host}:${port}: ${error.message}`))),
    );
    try {
      for (const m of messages)
        await Promise.race([
          failed,
          new Promise<void>((resolve, reject) =>
            socket.send(Buffer.from(m), port, target, (error) =>
              error ? reject(new DeliveryError(`${host}:${port}: ${error.message}`)) : resolve(),
            ),
          ),
        ]);
    } finally {
      socket.close();
    }
    return;
  }
  // TCP and TLS: octet-counted frames (RFC 6587). Syslog has no acknowledgement: the batch counts
  // as delivered once every byte was handed to the connection and it shut down without error.
  const frames = messages.map((m) => `${Buffer.byteLength(m)} ${m}`).join('');
  await new Promise<void>((resolve, reject) => {
    const socket: Socket =
      config.transport === 'tls'
        ? tlsConnect({
            host,
            port,
            ...(isIP(host) ? {} : { servername: host }),
            rejectUnauthorized: config.verify_tls ?? true,
            lookup: guard.lookup,
          })
        : netConnect({ host, port, lookup: guard.lookup });
    socket.setTimeout(ctx.timeoutMs, () => socket.destroy(new Error('timed out')));
    socket.once('error', (error) => reject(new DeliveryError(`${host}:${port}: ${error.message}`)));
    socket.once(config.transport === 'tls' ? 'secureConnect' : 'connect', () => {
      socket.end(frames, () => {
        socket.destroy();
        resolve();
      });
    });
  });
}

async function file(config: DestinationConfig, entries: StreamEntry[], ctx: DeliveryContext): Promise<void> {
  const path = join(ctx.filesDir, config.path!);
  await mkdir(dirname(path), { recursive: true });
  const max = config.max_bytes ?? 100 * 1024 * 1024;
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  );
  if (size > 0 && size >= max) {
    const keep = config.keep ?? 5;
    for (let i = keep - 1; i >= 1; i--)
      await rename(`${path}.${i}`, `${path}.${i + 1}`).catch(() => undefined);
    await rename(path, `${path}.1`);
  }
  // Synced before the checkpoint moves: a crash after the ack loses nothing.
  const handle = await open(path, 'a');
  try {
    await handle.write(
      entries.map((e) => JSON.stringify({ id: e.id, log: e.log, ...e.entry })).join('\n') + '\n',
    );
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

function safeJson(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// The built-in Email (SMTP) app's native actions: send_email and the connectivity test. The host is
// resolved through the SSRF guard before connecting and the connection goes to the checked address,
// with the host name kept as the TLS server name so certificates are still verified against it.
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import MailComposer from 'nodemailer/lib/mail-composer';
import addressparser from 'nodemailer/lib/addressparser';
import SMTPConnection, { type SMTPConnectionOptions } from 'nodemailer/lib/smtp-connection';
import { ActionError } from '../action-error.js';
import type { NativeActionContext, NativeHandler, NativeTest } from '../apps/native-handler.js';
import { BlockedAddressError } from '../http/ssrf-guard.js';

type Security = 'starttls' | 'tls' | 'none';
const SECURITIES: readonly Security[] = ['starttls', 'tls', 'none'];

interface SmtpConfig {
  host: string;
  port: number;
  security: Security;
  username?: string;
  password?: string;
  from: string;
}

interface Attachment {
  filename: string;
  content: string;
  contentType?: string;
}

interface Mailbox {
  name: string;
  address: string;
}

interface Message {
  to: Mailbox[];
  cc: Mailbox[];
  bcc: Mailbox[];
  replyTo: Mailbox[];
  subject: string;
  text?: string;
  html?: string;
  attachments: Attachment[];
}

/** What send_email returns. */
export interface SendEmailOutput {
  message_id: string;
  accepted: string[];
  rejected: string[];
  response: string;
}

/** What nodemailer's errors carry beyond Error. */
interface SmtpError extends Error {
  code?: string;
  originalCode?: string;
  response?: string;
  responseCode?: number;
  command?: string;
  rejected?: string[];
}

const LINE_BREAK = /[\r\n\0]/;
/** Socket errors that are TLS failures: certificate checks, handshake alerts, TLS against plain text. */
const TLS_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_|^ERR_TLS_|^ERR_SSL_|^EPROTO$/;
/** Connection failures after which the next resolved address is tried. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

export const sendEmail: NativeHandler = async (ctx) => {
  const config = parseConfig(ctx.config);
  const message = parseParams(ctx.params);
  const mail = new MailComposer({
    from: config.from,
    to: message.to,
    ...(message.cc.length ? { cc: message.cc } : {}),
    ...(message.bcc.length ? { bcc: message.bcc } : {}),
    ...(message.replyTo.length ? { replyTo: message.replyTo } : {}),
    subject: message.subject,
    ...(message.text !== undefined ? { text: message.text } : {}),
    ...(message.html !== undefined ? { html: message.html } : {}),
    attachments: message.attachments,
    // Content comes only from the strings above: never from local files or URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
    xMailer: false,
  }).compile();
  const envelope = mail.getEnvelope();
  const messageId = mail.messageId();

  return withSession(ctx, config, async (session) => {
    const info = await session.run<SMTPConnection.SentMessageInfo>((cb) =>
      session.connection.send(envelope, mail.createReadStream(), cb),
    );
    const output: SendEmailOutput = {
      message_id: messageId,
      accepted: [...info.accepted],
      rejected: [...info.rejected],
      response: info.response,
    };
    return output;
  });
};

export const testSmtp: NativeTest = async (ctx) => {
  const config = parseConfig(ctx.config);
  await withSession(ctx, config, async () => undefined);
};

// ---------------------------------------------------------------------------------------------------
// Session: resolve, connect (TLS as configured), authenticate, run, quit — bounded by the step's signal
// and timeout, every failure mapped to an ActionError.

class Session {
  readonly connection: SMTPConnection;
  readonly #failed: Promise<never>;

  constructor(options: SMTPConnectionOptions) {
    this.connection = new SMTPConnection(options);
    this.#failed = new Promise<never>((_, reject) => {
      // `on`, not `once`: a second 'error' without a listener would be thrown.
      this.connection.on('error', reject);
      this.connection.on('end', () =>
        reject(Object.assign(new Error('the server closed the connection'), { code: 'ECONNECTION' })),
      );
    });
    this.#failed.catch(() => undefined);
  }

  /** Runs one callback-style operation, failing as soon as the connection does. */
  run<T>(op: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
    const done = new Promise<T>((resolve, reject) =>
      op((err, value) => (err ? reject(err) : resolve(value as T))),
    );
    return Promise.race([done, this.#failed]);
  }

  close(): void {
    this.connection.close();
  }
}

async function withSession<T>(
  ctx: Omit<NativeActionContext, 'params'>,
  config: SmtpConfig,
  work: (session: Session) => Promise<T>,
): Promise<T> {
  const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(Math.max(ctx.timeoutMs, 1))]);
  let current: Session | undefined;
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      current?.close();
      reject(timedOut(config));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const bounded = <R>(p: Promise<R>): Promise<R> => Promise.race([p, aborted]);

  try {
    const addresses = await bounded(resolve(ctx, config.host));
    for (const [i, address] of addresses.entries()) {
      const session = new Session(connectionOptions(config, address, ctx));
      current = session;
      try {
        await bounded(session.run<void>((cb) => session.connection.connect(cb)));
      } catch (error) {
        session.close();
        const code = (error as SmtpError).originalCode ?? '';
        if (i < addresses.length - 1 && UNREACHABLE.has(code) && !signal.aborted) continue;
        throw error;
      }
      break;
    }
    const session = current!;
    if (config.username !== undefined) {
      if (!session.connection.allowsAuth) {
        throw new ActionError(
          'AUTH_FAILED',
          `${config.host}:${config.port} does not offer authentication (AUTH) on this connection` +
            (config.security === 'none' ? '; it may offer it only over TLS (security starttls or tls)' : ''),
        );
      }
      await bounded(
        session.run<boolean>((cb) =>
          session.connection.login({ user: config.username, pass: config.password ?? '' }, cb),
        ),
      );
    }
    const result = await bounded(work(session));
    session.connection.quit();
    // A server that never answers QUIT does not hold the connection open.
    setTimeout(() => session.close(), 2000).unref();
    return result;
  } catch (error) {
    current?.close();
    if (!(error instanceof ActionError) && signal.aborted) throw timedOut(config);
    throw toActionError(error, config, ctx.verifyTls);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function timedOut(config: SmtpConfig): ActionError {
  return new ActionError(
    'STEP_TIMEOUT',
    `the SMTP session with ${config.host}:${config.port} timed out or was cancelled`,
  );
}

/** The addresses to try, every one allowed by the guard. */
async function resolve(ctx: Omit<NativeActionContext, 'params'>, host: string): Promise<string[]> {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare)) {
    ctx.guard.checkLiteral(bare);
    return [bare];
  }
  return new Promise<string[]>((resolvePromise, reject) => {
    ctx.guard.lookup(host, { all: true }, (err, addresses) => {
      if (err) return reject(err);
      const list = (addresses as LookupAddress[]).map((a) => a.address);
      if (list.length === 0)
        return reject(Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' }));
      return resolvePromise(list);
    });
  });
}

function connectionOptions(
  config: SmtpConfig,
  address: string,
  ctx: Omit<NativeActionContext, 'params'>,
): SMTPConnectionOptions {
  const named = isIP(config.host.replace(/^\[|\]$/g, '')) === 0;
  const timeout = Math.max(ctx.timeoutMs, 1);
  return {
    host: address,
    port: config.port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    // The certificate is checked against the configured name, not the address connected to.
    ...(named ? { servername: config.host } : {}),
    tls: {
      rejectUnauthorized: ctx.verifyTls,
      minVersion: 'TLSv1.2',
      ...(named ? { servername: config.host } : {}),
    },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    socketCloseTimeout: 1000,
    logger: false,
    debug: false,
  };
}

// ---------------------------------------------------------------------------------------------------
// Errors

function toActionError(error: unknown, config: SmtpConfig, verifyTls: boolean): ActionError {
  if (error instanceof ActionError) return scrubbed(error, config);
  if (error instanceof BlockedAddressError) return new ActionError('ADDRESS_BLOCKED', error.message);
  const e = error as SmtpError;
  const where = `${config.host}:${config.port}`;
  const reply = e.response ? `: ${e.response}` : '';
  let detail = (e.message ?? String(error)).replace(/^Error initiating TLS - /, '').trim();
  if (e.originalCode && !detail.includes(e.originalCode)) detail = `${e.originalCode} ${detail}`;
  let result: ActionError;
  switch (e.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EDNS':
      result = new ActionError('CONNECTION_FAILED', `could not resolve ${config.host}: ${detail}`);
      break;
    case 'EAUTH':
    case 'ENOAUTH':
      result = new ActionError(
        'AUTH_FAILED',
        `${where} rejected the credentials of ${JSON.stringify(config.username ?? '')}${reply || `: ${detail}`}`,
      );
      break;
    case 'ETLS':
      result =
        e.command === 'STARTTLS' && e.responseCode
          ? new ActionError(
              'TLS_FAILED',
              `${where} refused STARTTLS${reply}; no credentials or message were sent without encryption ` +
                '(use security "tls" for implicit TLS, or "none" to allow unencrypted mail)',
            )
          : tlsFailure(where, detail, config, verifyTls);
      break;
    case 'EENVELOPE':
      result = e.rejected?.length
        ? new ActionError(
            'RECIPIENT_REJECTED',
            `${where} rejected every recipient (${e.rejected.join(', ')})${reply}`,
          )
        : new ActionError(
            'REMOTE_REJECTED',
            `${where} refused the message envelope${reply || `: ${detail}`}`,
          );
      break;
    case 'EMESSAGE':
      result = new ActionError('REMOTE_REJECTED', `${where} refused the message${reply || `: ${detail}`}`);
      break;
    case 'ETIMEDOUT':
      result = new ActionError(
        'STEP_TIMEOUT',
        `${where} did not answer in time (${detail})${portHint(config)}`,
      );
      break;
    case undefined:
    default:
      result = TLS_ERROR.test(e.originalCode ?? '')
        ? tlsFailure(where, detail, config, verifyTls)
        : new ActionError('CONNECTION_FAILED', `could not talk to ${where}: ${detail}`);
  }
  return scrubbed(result, config);
}

function tlsFailure(where: string, detail: string, config: SmtpConfig, verifyTls: boolean): ActionError {
  // OpenSSL's own text ("…:error:0A00010B:SSL routines:…") says nothing more than its code.
  const text = detail.replace(/\s+[0-9A-F]+:error:[\s\S]*$/, '');
  let hint = '';
  if (verifyTls && /CERT|SELF.SIGNED|UNABLE_TO_|ALTNAME|issuer|certificate/i.test(text))
    hint = ' (turn verify_tls off only if this server is known to use such a certificate)';
  else if (/WRONG_VERSION_NUMBER|wrong version number|EPROTO/i.test(text)) hint = portHint(config);
  return new ActionError('TLS_FAILED', `TLS with ${where} failed: ${text}${hint}`);
}

/** Port 465 speaks TLS from the start, 587 and 25 plain text then STARTTLS: a mismatch hangs or garbles. */
function portHint(config: SmtpConfig): string {
  if (config.security === 'tls' && config.port !== 465)
    return ` (port ${config.port} may expect STARTTLS: try security "starttls")`;
  if (config.security !== 'tls' && config.port === 465)
    return ' (port 465 usually expects implicit TLS: security "tls")';
  return '';
}

/** Never let the password (or its base64 forms, as sent in AUTH) reach a message. */
function scrubbed(error: ActionError, config: SmtpConfig): ActionError {
  const secrets = secretForms(config).filter((s) => error.message.includes(s));
  if (secrets.length === 0) return error;
  let message = error.message;
  for (const s of secrets) message = message.split(s).join('********');
  return new ActionError(error.code, message, error.retryAfterMs);
}

function secretForms(config: SmtpConfig): string[] {
  const pass = config.password;
  if (!pass) return [];
  const user = config.username ?? '';
  const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
  return [pass, b64(pass), b64(`\0${user}\0${pass}`), b64(`${user}\0${user}\0${pass}`)]
    .filter((s) => s.length >= 3)
    .sort((a, b) => b.length - a.length);
}

// ---------------------------------------------------------------------------------------------------
// Validation: the manifest's schemas run first; these checks keep the handler safe on its own.

function parseConfig(raw: Record<string, unknown>): SmtpConfig {
  const bad = (field: string, why: string) =>
    new ActionError(
      why === 'is required' || why.startsWith('is required when')
        ? 'INTEGRATION_INCOMPLETE'
        : 'INTEGRATION_INVALID',
      `the Email (SMTP) integration's ${field} ${why}`,
    );
  const host = raw.host;
  if (typeof host !== 'string' || host.trim() === '') throw bad('host', 'is required');
  if (/[\s/\0]/.test(host.trim())) throw bad('host', 'must be a host name or IP address');
  if (host.includes(':') && isIP(host.trim().replace(/^\[|\]$/g, '')) !== 6)
    throw bad('host', 'must be a host name or IP address, without a port (give the port in port)');
  const security = raw.security ?? 'starttls';
  if (!SECURITIES.includes(security as Security))
    throw bad('security', `must be one of ${SECURITIES.join(', ')}`);
  const port = raw.port ?? (security === 'tls' ? 465 : 587);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    throw bad('port', 'must be an integer from 1 to 65535');
  const username = optionalString(raw.username);
  const password = optionalString(raw.password);
  if (username !== undefined && typeof username !== 'string') throw bad('username', 'must be a string');
  if (password !== undefined && typeof password !== 'string') throw bad('password', 'must be a string');
  if (username !== undefined && LINE_BREAK.test(username))
    throw bad('username', 'must not contain line breaks');
  if (password !== undefined && username === undefined)
    throw bad('username', 'is required when a password is set');
  if (username !== undefined && password === undefined)
    throw bad('password', 'is required when a username is set');
  if (typeof raw.from !== 'string' || raw.from.trim() === '') throw bad('from', 'is required');
  const from = raw.from.trim();
  if (LINE_BREAK.test(from)) throw bad('from', 'must not contain line breaks');
  const mailboxes = addressparser(from, { flatten: true });
  if (mailboxes.length !== 1 || !validAddress(mailboxes[0]!.address))
    throw bad('from', 'must be one address, "user@example.com" or "Name <user@example.com>"');
  return {
    host: host.trim(),
    port,
    security: security as Security,
    ...(typeof username === 'string' ? { username } : {}),
    ...(typeof password === 'string' ? { password } : {}),
    from,
  };
}

/** Absent, null and "" all mean "not set" for optional configuration fields. */
function optionalString(v: unknown): unknown {
  return v === undefined || v === null || v === '' ? undefined : v;
}

function parseParams(p: Record<string, unknown>): Message {
  const bad = (field: string, why: string) =>
    new ActionError('INVALID_INPUT', `invalid parameters for email.send_email: ${field} ${why}`, undefined, [
      { field, message: why },
    ]);
  const to = addresses(p.to, 'to', bad);
  if (to.length === 0) throw bad('to', 'is required: one address or a list of addresses');
  const cc = addresses(p.cc, 'cc', bad);
  const bcc = addresses(p.bcc, 'bcc', bad);
  const replyTo = addresses(p.reply_to, 'reply_to', bad);
  if (typeof p.subject !== 'string') throw bad('subject', 'is required and must be a string');
  if (LINE_BREAK.test(p.subject)) throw bad('subject', 'must not contain line breaks');
  for (const field of ['text', 'html'] as const)
    if (p[field] !== undefined && p[field] !== null && typeof p[field] !== 'string')
      throw bad(field, 'must be a string');
  const text = typeof p.text === 'string' ? p.text : undefined;
  const html = typeof p.html === 'string' ? p.html : undefined;
  if (text === undefined && html === undefined) throw bad('text', 'or html is required');
  const attachments: Attachment[] = [];
  if (p.attachments !== undefined && p.attachments !== null) {
    if (!Array.isArray(p.attachments)) throw bad('attachments', 'must be a list');
    for (const [i, a] of (p.attachments as unknown[]).entries()) {
      const field = `attachments.${i}`;
      if (typeof a !== 'object' || a === null || Array.isArray(a)) throw bad(field, 'must be an object');
      const { filename, content, content_type: contentType } = a as Record<string, unknown>;
      if (typeof filename !== 'string' || filename === '') throw bad(`${field}.filename`, 'is required');
      if (LINE_BREAK.test(filename)) throw bad(`${field}.filename`, 'must not contain line breaks');
      if (typeof content !== 'string') throw bad(`${field}.content`, 'is required and must be a string');
      if (contentType !== undefined && contentType !== null) {
        if (typeof contentType !== 'string' || !/^[\w.+-]+\/[\w.+-]+(\s*;[^\r\n]*)?$/.test(contentType))
          throw bad(`${field}.content_type`, 'must be a media type such as text/plain');
      }
      attachments.push({ filename, content, ...(typeof contentType === 'string' ? { contentType } : {}) });
    }
  }
  return {
    to,
    cc,
    bcc,
    replyTo,
    subject: p.subject,
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
    attachments,
  };
}

/** One address, a comma-separated list, or a list of either; each "user@host" or "Name <user@host>". */
function addresses(
  value: unknown,
  field: string,
  bad: (field: string, why: string) => ActionError,
): Mailbox[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? (value as unknown[]) : [value];
  const out: Mailbox[] = [];
  for (const [i, item] of items.entries()) {
    const name = Array.isArray(value) ? `${field}.${i}` : field;
    if (typeof item !== 'string') throw bad(name, 'must be a string');
    if (LINE_BREAK.test(item)) throw bad(name, 'must not contain line breaks');
    const mailboxes = addressparser(item, { flatten: true });
    if (mailboxes.length === 0 && item.trim() !== '') throw bad(name, `is not an e-mail address: ${item}`);
    for (const m of mailboxes)
      if (!validAddress(m.address)) throw bad(name, `is not an e-mail address: ${m.address || item}`);
    out.push(...mailboxes.map((m) => ({ name: m.name, address: m.address })));
  }
  return out;
}

function validAddress(address: string): boolean {
  return /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\]+$/.test(address);
}

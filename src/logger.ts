import { pino, type Logger } from 'pino';

/** Webhook and approval URLs carry their credential in the path; logs get it masked. */
export function redactUrl(url: string): string {
  return url.replace(/\/(webhooks|approvals)\/[^/?#]+/g, '/$1/[redacted]');
}

interface LoggedRequest {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Structured JSON logs. Credentials that could reach a log line are redacted at the source. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'osprey' },
    serializers: {
      req: (req: LoggedRequest) => ({
        method: req.method,
        url: redactUrl(req.url ?? ''),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort,
      }),
    },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'headers.authorization',
        'headers.cookie',
        'client_secret',
        'password',
        'value',
        '*.client_secret',
        '*.password',
      ],
      censor: '[redacted]',
    },
  });
}

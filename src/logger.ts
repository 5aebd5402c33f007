import { pino, type Logger } from 'pino';

/** Structured JSON logs. Credentials that could reach a log line are redacted at the source. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'osprey' },
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

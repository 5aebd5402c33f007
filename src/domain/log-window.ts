import { invalidArgument } from './errors.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** RFC 3339 with a required time zone; fractional seconds of any length (cut to microseconds). */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export interface Instant {
  /** Microseconds since the epoch: Postgres keeps microseconds, so the window does too. */
  micros: bigint;
}

export function parseRfc3339(field: string, value: string): bigint {
  const m = RFC3339.exec(value);
  if (!m) {
    throw invalidArgument(
      field,
      `${field} must be an RFC 3339 timestamp such as 2022-03-09T08:40:18.490771179Z`,
    );
  }
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((part) =>
    Number(part),
  );
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1));
  if (
    calendar.getUTCMonth() !== (month ?? 1) - 1 ||
    calendar.getUTCDate() !== day ||
    (hour ?? 0) > 23 ||
    (minute ?? 0) > 59 ||
    (second ?? 0) > 59
  ) {
    throw invalidArgument(field, `${field} is not a valid date and time: ${value}`);
  }
  const fraction = (m[7] ?? '.0').slice(1).padEnd(6, '0').slice(0, 6);
  const whole = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]!.toUpperCase()}`);
  if (Number.isNaN(whole)) {
    throw invalidArgument(field, `${field} is not a valid date: ${value}`);
  }
  return BigInt(whole) * 1000n + BigInt(fraction);
}

export interface LogWindow {
  /** Exclusive lower bound, microseconds since the epoch ("created after"). */
  startMicros: bigint;
  /** Exclusive upper bound, microseconds since the epoch ("created before"). */
  endMicros: bigint;
}

/**
 * The seed's window rules for the log endpoints: neither bound → the last 24 hours; only an end →
 * the 24 hours before it; only a start → from it until now.
 */
export function resolveLogWindow(
  startTime: string | undefined,
  endTime: string | undefined,
  nowMs: number,
): LogWindow {
  const start = startTime ? parseRfc3339('start_time', startTime) : undefined;
  const end = endTime ? parseRfc3339('end_time', endTime) : undefined;
  const dayMicros = BigInt(DAY_MS) * 1000n;
  // "until now": +1 ms so an entry written in the current millisecond is included.
  const nowMicros = BigInt(nowMs) * 1000n + 1000n;
  const endMicros = end ?? nowMicros;
  const startMicros = start ?? endMicros - dayMicros;
  if (startMicros >= endMicros) {
    throw invalidArgument('start_time', 'start_time must be before end_time', 'INVALID_TIME_RANGE');
  }
  return { startMicros, endMicros };
}

export function microsToIso(micros: bigint): string {
  const ms = micros / 1000n;
  const rest = micros % 1000n;
  const iso = new Date(Number(ms)).toISOString(); // 2022-03-09T08:40:18.490Z
  return `${iso.slice(0, 23)}${rest.toString().padStart(3, '0')}Z`;
}

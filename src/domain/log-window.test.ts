import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OspreyError } from './errors.js';
import { microsToIso, parseRfc3339, resolveLogWindow } from './log-window.js';

const NOW = Date.parse('2024-05-10T12:00:00Z');
const DAY = 86_400_000_000n;

describe('log window rules', () => {
  it('defaults to the 24 hours before now', () => {
    const w = resolveLogWindow(undefined, undefined, NOW);
    assert.equal(w.endMicros - w.startMicros, DAY);
    assert.equal(microsToIso(w.startMicros), '2024-05-09T12:00:00.001000Z');
  });

  it('takes the 24 hours before an end, and from a start until now', () => {
    const w = resolveLogWindow(undefined, '2024-05-01T00:00:00Z', NOW);
    assert.equal(microsToIso(w.startMicros), '2024-04-30T00:00:00.000000Z');
    const s = resolveLogWindow('2024-05-01T00:00:00Z', undefined, NOW);
    assert.equal(microsToIso(s.startMicros), '2024-05-01T00:00:00.000000Z');
    assert.equal(s.endMicros, BigInt(NOW) * 1000n + 1000n);
  });

  it('parses nanoseconds and offsets to microseconds', () => {
    assert.equal(
      microsToIso(parseRfc3339('t', '2022-03-09T08:40:18.490771179Z')),
      '2022-03-09T08:40:18.490771Z',
    );
    assert.equal(microsToIso(parseRfc3339('t', '2022-03-09T10:40:18+02:00')), '2022-03-09T08:40:18.000000Z');
  });

  it('names the parameter at fault', () => {
    assert.throws(
      () => resolveLogWindow('2024-05-02T00:00:00Z', '2024-05-01T00:00:00Z', NOW),
      (e: unknown) =>
        e instanceof OspreyError && e.code === 'INVALID_TIME_RANGE' && e.details[0]?.field === 'start_time',
    );
    for (const bad of ['2024-05-01', '2024-05-01T00:00:00', 'yesterday', '2024-02-30T00:00:00Z']) {
      assert.throws(
        () => resolveLogWindow(undefined, bad, NOW),
        (e: unknown) => e instanceof OspreyError && e.status === 400 && e.details[0]?.field === 'end_time',
        bad,
      );
    }
  });
});

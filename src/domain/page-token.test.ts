import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OspreyError } from './errors.js';
import { PageTokenCodec } from './page-token.js';

describe('page tokens', () => {
  const codec = new PageTokenCodec(Buffer.alloc(32, 7));

  it('round-trips its payload', () => {
    assert.deepEqual(codec.decode(codec.encode({ a: 1, b: 'x' })), { a: 1, b: 'x' });
  });

  it('refuses a token that was altered or made with another key', () => {
    const token = codec.encode({ seq: '10' });
    const [body, sig] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ seq: '1' })).toString('base64url');
    const other = new PageTokenCodec(Buffer.alloc(32, 8)).encode({ seq: '10' });
    for (const bad of [
      `${forged}.${sig}`,
      `${body}.x${sig.slice(1)}`,
      other,
      'garbage',
      `${body}`,
      `${token}.extra`,
    ]) {
      assert.throws(
        () => codec.decode(bad),
        (e: unknown) =>
          e instanceof OspreyError && e.code === 'INVALID_PAGE_TOKEN' && e.details[0]?.field === 'page_token',
        bad,
      );
    }
  });
});

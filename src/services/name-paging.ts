import { invalidArgument } from '../domain/errors.js';
import type { PageTokenCodec } from '../domain/page-token.js';
import { pageSize } from '../domain/paging.js';

/** Keyset paging by name for the small named resources (secrets, variables, …). */
export async function pageByName<R extends object>(
  codec: PageTokenCodec,
  scope: string,
  query: { page_size?: number | undefined; page_token?: string | undefined },
  fetch: (afterName: string | undefined, limit: number) => Promise<R[]>,
  key: (row: R) => string = (row) => (row as { name: string }).name,
): Promise<{ rows: R[]; next_page_token?: string }> {
  const size = pageSize(query.page_size, 50, 500);
  let after: string | undefined;
  if (query.page_token) {
    const c = codec.decode(query.page_token);
    if (c.k !== scope || typeof c.n !== 'string') {
      throw invalidArgument('page_token', 'page_token does not belong to this list', 'INVALID_PAGE_TOKEN');
    }
    after = c.n;
  }
  const rows = await fetch(after, size + 1);
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return rows.length > size && last
    ? { rows: page, next_page_token: codec.encode({ k: scope, n: key(last) }) }
    : { rows: page };
}

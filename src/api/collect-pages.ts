/** Every item of a paged service list: follows next_page_token to the end (500 a page). */
export async function collectPages<K extends string, T>(
  key: K,
  page: (query: {
    page_size: number;
    page_token: string | undefined;
  }) => Promise<Record<K, T[]> & { next_page_token?: string }>,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const got = await page({ page_size: 500, page_token: token });
    out.push(...got[key]);
    token = got.next_page_token;
  } while (token);
  return out;
}

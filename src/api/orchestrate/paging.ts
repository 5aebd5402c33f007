import type { FastifyRequest } from 'fastify';
import { invalidArgument } from '../../domain/errors.js';

/** Orchestrate's page envelope: `{count, link: {next, previous}, results}`. */
export interface Paged<T> {
  count: number;
  link: { next: string | null; previous: string | null };
  results: T[];
}

/**
 * One page of `all` by the request's `page` (1-based) and `page_size` (default 10, at most 1000).
 * Links are relative (`openapi/v1/…?page=2&…`) and keep the request's query, signature included:
 * it expires, so clients sign again before following them, as with Orchestrate.
 */
export function paginate<T>(request: FastifyRequest, all: readonly T[]): Paged<T> {
  const q = request.query as Record<string, unknown>;
  const page = q.page === undefined ? 1 : Number(q.page);
  const size = q.page_size === undefined ? 10 : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1)
    throw invalidArgument('page', 'page must be a whole number from 1');
  if (!Number.isInteger(size) || size < 1 || size > 1000)
    throw invalidArgument('page_size', 'page_size must be a whole number from 1 to 1000');
  const start = (page - 1) * size;
  const link = (p: number): string => {
    const url = new URL(request.url, 'http://osprey');
    url.searchParams.set('page', String(p));
    url.searchParams.set('page_size', String(size));
    return `${url.pathname.replace(/^\/soarapi\//, '')}${url.search}`;
  };
  return {
    count: all.length,
    link: {
      next: start + size < all.length ? link(page + 1) : null,
      previous: page > 1 && start - size < all.length ? link(page - 1) : null,
    },
    results: all.slice(start, start + size),
  };
}

import type { FastifyRequest } from 'fastify';
import { invalidArgument } from '../../domain/errors.js';

/** Orchestrate's page envelope: `{count, link: {next, previous}, results}`. */
export interface Paged<T> {
  count: number;
  link: { next: string | null; previous: string | null };
  results: T[];
}

export interface PageParams {
  page: number;
  size: number;
  offset: number;
}

/** The request's `page` (1-based) and `page_size` (default 10, at most 1000). */
export function pageParams(request: FastifyRequest): PageParams {
  const q = request.query as Record<string, unknown>;
  const page = q.page === undefined ? 1 : Number(q.page);
  const size = q.page_size === undefined ? 10 : Number(q.page_size);
  if (!Number.isInteger(page) || page < 1)
    throw invalidArgument('page', 'page must be a whole number from 1');
  if (!Number.isInteger(size) || size < 1 || size > 1000)
    throw invalidArgument('page_size', 'page_size must be a whole number from 1 to 1000');
  return { page, size, offset: (page - 1) * size };
}

/**
 * The envelope around one page of `count` matches. Links are relative (`openapi/v1/…?page=2&…`)
 * and keep the request's query, signature included: it expires, so clients sign again before
 * following them, as with Orchestrate.
 */
export function envelope<T>(request: FastifyRequest, p: PageParams, count: number, results: T[]): Paged<T> {
  const link = (n: number): string => {
    const url = new URL(request.url, 'http://osprey');
    url.searchParams.set('page', String(n));
    url.searchParams.set('page_size', String(p.size));
    return `${url.pathname.replace(/^\/soarapi\//, '')}${url.search}`;
  };
  return {
    count,
    link: {
      next: p.offset + p.size < count ? link(p.page + 1) : null,
      previous: p.page > 1 && p.offset - p.size < count ? link(p.page - 1) : null,
    },
    results,
  };
}

/** One page of `all` (lists held in memory). */
export function paginate<T>(request: FastifyRequest, all: readonly T[]): Paged<T> {
  const p = pageParams(request);
  return envelope(request, p, all.length, all.slice(p.offset, p.offset + p.size));
}

/** A query flag: true/false/1/0 (case-insensitive), or undefined when absent. */
export function flag(request: FastifyRequest, name: string): boolean | undefined {
  const v = text(request, name, 10);
  if (v === undefined) return undefined;
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw invalidArgument(name, `${name} must be true or false`);
}

/** A query time in Unix epoch seconds, or undefined when absent. */
export function epoch(request: FastifyRequest, name: string): Date | undefined {
  const v = text(request, name, 30);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 32503680000)
    throw invalidArgument(name, `${name} must be a time in Unix epoch seconds`);
  return new Date(n * 1000);
}

const WINDOWS: Record<string, number> = { last_week: 7, last_month: 30, last_year: 365 };

/** The start of a `last_week|last_month|last_year` window, or undefined when absent. */
export function windowStart(request: FastifyRequest, name: string, now = Date.now()): Date | undefined {
  const v = text(request, name, 20);
  if (v === undefined) return undefined;
  const days = WINDOWS[v];
  if (days === undefined) throw invalidArgument(name, `${name} must be last_week, last_month or last_year`);
  return new Date(now - days * 86_400_000);
}

/** A query string value, or undefined when absent or empty. */
export function text(request: FastifyRequest, name: string, max = 500): string | undefined {
  const v = (request.query as Record<string, unknown>)[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalidArgument(name, `${name} must be given once`);
  if (v.length > max) throw invalidArgument(name, `${name} is at most ${max} characters`);
  return v;
}

/** The later of two optional dates. */
export function later(a: Date | undefined, b: Date | undefined): Date | undefined {
  return a && b ? (a > b ? a : b) : (a ?? b);
}

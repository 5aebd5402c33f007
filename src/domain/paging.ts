import { invalidArgument } from './errors.js';

/** Validates page_size: an integer from 1 to max; absent means the default. */
export function pageSize(value: number | undefined, defaultSize: number, max: number): number {
  if (value === undefined) return defaultSize;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw invalidArgument('page_size', `page_size must be an integer from 1 to ${max}`);
  }
  return value;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | undefined;
}

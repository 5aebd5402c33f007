/** A name made from a title: lower-case letters and digits, other runs of characters as "_". */
export function slugify(title: string, max: number): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, max);
}

/** Whether `name` is a slug of at most `max` characters (lower-case letters, digits, "-", "_"). */
export function isSlug(name: string, max: number): boolean {
  return new RegExp(`^[a-z0-9][a-z0-9_-]{0,${max - 1}}$`).test(name);
}

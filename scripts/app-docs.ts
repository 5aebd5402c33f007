// npm run docs:apps: writes docs/apps/<identifier>.md for every built-in app (apps/*/manifest.yaml)
// and the index docs/apps/README.md. With --check it writes nothing, lists the pages that are out of
// date and exits 1 when there are any. Pages must be regenerated whenever a manifest changes.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseManifest, type AppManifest } from '../src/domain/apps/manifest.js';
import { appDocsFiles, GENERATED_MARKER } from '../src/integrations/apps/app-docs.js';
import type { HttpClient } from '../src/integrations/http/request.js';
import { nativeHandlers } from '../src/integrations/apps/native-handlers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const APPS_DIR = join(ROOT, 'apps');
export const DOCS_DIR = join(ROOT, 'docs', 'apps');

/** The native handler names built-in manifests may use (as the server registers them). */
function handlerNames(): Set<string> {
  const none = (): Promise<never> => Promise.reject(new Error('not for docs'));
  const native = nativeHandlers({} as HttpClient, { apply: none }, { render: none });
  return new Set([...native.handlers.keys(), ...native.tests.keys()]);
}

/** Every built-in app's manifest, parsed and checked as the server does at start. */
export function loadBuiltInManifests(dir: string = APPS_DIR): AppManifest[] {
  const handlers = handlerNames();
  const manifests: AppManifest[] = [];
  for (const name of readdirSync(dir).sort()) {
    const folder = join(dir, name);
    const file = join(folder, 'manifest.yaml');
    if (!statSync(folder).isDirectory() || !existsSync(file)) continue;
    const files = new Set(
      readdirSync(folder, { recursive: true, encoding: 'utf8' })
        .filter((f) => statSync(join(folder, f)).isFile())
        .map((f) => f.split('\\').join('/')),
    );
    const { manifest, problems } = parseManifest(readFileSync(file, 'utf8'), { files, handlers });
    if (!manifest)
      throw new Error(
        `apps/${name}/manifest.yaml is invalid: ${problems.map((p) => `${p.path} (line ${p.line}): ${p.message}`).join('; ')}`,
      );
    manifests.push(manifest);
  }
  return manifests;
}

export interface DocsDiff {
  /** Files to write (missing or different), by name under docs/apps/. */
  stale: Map<string, string>;
  /** Generated pages of apps that no longer exist. */
  orphans: string[];
}

/** What differs between the generated pages and docs/apps/ on disk. */
export function docsDiff(manifests: readonly AppManifest[], dir: string = DOCS_DIR): DocsDiff {
  const expected = appDocsFiles(manifests);
  const stale = new Map<string, string>();
  for (const [name, text] of expected) {
    const path = join(dir, name);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) stale.set(name, text);
  }
  const orphans = existsSync(dir)
    ? readdirSync(dir).filter(
        (f) =>
          f.endsWith('.md') &&
          !expected.has(f) &&
          readFileSync(join(dir, f), 'utf8').startsWith(GENERATED_MARKER),
      )
    : [];
  return { stale, orphans };
}

function main(): void {
  const check = process.argv.includes('--check');
  const { stale, orphans } = docsDiff(loadBuiltInManifests());
  const rel = (f: string): string => `docs/apps/${f}`;
  if (check) {
    if (stale.size === 0 && orphans.length === 0) {
      process.stdout.write('docs/apps is up to date\n');
      return;
    }
    for (const f of stale.keys()) process.stdout.write(`out of date: ${rel(f)}\n`);
    for (const f of orphans) process.stdout.write(`no longer generated: ${rel(f)}\n`);
    process.stdout.write('run npm run docs:apps\n');
    process.exitCode = 1;
    return;
  }
  mkdirSync(DOCS_DIR, { recursive: true });
  for (const [f, text] of stale) {
    writeFileSync(join(DOCS_DIR, f), text);
    process.stdout.write(`wrote ${rel(f)}\n`);
  }
  for (const f of orphans) {
    unlinkSync(join(DOCS_DIR, f));
    process.stdout.write(`removed ${rel(f)}\n`);
  }
  if (stale.size === 0 && orphans.length === 0) process.stdout.write('docs/apps is up to date\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();

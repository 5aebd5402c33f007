import { strToU8, unzipSync, zipSync, type Unzipped } from 'fflate';

export const PACKAGE_LIMITS = { packedBytes: 5 * 1024 * 1024, unpackedBytes: 20 * 1024 * 1024, files: 200 };
const LOGO_BYTES = 256 * 1024;

export interface PackageProblem {
  field: string;
  message: string;
}

export interface ReadPackage {
  manifestText: string | undefined;
  /** Files by their path relative to the manifest. */
  files: Map<string, Uint8Array>;
  problems: PackageProblem[];
}

/** Unpacks an app package (ZIP), refusing unsafe paths and oversized content; names every problem. */
export function readPackage(archive: Uint8Array): ReadPackage {
  const problems: PackageProblem[] = [];
  const files = new Map<string, Uint8Array>();
  if (archive.length > PACKAGE_LIMITS.packedBytes)
    return {
      manifestText: undefined,
      files,
      problems: [
        { field: 'package', message: `the package is larger than ${PACKAGE_LIMITS.packedBytes} bytes` },
      ],
    };
  let entries: Unzipped;
  let count = 0;
  let unpacked = 0;
  try {
    entries = unzipSync(archive, {
      filter: (f) => {
        count++;
        unpacked += f.originalSize;
        if (count > PACKAGE_LIMITS.files || unpacked > PACKAGE_LIMITS.unpackedBytes)
          throw new Error('limits');
        return true;
      },
    });
  } catch (error) {
    const message =
      (error as Error).message === 'limits'
        ? `a package may hold at most ${PACKAGE_LIMITS.files} files and ${PACKAGE_LIMITS.unpackedBytes} bytes unpacked`
        : 'the package is not a ZIP archive';
    return { manifestText: undefined, files, problems: [{ field: 'package', message }] };
  }
  const names = Object.keys(entries).filter((n) => !n.endsWith('/') && !/(^|\/)__MACOSX\//.test(n));
  // The manifest is at the root or inside one top-level folder.
  const manifestPath = names.includes('manifest.yaml')
    ? 'manifest.yaml'
    : names.find((n) => /^[^/]+\/manifest\.yaml$/.test(n));
  const root = manifestPath ? manifestPath.slice(0, -'manifest.yaml'.length) : '';
  for (const name of names) {
    if (name.includes('..') || name.startsWith('/') || name.includes('\\') || /[\0-\x1f]/.test(name)) {
      problems.push({ field: name, message: 'unsafe path in the archive' });
      continue;
    }
    if (!name.startsWith(root)) {
      problems.push({ field: name, message: `outside the package folder ${root}` });
      continue;
    }
    files.set(name.slice(root.length), entries[name]!);
  }
  if (!manifestPath) problems.push({ field: 'manifest.yaml', message: 'the package has no manifest.yaml' });
  for (const [name, data] of files) {
    if (/\.(png|svg|jpe?g)$/i.test(name) && data.length > LOGO_BYTES)
      problems.push({ field: name, message: `a logo may be at most ${LOGO_BYTES} bytes` });
  }
  const manifest = files.get('manifest.yaml');
  return { manifestText: manifest ? new TextDecoder().decode(manifest) : undefined, files, problems };
}

/** Packs files (path → content) into a package archive. */
export function writePackage(files: ReadonlyMap<string, Uint8Array | string>): Buffer {
  const input: Record<string, Uint8Array> = {};
  for (const [name, data] of files) input[name] = typeof data === 'string' ? strToU8(data) : data;
  return Buffer.from(zipSync(input, { level: 6, mtime: new Date('2026-01-01T00:00:00Z') }));
}

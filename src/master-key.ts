import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MASTER_KEY_FILE = 'master.key';

/** Parses a 256-bit key given as base64 (44 chars) or hex (64 chars). */
export function parseMasterKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new Error('OSPREY_MASTER_KEY must be 32 bytes, given as base64 or hex (openssl rand -base64 32)');
  }
  return key;
}

/**
 * The master key: OSPREY_MASTER_KEY when set, otherwise `<dataDir>/master.key`, created with mode
 * 0600 on first start. `warn` is told when an existing key file is readable by others.
 */
export async function loadMasterKey(
  fromEnv: string | undefined,
  dataDir: string,
  warn: (message: string) => void,
): Promise<{ key: Buffer; source: 'env' | 'file' | 'new-file' }> {
  if (fromEnv) return { key: parseMasterKey(fromEnv), source: 'env' };
  const file = join(dataDir, MASTER_KEY_FILE);
  if (existsSync(file)) {
    const mode = (await stat(file)).mode & 0o777;
    if (mode & 0o077) warn(`${file} is readable by other users (mode ${mode.toString(8)}); chmod 600 it`);
    return { key: parseMasterKey(await readFile(file, 'utf8')), source: 'file' };
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return { key, source: 'new-file' };
}

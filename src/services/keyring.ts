import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { OspreyError } from '../domain/errors.js';
import type { Database, Sql } from '../store/database.js';
import {
  ENCRYPTED_COLUMNS,
  insertDataKey,
  listDataKeys,
  retireDataKeysBelow,
  rowsBelowVersion,
  updateCiphertexts,
} from '../store/data-keys.js';

const FORMAT = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

function seal(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT]), iv, cipher.getAuthTag(), body]);
}

function open(key: Buffer, sealed: Buffer, aad: string): Buffer {
  if (sealed[0] !== FORMAT || sealed.length < 1 + IV_BYTES + TAG_BYTES) {
    throw new OspreyError('DECRYPTION_FAILED', 500, 'ciphertext has an unknown format');
  }
  const iv = sealed.subarray(1, 1 + IV_BYTES);
  const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch (cause) {
    throw new OspreyError('DECRYPTION_FAILED', 500, 'a stored value could not be decrypted', { cause });
  }
}

export interface Sealed {
  data: Buffer;
  version: number;
}

/**
 * Envelope encryption: values are sealed (AES-256-GCM) with versioned data keys, and the data keys
 * are sealed with the master key. Each ciphertext is bound to its row (`aad`), so ciphertexts cannot
 * be swapped between rows. `rotate()` adds a data key and re-encrypts everything under it.
 */
export class Keyring {
  readonly #master: Buffer;
  readonly #db: Database;
  readonly #keys = new Map<number, Buffer>();
  #active = 0;

  constructor(masterKey: Buffer, db: Database) {
    this.#master = masterKey;
    this.#db = db;
  }

  /** Loads the data keys, creating the first one on a new database. */
  async load(): Promise<void> {
    const db = this.#db;
    let rows = await listDataKeys(db);
    if (rows.length === 0) {
      await insertDataKey(db, 1, seal(this.#master, randomBytes(32), 'data-key:1'));
      rows = await listDataKeys(db);
    }
    this.#keys.clear();
    for (const row of rows) {
      try {
        this.#keys.set(row.version, open(this.#master, row.wrapped_key, `data-key:${row.version}`));
      } catch (cause) {
        throw new OspreyError(
          'ENCRYPTION_KEY_MISSING',
          500,
          "the master key does not open this database's data keys: set OSPREY_MASTER_KEY (or restore data/master.key) to the key this database was created with",
          { cause },
        );
      }
    }
    this.#active = Math.max(
      ...rows.filter((r) => !r.retired_at).map((r) => r.version),
      ...rows.map((r) => r.version),
    );
  }

  get activeVersion(): number {
    return this.#active;
  }

  encrypt(plaintext: string, aad: string): Sealed {
    return {
      data: seal(this.#key(this.#active), Buffer.from(plaintext, 'utf8'), aad),
      version: this.#active,
    };
  }

  /** Decrypts; a version this process has not seen (another process rotated) reloads the keys. */
  async decrypt(sealed: Buffer, version: number, aad: string): Promise<string> {
    if (!this.#keys.has(version)) await this.load();
    return open(this.#key(version), sealed, aad).toString('utf8');
  }

  #key(version: number): Buffer {
    const key = this.#keys.get(version);
    if (!key)
      throw new OspreyError('ENCRYPTION_KEY_MISSING', 500, `data key version ${version} is not loaded`);
    return key;
  }

  /**
   * Creates data key version n+1 and re-encrypts every encrypted column under it, in batches, each
   * batch its own transaction. Returns the new version and how many values were re-encrypted.
   */
  async rotate(onProgress?: (done: number) => void): Promise<{ version: number; reencrypted: number }> {
    const db = this.#db;
    await this.load();
    const version = this.#active + 1;
    const raw = randomBytes(32);
    if (!(await insertDataKey(db, version, seal(this.#master, raw, `data-key:${version}`)))) {
      throw new OspreyError('CONFLICT', 409, 'another rotation created the same key version; run it again');
    }
    this.#keys.set(version, raw);
    this.#active = version;
    let reencrypted = 0;
    for (const col of ENCRYPTED_COLUMNS) {
      for (;;) {
        const n = await db.transaction(async (tx: Sql) => {
          const rows = await rowsBelowVersion(tx, col, version, 500);
          if (rows.length === 0) return 0;
          const aadOf = (id: string): string => rowAad(col.table, id);
          const updates = rows.map((r) => ({
            id: r.id,
            data: seal(raw, open(this.#key(r.version), r.data, aadOf(r.id)), aadOf(r.id)),
          }));
          await updateCiphertexts(tx, col, updates, version);
          return rows.length;
        });
        if (n === 0) break;
        reencrypted += n;
        onProgress?.(reencrypted);
      }
    }
    await retireDataKeysBelow(db, version);
    return { version, reencrypted };
  }
}

/** The associated data that binds a ciphertext to its row. */
export function rowAad(table: string, id: string): string {
  return `${table}:${id}`;
}

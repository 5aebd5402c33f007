// npm test: runs every *.test.ts with Node's test runner against a real PostgreSQL — the server in
// DATABASE_URL when set, otherwise an embedded one started here and removed afterwards. Each test
// file creates its own database on that server.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../src/store/embedded-postgres.js';

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') out.push(...(await findTests(path)));
    else if (entry.isFile() && entry.name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const files = [...(await findTests('src')), ...(await findTests('test'))]
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort();

let embedded: EmbeddedPostgresHandle | undefined;
let dataDir: string | undefined;
let adminUrl = process.env.DATABASE_URL;
if (adminUrl) {
  process.stdout.write(`tests use the PostgreSQL server in DATABASE_URL\n`);
} else {
  dataDir = await mkdtemp(join(tmpdir(), 'osprey-test-pg-'));
  const started = Date.now();
  embedded = await startEmbeddedPostgres({ dataDir, database: 'postgres' });
  adminUrl = embedded.connectionString;
  process.stdout.write(`tests use an embedded PostgreSQL (ready in ${Date.now() - started} ms)\n`);
}

const concurrency = process.env.OSPREY_TEST_CONCURRENCY ?? '3';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { stdio: 'inherit', env: { ...process.env, OSPREY_TEST_ADMIN_URL: adminUrl } },
);
const code: number = await new Promise((resolve) =>
  child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))),
);
await embedded?.stop();
if (dataDir) await rm(dataDir, { recursive: true, force: true });
process.exit(code);

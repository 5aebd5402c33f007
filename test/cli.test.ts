import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createServices } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { Database } from '../src/store/database.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const run = promisify(execFile);

/** The CLI as a user runs it: separate processes against the same database. */
describe('osprey CLI', () => {
  let database: TestDatabase;
  let db: Database;
  const masterKey = randomBytes(32);
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    DATABASE_URL: database.url,
    OSPREY_MASTER_KEY: masterKey.toString('base64'),
    OSPREY_LOG_LEVEL: 'silent',
  });
  async function osprey(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return ospreyWithInput(undefined, ...args);
  }
  function ospreyWithInput(
    input: string | undefined,
    ...args: string[]
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', ...args],
        { env: env() },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin?.end(input ?? '');
    });
  }

  before(async () => {
    database = await createTestDatabase();
    db = new Database({ connectionString: database.url, max: 2 });
  });
  after(async () => {
    await db.close();
    await database.drop();
  });

  it('migrates, creates a workspace and keys that work, rotates the keyring, verifies the audit chain', async () => {
    assert.equal((await osprey('migrate')).code, 0);
    const ws = await osprey('workspaces', 'create', 'acme', '--owner-email', 'lead@acme.test', '--json');
    assert.equal(ws.code, 0, ws.stderr);
    const created = JSON.parse(ws.stdout) as {
      workspace: { id: string; owners_emails: string[] };
      api_key: { client_id: string };
    };
    assert.deepEqual(created.workspace.owners_emails, ['lead@acme.test']);

    const key = await osprey('keys', 'create', '--role', 'operator', '--workspace', 'acme', '--json');
    assert.equal(key.code, 0, key.stderr);
    const pair = JSON.parse(key.stdout) as {
      client_id: string;
      client_secret: string;
      role: string;
      workspace_id: string;
    };
    assert.equal(pair.role, 'operator');
    assert.equal(pair.workspace_id, created.workspace.id);

    const services = createServices(db, masterKey, loadConfig({ DATABASE_URL: database.url }));
    await services.keyring.load();
    assert.ok(await services.apiKeys.verifyCredentials(pair.client_id, pair.client_secret));

    const rotated = await osprey('keys', 'rotate');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /data key version 2 is active; 2 values re-encrypted/);
    assert.ok(
      await services.apiKeys.verifyCredentials(pair.client_id, pair.client_secret),
      'the key works after rotation',
    );

    const ok = await osprey('audit', 'verify');
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /ok, 4 entries/, 'three changes and "Encryption key rotated"');
    const rotatedEntry = await db.one<{ action: string }>(
      `SELECT action FROM audit_logs ORDER BY ts DESC LIMIT 1`,
    );
    assert.equal(rotatedEntry?.action, 'Encryption key rotated');
  });

  it('names the audit entry that was changed behind the API, with exit code 1', async () => {
    const victim = await db.one<{ id: string; seq: string }>(
      `SELECT id, seq FROM audit_logs WHERE action = 'API key enabled' AND extra_data->>'role' = 'operator'`,
    );
    await db.exec(`UPDATE audit_logs SET extra_data = '{"role":"owner"}' WHERE id = $1`, [victim!.id]);
    const res = await osprey('audit', 'verify', '--json');
    assert.equal(res.code, 1);
    const [report] = JSON.parse(res.stdout) as {
      ok: boolean;
      first_broken: { id: string; seq: string; reason: string };
    }[];
    assert.equal(report!.ok, false);
    assert.equal(report!.first_broken.id, victim!.id);
    assert.equal(report!.first_broken.seq, victim!.seq);
    const text = await osprey('audit', 'verify', '--workspace', 'acme');
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`BROKEN at seq ${victim!.seq} \\(entry ${victim!.id}\\)`));
  });

  it('refuses bad options with a message that names them', async () => {
    const badRole = await osprey('keys', 'create', '--role', 'admin');
    assert.notEqual(badRole.code, 0);
    assert.match(badRole.stderr, /--role.*admin.*(owner|choices)/s);
    const noWs = await osprey('keys', 'create', '--role', 'viewer', '--workspace', 'nope');
    assert.notEqual(noWs.code, 0);
    assert.match(noWs.stderr, /no workspace named "nope"/);
    const dup = await osprey('workspaces', 'create', 'acme');
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already exists/);
  });

  it('sets a console password from standard input, so the first owner can sign in', async () => {
    const short = await ospreyWithInput('short\n', 'users', 'set-password', '--email', 'lead@acme.test');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /password must have at least 12 characters/);
    const unknown = await ospreyWithInput(
      'a long enough password\n',
      'users',
      'set-password',
      '--email',
      'nobody@acme.test',
    );
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /nobody@acme.test was not found/);
    const ok = await ospreyWithInput(
      'a long enough password\n',
      'users',
      'set-password',
      '--email',
      'lead@acme.test',
    );
    assert.equal(ok.code, 0, ok.stderr);
    const services = createServices(db, masterKey, loadConfig({ DATABASE_URL: database.url }));
    await services.keyring.load();
    const login = await services.auth.login(
      { email: 'lead@acme.test', password: 'a long enough password' },
      { ip: '127.0.0.1', userAgent: 'test' },
    );
    assert.equal(login.principal.role, 'owner');
    const entry = await db.one<{ action: string }>(
      `SELECT action FROM audit_logs WHERE action = 'User password set'`,
    );
    assert.ok(entry);
  });

  it('refuses to start on a schema newer than it knows', async () => {
    await db.exec(`INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')`);
    const res = await osprey('migrate');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /schema is at version 999.*upgrade Osprey/);
    await db.exec(`DELETE FROM schema_migrations WHERE version = 999`);
  });

  it('refuses a master key that does not match the database', async () => {
    const wrong = { ...env(), OSPREY_MASTER_KEY: randomBytes(32).toString('base64') };
    const res = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'migrate'], {
      env: wrong,
    }).catch((e: unknown) => e as { code: number; stderr: string });
    assert.equal((res as { code: number }).code, 1);
    assert.match((res as { stderr: string }).stderr, /master key does not open/);
  });
});

import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { createServices, type Services } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Clock } from '../../src/domain/clock.js';
import { bootstrap } from '../../src/services/bootstrap.js';
import { Database } from '../../src/store/database.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDatabase, type TestDatabase } from './db.js';

export interface KeyPair {
  client_id: string;
  client_secret: string;
}

export interface TestApp {
  app: FastifyInstance;
  services: Services;
  db: Database;
  database: TestDatabase;
  config: Config;
  /** The master key the services use (child processes need the same one). */
  masterKey: Buffer;
  workspaceId: string;
  owner: KeyPair;
  /** A bearer token for the key pair (the owner key by default). */
  token(key?: KeyPair): Promise<string>;
  /** inject() with a bearer token for `as` (default: the owner key), JSON bodies. */
  request(options: InjectOptions & { as?: KeyPair | string | null }): Promise<LightMyRequestResponse>;
  /** Creates a service key with the role in the default workspace (or the given workspace key's). */
  keyWithRole(role: string, via?: KeyPair): Promise<KeyPair>;
  close(): Promise<void>;
}

/** A migrated database, the services and the HTTP server (inject, no port), with a bootstrap workspace. */
export async function startTestApp(
  options: { env?: Record<string, string>; clock?: Clock } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({
    OSPREY_DATA_DIR: '/nonexistent',
    OSPREY_RATE_LIMIT: '100000',
    ...options.env,
    DATABASE_URL: database.url,
  });
  const db = new Database({ connectionString: database.url, max: 5 });
  await migrate(db);
  const masterKey = randomBytes(32);
  const services = createServices(db, masterKey, config, options.clock);
  await services.keyring.load();
  const created = await bootstrap(db, services.workspaces, {
    workspaceName: 'default',
    ownerEmail: 'owner@example.com',
    fixedKey: undefined,
  });
  if (!created) throw new Error('bootstrap did not create a workspace');
  const app = await buildServer({ services, config, logger: false });
  const tokens = new Map<string, string>();
  const token = async (key: KeyPair = created.api_key): Promise<string> => {
    const cached = tokens.get(key.client_id);
    if (cached) return cached;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/auth/token',
      payload: { apiKey: `${key.client_id}:${key.client_secret}` },
    });
    if (res.statusCode !== 200) throw new Error(`token exchange failed: ${res.statusCode} ${res.body}`);
    const t = (res.json() as { access_token: string }).access_token;
    tokens.set(key.client_id, t);
    return t;
  };
  const request: TestApp['request'] = async ({ as, ...opts }) => {
    const headers: Record<string, string> = { ...(opts.headers as Record<string, string> | undefined) };
    if (as !== null)
      headers.authorization = `Bearer ${typeof as === 'string' ? as : await token(as ?? created.api_key)}`;
    return app.inject({ ...opts, headers });
  };
  return {
    app,
    services,
    db,
    database,
    config,
    masterKey,
    workspaceId: created.workspace.id,
    owner: created.api_key,
    token,
    request,
    async keyWithRole(role, via) {
      const res = await request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name: `${role}-${randomBytes(4).toString('hex')}`, role },
        as: via ?? created.api_key,
      });
      if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.statusCode} ${res.body}`);
      const body = res.json() as { api_key: { client_id: string }; client_secret: string };
      return { client_id: body.api_key.client_id, client_secret: body.client_secret };
    },
    async close() {
      await app.close();
      await db.close();
      await database.drop();
    },
  };
}

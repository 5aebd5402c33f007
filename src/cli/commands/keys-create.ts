import { Option, type Command } from 'commander';
import { ROLE_NAMES, type RoleName } from '../../domain/roles.js';
import { resolveWorkspace, withRuntime } from '../runtime.js';

export function registerKeysCreate(keys: Command): void {
  keys
    .command('create')
    .description('create a service API key and print it (the secret is shown once)')
    .addOption(new Option('--role <role>', 'the key role').choices(ROLE_NAMES).makeOptionMandatory())
    .option('--workspace <name>', 'the workspace (default: the bootstrap workspace)')
    .option('--name <name>', 'the key name (default: "<role> key <date>")')
    .option('--expires-at <time>', 'RFC 3339 expiry')
    .option('--json', 'print JSON')
    .action(
      async (opts: {
        role: RoleName;
        workspace?: string;
        name?: string;
        expiresAt?: string;
        json?: boolean;
      }) => {
        const out = await withRuntime(async (rt, config) => {
          const ws = await resolveWorkspace(rt, config, opts.workspace);
          const created = await rt.services.apiKeys.createAsSystem(ws, {
            name: opts.name ?? `${opts.role} key ${new Date().toISOString()}`,
            type: 'service',
            role: opts.role,
            expires_at: opts.expiresAt,
          });
          return {
            client_id: created.key.client_id,
            client_secret: created.client_secret,
            id: created.key.id,
            name: created.key.name,
            role: created.key.role,
            workspace_id: ws.id,
            workspace: ws.name,
          };
        });
        process.stdout.write(
          opts.json
            ? JSON.stringify(out) + '\n'
            : `client_id:     ${out.client_id}\nclient_secret: ${out.client_secret}\n`,
        );
      },
    );
}

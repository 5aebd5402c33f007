import type { Command } from 'commander';
import { withRuntime } from '../runtime.js';

export function registerWorkspacesCreate(program: Command): void {
  const workspaces =
    program.commands.find((c) => c.name() === 'workspaces') ??
    program.command('workspaces').description('manage workspaces');
  workspaces
    .command('create')
    .description('create a workspace and print its owner API key (shown once)')
    .argument('<name>', 'the workspace name')
    .option('--owner-email <email>', 'the owner user to create or reuse', 'admin@osprey.local')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { ownerEmail: string; json?: boolean }) => {
      const created = await withRuntime((rt) => rt.services.workspaces.createAsSystem(name, opts.ownerEmail));
      if (opts.json) {
        process.stdout.write(JSON.stringify(created, null, 2) + '\n');
      } else {
        process.stdout.write(
          `workspace ${created.workspace.name} (${created.workspace.id})\n  client_id:     ${created.api_key.client_id}\n  client_secret: ${created.api_key.client_secret}\n`,
        );
      }
    });
}

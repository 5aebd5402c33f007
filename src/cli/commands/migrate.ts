import type { Command } from 'commander';
import { withRuntime } from '../runtime.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations and exit (start does this too)')
    .action(async () => {
      await withRuntime(async () => undefined);
      process.stdout.write('database schema is up to date\n');
    });
}

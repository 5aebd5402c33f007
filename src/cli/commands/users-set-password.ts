import type { Command } from 'commander';
import { withRuntime } from '../runtime.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerUsersSetPassword(program: Command): void {
  const users = program.command('users').description('console users');
  users
    .command('set-password')
    .description("set a user's console password, read from standard input (never from the command line)")
    .requiredOption('--email <email>', 'the user, e.g. the first owner admin@osprey.local')
    .action(async (opts: { email: string }) => {
      if (process.stdin.isTTY) process.stderr.write('password (then Enter and Ctrl-D): ');
      const password = (await readStdin()).replace(/\r?\n$/, '');
      await withRuntime((rt) => rt.services.users.setPasswordAsSystem(opts.email, password));
      process.stdout.write(`password set for ${opts.email}\n`);
    });
}

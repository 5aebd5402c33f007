import type { Command } from 'commander';
import { rotateEncryptionKey } from '../../services/key-rotation.js';
import { withRuntime } from '../runtime.js';

export function registerKeysRotate(keys: Command): void {
  keys
    .command('rotate')
    .description('create a new data encryption key and re-encrypt every secret and API key secret under it')
    .action(async () => {
      const result = await withRuntime((rt) =>
        rotateEncryptionKey(rt.services, (done) => process.stderr.write(`\rre-encrypted ${done} values`)),
      );
      process.stderr.write('\n');
      process.stdout.write(
        `data key version ${result.version} is active; ${result.reencrypted} values re-encrypted\n`,
      );
    });
}

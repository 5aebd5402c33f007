import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { validateDefinition } from '../src/domain/workflow/validate.js';

/** Every YAML example in the workflow docs is a valid definition. */
describe('workflow documentation examples', () => {
  it('validate without problems', async () => {
    for (const file of ['docs/workflow-language.md', 'docs/workflows.md']) {
      const text = await readFile(file, 'utf8');
      const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
      assert.ok(blocks.length > 0, `${file} has examples`);
      for (const block of blocks) {
        assert.deepEqual(validateDefinition(block).problems, [], `${file}:\n${block}`);
      }
    }
  });
});

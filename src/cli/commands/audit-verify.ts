import type { Command } from 'commander';
import { resolveWorkspace, withRuntime } from '../runtime.js';

export function registerAuditVerify(program: Command): void {
  const audit = program.command('audit').description('the audit log');
  audit
    .command('verify')
    .description(
      'recompute the audit hash chain and report the first broken link (exit code 1 when one is found)',
    )
    .option('--workspace <name>', 'one workspace (default: all)')
    .option('--json', 'print JSON')
    .action(async (opts: { workspace?: string; json?: boolean }) => {
      const reports = await withRuntime(async (rt, config) => {
        if (opts.workspace)
          return [await rt.services.audit.verify((await resolveWorkspace(rt, config, opts.workspace)).id)];
        return rt.services.audit.verifyAll();
      });
      if (opts.json) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
      else
        for (const r of reports) {
          process.stdout.write(
            r.ok
              ? `workspace ${r.workspace_id}: ok, ${r.entries_checked} entries\n`
              : `workspace ${r.workspace_id}: BROKEN at seq ${r.first_broken?.seq} (entry ${r.first_broken?.id ?? 'missing'}): ${r.first_broken?.reason}\n`,
          );
        }
      if (reports.some((r) => !r.ok)) process.exitCode = 1;
    });
}

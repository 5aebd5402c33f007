// Percentiles, number formatting and the report's machine and summary sections.
import os from 'node:os';
import type { Database } from '../../src/store/database.js';

export const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number): string => n.toFixed(2);

export interface Stats {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentiles of latency samples (ms). */
export function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return {
    n: s.length,
    p50: rank(0.5),
    p95: rank(0.95),
    p99: rank(0.99),
    max: s.at(-1) ?? 0,
    mean: s.reduce((a, b) => a + b, 0) / (s.length || 1),
  };
}

export function printStats(name: string, s: Stats, extra = ''): void {
  out(
    `  ${name}: n=${s.n}  p50 ${fmtMs(s.p50)} ms  p99 ${fmtMs(s.p99)} ms  max ${fmtMs(s.max)} ms  mean ${fmtMs(s.mean)} ms${extra}`,
  );
}

export interface MachineInfo {
  cpu: string;
  memory: string;
  node: string;
  postgres: string;
  database: string;
}

/** Reads and prints the machine, Node and PostgreSQL (version and a few settings) the run is on. */
export async function printMachine(db: Database, database: string): Promise<MachineInfo> {
  const cpus = os.cpus();
  const postgres = (await db.one<{ v: string }>('SELECT version() AS v'))!.v;
  // current_setting(): with units applied (pg_settings.setting is in units such as 8kB).
  const settings = await db.rows<{ name: string; setting: string }>(
    `SELECT name, current_setting(name) AS setting FROM pg_settings
      WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost', 'jit')
      ORDER BY name`,
  );
  const info: MachineInfo = {
    cpu: `${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    postgres,
    database,
  };
  out('== machine');
  out(`  CPU:        ${info.cpu}`);
  out(`  memory:     ${info.memory}`);
  out(`  Node:       ${info.node} (${os.platform()} ${os.release()})`);
  out(`  PostgreSQL: ${info.postgres}`);
  out(`  settings:   ${settings.map((s) => `${s.name}=${s.setting}`).join(' ')}`);
  out(`  database:   ${info.database}`);
  return info;
}

export interface ResultRow {
  name: string;
  stats: Stats;
  note?: string;
}

/** The summary: machine lines, then one row per query with n, p50, p99, max and the target check. */
export function printSummary(
  machine: MachineInfo,
  rows: ResultRow[],
  targetP99Ms: number,
  intro: string,
): void {
  out('== summary');
  out(`  database:   ${machine.database}`);
  out(`  machine:    ${machine.cpu}, ${machine.memory}, Node ${machine.node}`);
  out(`  PostgreSQL: ${machine.postgres}`);
  out(`  ${intro}; target p99 < ${targetP99Ms} ms`);
  const header = ['query', 'n', 'p50 ms', 'p99 ms', 'max ms', `p99 < ${targetP99Ms} ms`];
  const table = rows.map((r) => [
    r.name,
    String(r.stats.n),
    fmtMs(r.stats.p50),
    fmtMs(r.stats.p99),
    fmtMs(r.stats.max),
    `${r.stats.p99 < targetP99Ms ? 'yes' : 'NO'}${r.note ? `  (${r.note})` : ''}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (cells: string[]): string =>
    `  ${cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')}`.trimEnd();
  out(line(header));
  out(`  ${widths.map((w) => '-'.repeat(w)).join('-+-')}`);
  for (const t of table) out(line(t));
}

// Where the CPU goes during a measurement: the whole machine (os.cpus()), this process, the children
// (they report their own), and the PostgreSQL server (its postmaster and every child of it, from
// /proc, when it runs on this machine and /proc is readable).
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Busy CPU time of the whole machine (all cores), ms. */
export function machineBusyMs(): number {
  let busy = 0;
  for (const c of os.cpus()) busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
  return busy;
}

/** Cores the machine keeps busy over `ms` while the benchmark does nothing (other processes). */
export async function backgroundLoad(ms = 2000): Promise<number> {
  const b0 = machineBusyMs();
  await sleep(ms);
  return (machineBusyMs() - b0) / ms;
}

/** This process's CPU time (user + system), ms. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Linux reports process times in clock ticks; USER_HZ is 100 on every mainstream architecture. */
const TICK_MS = 10;

/** The CPU time of a PostgreSQL server: its postmaster and all its children (backends, WAL writer, ...). */
export class PgServerCpu {
  private constructor(private readonly postmaster: number) {}

  /**
   * Finds the postmaster from `data_directory` (needs a superuser) and its postmaster.pid; undefined
   * when the server is not on this machine or not readable.
   */
  static async find(dataDirectory: string): Promise<PgServerCpu | undefined> {
    try {
      const pid = Number((await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      if (!Number.isInteger(pid) || pid <= 0) return undefined;
      const cpu = new PgServerCpu(pid);
      await cpu.ms();
      return cpu;
    } catch {
      return undefined;
    }
  }

  /** CPU time (ms) used so far by the postmaster and its children (live, and exited ones reaped). */
  async ms(): Promise<number> {
    let ticks = 0;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // "pid (comm) state ppid ... utime stime ...": comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(entry);
      if (pid === this.postmaster)
        // Its own time, and that of children that have exited (cutime, cstime).
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      else if (Number(fields[1]) === this.postmaster) ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks * TICK_MS;
  }
}

// What a process costs, read from /proc: CPU time and resident memory.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, nearly always 100). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface CpuTimes {
  /** utime from /proc/<pid>/stat: every thread, the exited ones included; 1/CLK_TCK resolution. */
  userSeconds: number;
  /** stime from /proc/<pid>/stat, likewise. */
  systemSeconds: number;
  /**
   * Time on a CPU (user + system) to the nanosecond: the sum of the live threads' schedstat. utime + stime
   * move in 10 ms steps, too coarse for a tick of 10 VMs; this is the figure the report uses.
   */
  runSeconds: number;
}

export function readCpuTimes(pid: number): CpuTimes {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    userSeconds: Number(fields[11]) / CLOCK_TICKS,
    systemSeconds: Number(fields[12]) / CLOCK_TICKS,
    runSeconds: threadRunNanoseconds(pid) / 1e9,
  };
}

function threadRunNanoseconds(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // The thread ended between the listing and the read; its time is lost to this figure only.
    }
  }
  return total;
}

export function cpuDelta(from: CpuTimes, to: CpuTimes): CpuTimes {
  return {
    userSeconds: to.userSeconds - from.userSeconds,
    systemSeconds: to.systemSeconds - from.systemSeconds,
    runSeconds: to.runSeconds - from.runSeconds,
  };
}

/** CPU time the whole machine has spent busy (every CPU, everything but idle and iowait), in seconds. */
export function readMachineBusySeconds(): number {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS;
}

export interface Memory {
  /** VmRSS: every resident page, the executable's shared text included. */
  rssBytes: number;
  /** RssAnon: the resident pages that are the process's own (heaps, stacks). */
  anonBytes: number;
}

export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (match === null) throw new Error(`no ${field} for pid ${pid}: not a user process`);
    return Number(match[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), anonBytes: kib('RssAnon') };
}

/** The command line of every process whose command line contains `marker`, by pid (the caller's excluded). */
export function processesMarked(marker: string): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (cmdline.includes(marker)) found.set(pid, cmdline);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

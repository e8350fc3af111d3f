import { readFileSync } from 'node:fs';

/**
 * CPU ms the process has used so far, user + system over all its threads (the main thread, worker threads, Node's
 * thread pool, V8's background threads). Beside a wall time it tells work from waiting: the bench's soak row and the
 * fleet's day against their bare limits report both.
 */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * CPU ms another process has used so far, user + system over all its threads, from Linux's /proc/PID/stat; null
 * where there is no /proc or the process is gone. A bench reads its server processes' share this way.
 */
export function processCpuMsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The fields after the command name, which may hold spaces (so cut at its closing parenthesis): utime is the
    // 12th of them, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticksPerSecond = 100; // USER_HZ, fixed at 100 on Linux whatever the kernel's HZ
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
  } catch {
    return null;
  }
}

/**
 * CPU ms the process has used so far, user + system over all its threads (the main thread, worker threads, Node's
 * thread pool, V8's background threads). Beside a wall time it tells work from waiting: the bench's soak row and the
 * fleet's day against their bare limits report both.
 */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

// CPU time per thread of this Node process, by thread name, for workloads whose two sides run on
// different worker threads (the cross-worker transport): the time each side spends per message
// is the figure to cut, and the whole process's CPU (process.cpuUsage) mixes the two.
//
// Linux only: /proc/self/task/<tid>/schedstat's first field is the thread's time on a CPU in
// nanoseconds (the scheduler's own account, not sampled in 10 ms ticks as the stat file's
// utime/stime are), and /proc/self/task/<tid>/comm its name. A worker thread of the runtime is
// named `<host id>#<tid>` (src/runtime/runtime.ts) on Node 24; Node 20 names every thread "node",
// so there the names do not tell the workers apart and `threadCpu` returns what it reads under
// those names (callers find no match and report nothing). Elsewhere (no /proc) it returns an
// empty map. A thread that spins while it waits (src/transport/doorbell.ts) counts its spinning:
// read these figures beside the machine's load (uptime), which decides whether anything spins.
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Thread name (comm, at most 15 characters) -> CPU seconds so far, summed over same-named threads.
 * `field` 1: the seconds spent runnable but waiting for a CPU instead (schedstat's second field:
 * a thread preempted by other work, where its own CPU time stops while it still has work to do).
 */
export function threadCpu(field: 0 | 1 = 0): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[];
  try { tids = readdirSync('/proc/self/task'); } catch { return out; }
  for (const t of tids) {
    try {
      const name = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      const ns = Number(readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ')[field]);
      if (Number.isFinite(ns)) out.set(name, (out.get(name) ?? 0) + ns / 1e9);
    } catch { /* the thread ended between the listing and the read */ }
  }
  return out;
}

/** CPU seconds of the thread whose name starts with `prefix` (comm is cut at 15 characters) between two reads; undefined if absent. */
export function threadCpuDelta(before: Map<string, number>, after: Map<string, number>, prefix: string): number | undefined {
  const p = prefix.slice(0, 15);
  let sum: number | undefined;
  for (const [name, s] of after) {
    if (!name.startsWith(p)) continue;
    sum = (sum ?? 0) + s - (before.get(name) ?? 0);
  }
  return sum;
}

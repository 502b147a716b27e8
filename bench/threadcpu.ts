// CPU time per thread of this Node process, by thread name, for workloads whose two sides run on
// different worker threads (the cross-worker transport): the time each side spends per message
// is the figure to cut, and the whole process's CPU (process.cpuUsage) mixes the two.
//
// Linux only: /proc/self/task/<tid>/schedstat's first field is the thread's time on a CPU in
// nanoseconds (the scheduler's own account, not sampled in 10 ms ticks as the stat file's
// utime/stime are), and /proc/self/task/<tid>/comm its name. A worker thread of the runtime is
// named `<host id>#<tid>` (src/runtime/runtime.ts) on Node 24; Node 20 names every thread "node",
// so there the names do not tell the workers apart and `threadCpu` returns what it reads under
// those names (callers find no match and report nothing); `threadStatsByTid` keys by OS thread id. Elsewhere (no /proc) it returns an
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
  for (const [name, t] of threadStats()) out.set(name, field === 1 ? t.wait : t.cpu);
  return out;
}

/** One thread's counters from /proc (Linux): CPU seconds and seconds runnable but waiting for a
 * CPU (schedstat's first two fields), minor page faults and its
 * user/system split (stat's utime/stime, in clock ticks of 10 ms: coarse, sum over threads). */
export interface ThreadStat { cpu: number; wait: number; minflt: number; utimeTicks: number; stimeTicks: number }

/** Thread name -> its counters so far, summed over same-named threads; empty without /proc. */
export function threadStats(): Map<string, ThreadStat> {
  const out = new Map<string, ThreadStat>();
  for (const t of threadStatsByTid().values()) {
    const cur = out.get(t.name) ?? { cpu: 0, wait: 0, minflt: 0, utimeTicks: 0, stimeTicks: 0 };
    out.set(t.name, { cpu: cur.cpu + t.cpu, wait: cur.wait + t.wait, minflt: cur.minflt + t.minflt,
      utimeTicks: cur.utimeTicks + t.utimeTicks, stimeTicks: cur.stimeTicks + t.stimeTicks });
  }
  return out;
}

/**
 * threadStats(), with the threads Node 20 leaves unnamed (every thread "node") named as Node 24
 * names them: the ids in `workers` (a runtime's worker threads, in start order: threadIds() before
 * and after it started) `${prefix}${i + 1}`, the process's own thread "MainThread", the other
 * unnamed ones "V8Worker" (V8's platform threads; libuv's pool, idle in the benches, too). Named
 * threads keep their names.
 */
export function threadStatsNamed(workers: string[], prefix: string): Map<string, ThreadStat> {
  const out = new Map<string, ThreadStat>();
  for (const [tid, t] of threadStatsByTid()) {
    const w = workers.indexOf(tid);
    const name = t.name !== 'node' ? t.name : w >= 0 ? `${prefix}${w + 1}`.slice(0, 15) : tid === String(process.pid) ? 'MainThread' : 'V8Worker';
    const cur = out.get(name) ?? { cpu: 0, wait: 0, minflt: 0, utimeTicks: 0, stimeTicks: 0 };
    out.set(name, { cpu: cur.cpu + t.cpu, wait: cur.wait + t.wait, minflt: cur.minflt + t.minflt,
      utimeTicks: cur.utimeTicks + t.utimeTicks, stimeTicks: cur.stimeTicks + t.stimeTicks });
  }
  return out;
}

/** The OS thread ids of this process now (Linux; empty without /proc). */
export function threadIds(): string[] {
  try { return readdirSync('/proc/self/task'); } catch { return []; }
}

/**
 * OS thread id -> its name and counters so far; empty without /proc. Where names do not tell
 * threads apart (Node 20 names every thread "node"), a caller tells a runtime's workers by the ids
 * that appeared while it started (threadIds() before and after: bench/spawn2-probe.ts).
 */
export function threadStatsByTid(): Map<string, ThreadStat & { name: string }> {
  const out = new Map<string, ThreadStat & { name: string }>();
  for (const t of threadIds()) {
    try {
      const name = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      const sched = readFileSync(`/proc/self/task/${t}/schedstat`, 'utf8').split(' ');
      const ns = Number(sched[0]);
      const waitNs = Number(sched[1]);
      // stat: "pid (comm) state ..." — comm may hold spaces; the fields after ')' start at state
      const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // after ')': state(3) ppid pgrp session tty tpgid flags minflt(10) cminflt majflt cmajflt utime(14) stime(15)
      out.set(t, { name, cpu: ns / 1e9, wait: Number.isFinite(waitNs) ? waitNs / 1e9 : 0, minflt: Number(f[7]),
        utimeTicks: Number(f[11]), stimeTicks: Number(f[12]) });
    } catch { /* the thread ended between the listing and the read */ }
  }
  return out;
}

/** Counters of the threads whose names start with `prefix` between two reads, summed; undefined if none. */
export function threadStatDelta(before: Map<string, ThreadStat>, after: Map<string, ThreadStat>, prefix: string): ThreadStat | undefined {
  const p = prefix.slice(0, 15);
  let sum: ThreadStat | undefined;
  for (const [name, s] of after) {
    if (!name.startsWith(p)) continue;
    const b = before.get(name) ?? { cpu: 0, wait: 0, minflt: 0, utimeTicks: 0, stimeTicks: 0 };
    sum ??= { cpu: 0, wait: 0, minflt: 0, utimeTicks: 0, stimeTicks: 0 };
    sum.cpu += s.cpu - b.cpu; sum.wait += s.wait - b.wait; sum.minflt += s.minflt - b.minflt;
    sum.utimeTicks += s.utimeTicks - b.utimeTicks; sum.stimeTicks += s.stimeTicks - b.stimeTicks;
  }
  return sum;
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

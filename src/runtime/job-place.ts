// Where a job from the main thread goes on a multi-worker host: the rule, as a pure function the
// control endpoint (src/runtime/control.ts) calls with what it reads of the shared memory.
//
// Owns: the choice of a job's worker. May call: nothing (its inputs are callbacks: tests pass
// plain arrays).
//
// The rule. A job (rt.exec / rt.run / rt.submit of a Lua entry) goes to one worker of its host —
// by "spj" frame while that worker is under its bound of framed jobs (queued there as a spawn of
// its own), else into its inject queue (src/scheduler/tasks.ts; the admission,
// src/runtime/control.ts) — and that worker is also its home (the owner of its PID in the
// directory). It is the worker with the lowest weight — live processes plus queued
// spawns, the weight the steal rules balance (src/host/placement.ts) — and among equals one that
// is awake (not parked: spinning after its last step, or running), then the worker that took the
// previous job, then the next ones in index order. So:
//   - the job runs at its home: no "bound" frame at its start and no "unfwd" frame at its exit to
//     a home that did not run it (measured with the global queue and a round-robin home, 2 workers,
//     64 jobs in flight: 0.99 frames per job crossed between the workers, for nothing);
//   - one job at a time goes to the worker still spinning after the previous job's step, which sees
//     it within its spin (no Atomics.notify, no wake-up of a parked thread); and when that worker
//     has parked meanwhile (both are parked), to it again, not to its sibling: one worker stays
//     hot for a one-at-a-time stream (its caches, its JIT state, the core the OS keeps it on),
//     the other stays parked. Measured (Node 24, 2 workers, one job in flight, 3,000 jobs, load
//     average 4-10): the previous job's worker took 0.74-0.85 of the jobs with the round-robin
//     cursor, 1.00 with this one, and the idle sibling's wake-ups per job 0.08-0.26 -> 0.00;
//   - a burst spreads evenly: each job adds to the weight of the worker it went to.
// What stays dynamic: a worker that computes for long shares its queued spawns with a sibling
// (the sharing rule in the budget hook), a sibling robs a full backlog (the backlog rule), and a
// job whose worker's inject queue is full goes on the host's global queue, which any worker takes.
//
// Rejected: the host's global queue for every job, with the first parked worker as its home
// (f775b3a). With one job in flight that mostly ran at home, but with many in flight no worker
// is parked, the home was round-robin, and half the jobs ran away from it (two frames each
// between the workers, and the home's step to handle them).

/** What the rule reads of each worker of the host (index-aligned with the host's run queues). */
export interface JobPlaceView {
  readonly n: number;
  /** Live processes plus queued spawns of worker `i` (shared queues and Lua-side list). */
  weight(i: number): number;
  /** Is worker `i` parked on its doorbell? */
  parked(i: number): boolean;
  /** Has worker `i` died (not replaced yet)? */
  down(i: number): boolean;
}

/**
 * The index of the worker a job goes to, or -1 when every worker is down. `last`: the worker of
 * the previous job (ties go to it, then to the next ones in index order).
 */
export function placeJob(v: JobPlaceView, last: number): number {
  let best = -1, bestWeight = Infinity, bestParked = true;
  for (let k = 0; k < v.n; k++) {
    const i = (last + k) % v.n;
    if (v.down(i)) continue;
    const w = v.weight(i);
    if (w > bestWeight) continue;
    const p = v.parked(i);
    if (w === bestWeight && (p || !bestParked)) continue;
    best = i; bestWeight = w; bestParked = p;
  }
  return best;
}

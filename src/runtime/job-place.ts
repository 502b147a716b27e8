// Where a job from the main thread goes on a multi-worker host: the rule, as a pure function the
// control endpoint (src/runtime/control.ts) calls with what it reads of the shared memory.
//
// Owns: the choice of a job's worker, and TurnView (what the rule reads, read once per turn). May
// call: nothing (its inputs are callbacks: tests pass plain arrays; TurnView is handed its
// end-of-turn hook, queueMicrotask by default).
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

/**
 * A JobPlaceView whose weights and parked states are read from `live` once per turn of the event
 * loop (at the first read after the previous turn ended) and then kept, each job this turn sent to
 * worker i counting in i's weight (`added`), so a burst still spreads. `down` is read live.
 *
 * Why. Jobs come in bursts: a batch of EXITs settles ~20-50 jobs in one turn and their
 * continuations submit as many. Each weight read is several Atomics.loads of lines the workers
 * write all the time (the directory's load and listed counts, the run queues' indices, the
 * doorbell state): cache misses, ~4.7% of the main thread's samples at 64 jobs in flight (Node 24,
 * `perf record` of the main thread, 2 workers), read 2 x 7 times per job where once per turn is
 * enough: within one turn the workers' figures change only by what they finish meanwhile, and the
 * frames of the turn reach them only at its end (src/runtime/mainloop.ts). Down stays live: a
 * frame sent to a worker that is down would be lost.
 */
export class TurnView implements JobPlaceView {
  readonly n: number;
  private readonly w: number[];
  private readonly p: boolean[];
  private fresh = false;
  private readonly expire = (): void => { this.fresh = false; };

  constructor(private readonly live: JobPlaceView, private readonly endOfTurn: (f: () => void) => void = queueMicrotask) {
    this.n = live.n;
    this.w = new Array<number>(live.n).fill(0);
    this.p = new Array<boolean>(live.n).fill(false);
  }

  private read(): void {
    for (let i = 0; i < this.n; i++) { this.w[i] = this.live.weight(i); this.p[i] = this.live.parked(i); }
    this.fresh = true;
    this.endOfTurn(this.expire);
  }

  weight(i: number): number {
    if (!this.fresh) this.read();
    return this.w[i]!;
  }

  parked(i: number): boolean {
    if (!this.fresh) this.read();
    return this.p[i]!;
  }

  down(i: number): boolean {
    return this.live.down(i);
  }

  /** A job went to worker `i` (its frame, or its inject queue): counted in its weight this turn. */
  added(i: number): void {
    if (this.fresh) this.w[i]!++;
  }
}

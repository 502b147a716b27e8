// Where a worker's new processes go, and what an idle worker may take from its siblings: the
// placement and steal policy of one worker of a process host.
//
// Owns: the placement rule (place()), the two steal rules (canSteal / canTakeGlobal, the
// TaskPolicy that src/scheduler/tasks.ts asks), and whom to wake after a queued spawn
// (wakeAfterPush). It reads the shared process directory through DirectoryView (src/shm/
// directory.ts implements it; tests pass a fake) and the queue lengths through QueueView
// (TaskQueues). It decides; it does not move work, ring doorbells or keep processes.
//
// Placement (the fallback when a spawn is not queued, or the run queues are full): a new process
// stays on the spawner's worker unless that worker holds more than PLACE_SLACK processes above the
// least loaded worker of the host; then it goes there. Keeping small groups together keeps their
// messages inside one Lua state (no codec, no thread hop); the slack bounds the imbalance of a
// spawn burst (100k spawns from one process end up split ~50/50 over 2 workers). A worker the
// main thread declared dead is skipped until its replacement takes its index (replaced()).
//
// Two rules decide what an idle worker takes from others.
// The busy rule: a sibling is robbed only while it is busy — inside one kernel step for more than
// STEAL_AFTER_MS (its heartbeat word has not moved across two looks that far apart while its busy
// word is set), or holding STEAL_BACKLOG queued spawns. A burst of short processes stays on the
// worker that spawned it (their messages and EXITs stay in one Lua state: ~10 µs round trips
// instead of ~57 µs across threads); a worker stuck in a long resume, or in a spawn loop, loses
// half its queue to an idle sibling.
// The balance rule: a worker's weight is its live processes plus its queued spawns. A thief robs
// a sibling only while its own weight + 1 is below the sibling's, and takes from the global queue
// only while its weight is within PLACE_SLACK of the lightest sibling's. Without it, an idle
// thief drained a spawn loop's queue faster than the spawner started its own share: 100k spawns
// landed 32/68 on Node 20 (50,008 / 49,992 with it).
//
// Wake-ups. A push that makes the pusher's own queue non-empty, or brings it to STEAL_BACKLOG,
// wakes one parked sibling (the first may take it under the balance rule, the second under the
// busy rule); a spawn placed on a sibling's inject queue wakes that sibling. A parked worker whose
// siblings hold work parks with a STEAL_AFTER_MS timeout (src/host/loop.ts), so it notices a
// sibling that has been in one step for too long.
//
// Atomics: none here. Every directory read is an Atomics.load in Directory (load, busy,
// heartbeat, isDown), paired there with the owning thread's Atomics.add / Atomics.store.
import type { TaskPolicy } from '../scheduler/tasks.js';

/** Placement slack: processes a worker may hold above the least loaded one before spawns move. */
export const PLACE_SLACK = 16;
/** The busy rule: a sibling in one step for longer than this (ms) may be robbed. */
export const STEAL_AFTER_MS = 1;
/** The busy rule: a sibling with this many queued spawns may be robbed at once. */
export const STEAL_BACKLOG = 32;

/** What placement reads of the shared process directory (src/shm/directory.ts). */
export interface DirectoryView {
  /** Live processes placed on thread `tid`. */
  load(tid: number): number;
  /** Count a process placed on thread `tid`. */
  addLoad(tid: number, delta: number): void;
  /** Has the main thread declared thread `tid` dead? */
  isDown(tid: number): boolean;
  /** Is thread `tid` inside a kernel step? */
  busy(tid: number): boolean;
  /** Steps thread `tid` has started. */
  heartbeat(tid: number): number;
}

/** What the steal rules read of the host's run queues (src/scheduler/tasks.ts TaskQueues). */
export interface QueueView {
  /** Spawns waiting on worker `i`'s deque and inject queue (i: index in the host). */
  queuedAt(i: number): number;
}

const NO_QUEUES: QueueView = { queuedAt: () => 0 };

export class Placement implements TaskPolicy {
  /** This worker's index in the host (and in its run queues). */
  readonly me: number;
  private queues: QueueView = NO_QUEUES;
  /** Per sibling index: the heartbeat seen at the last look, and when it was first seen. */
  private readonly seenBeat: number[];
  private readonly seenAt: number[];

  /**
   * Worker `tid`'s policy. `hostTids`: its host's workers, index-aligned with the run queues
   * (shared with the caller, and updated through replaced()). `now`: a millisecond clock.
   */
  constructor(private readonly dir: DirectoryView, readonly tid: number, private readonly hostTids: number[],
    private readonly now: () => number = () => performance.now()) {
    this.me = hostTids.indexOf(tid);
    this.seenBeat = hostTids.map(() => -1);
    this.seenAt = hostTids.map(() => 0);
  }

  /** The host's run queues (they take this policy, so they come after it). */
  attach(queues: QueueView): void {
    this.queues = queues;
  }

  /** The worker a new process goes to; counted there at once if it is not this one. */
  place(): number {
    const dir = this.dir;
    let best = this.tid;
    let bestLoad = dir.load(this.tid) - PLACE_SLACK;
    for (const t of this.hostTids) {
      if (t === this.tid || dir.isDown(t)) continue;
      const l = dir.load(t);
      if (l < bestLoad) { best = t; bestLoad = l; }
    }
    if (best !== this.tid) dir.addLoad(best, 1);
    return best;
  }

  /** Index in the host of worker `tid` (-1 if it is not one of the host's). */
  indexOf(tid: number): number {
    return tid === this.tid ? this.me : this.hostTids.indexOf(tid);
  }

  /** A worker's weight: live processes plus queued spawns (the balance rule). */
  weight(i: number): number {
    return this.dir.load(this.hostTids[i]!) + this.queues.queuedAt(i);
  }

  /** The busy rule, heartbeat half: sibling `i` has been inside one step for over STEAL_AFTER_MS. */
  siblingBusy(i: number): boolean {
    const t = this.hostTids[i]!;
    if (!this.dir.busy(t)) return false;
    const hb = this.dir.heartbeat(t);
    const now = this.now();
    if (hb !== this.seenBeat[i]) { this.seenBeat[i] = hb; this.seenAt[i] = now; return false; }
    return now - this.seenAt[i]! > STEAL_AFTER_MS;
  }

  /** TaskPolicy: may this worker rob sibling `i` now (the balance rule, then the busy rule)? */
  canSteal(i: number): boolean {
    return this.weight(this.me) + 1 < this.weight(i) && (this.queues.queuedAt(i) >= STEAL_BACKLOG || this.siblingBusy(i));
  }

  /** TaskPolicy: may this worker take from the global queue now (the balance rule)? */
  canTakeGlobal(): boolean {
    const mine = this.weight(this.me);
    for (let i = 0; i < this.hostTids.length; i++) if (i !== this.me && this.weight(i) + PLACE_SLACK < mine) return false;
    return true;
  }

  /**
   * After a spawn was queued at worker index `i`: the thread to wake, or -1. A sibling's inject
   * queue: that sibling. Its own queue at 1 or STEAL_BACKLOG items: the first parked sibling
   * (`isParked` reads its doorbell state).
   */
  wakeAfterPush(i: number, isParked: (tid: number) => boolean): number {
    if (i !== this.me) return this.hostTids[i]!;
    const q = this.queues.queuedAt(this.me);
    if (q !== 1 && q !== STEAL_BACKLOG) return -1;
    for (const t of this.hostTids) if (t !== this.tid && isParked(t)) return t;
    return -1;
  }

  /** Worker index `index` of `host` is now thread `tid` (a replacement after a worker died). */
  replaced(index: number, tid: number): void {
    if (index < 0 || index >= this.hostTids.length) return;
    this.hostTids[index] = tid;
    this.seenBeat[index] = -1;
  }
}

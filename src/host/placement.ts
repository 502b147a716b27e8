// Where a worker's new processes go, and what an idle worker may take from its siblings: the
// placement and steal policy of one worker of a process host.
//
// Owns: the placement rule (place()), the steal rules (canSteal / canTakeGlobal, the TaskPolicy
// that src/scheduler/tasks.ts asks), and whom to wake after a queued spawn
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
// What an idle worker takes from others: talkers stay together. A process never leaves the worker
// that starts it, and a child usually talks to its spawner and its siblings (EXITs, links,
// replies, a ring's token), so every message between two processes on different workers pays the
// codec, a ring and often a wake-up (~57 µs a round trip against ~10 µs inside one Lua state). A
// spawn therefore stays on its spawner's worker, and an idle sibling takes it only when the
// spawner's worker is saturated, that is when the gain (work that would otherwise wait) is
// certain and the cost (messages crossing) is bounded:
// The sharing rule (the victim's side, src/lua/kernel/spawn.lua share_tasks): a resume that has
// computed for 1.2M VM instructions (~10 ms) since it began or since its last queued spawn without
// yielding (a process that receives or sends yields after 1M) hands half of its worker's queued
// spawns to a sibling's inject queue, and again after twice as many instructions. Whatever waits behind a computing resume waits as long as it computes, so the gain
// is certain. Counted in instructions by the budget hook, so neither a collection nor the OS
// pausing a spawn loop makes it share: a spawn loop's spawns reset the count.
// The stuck rule (the thief's side): the sibling is inside one kernel step and nothing on it has
// moved for more than `stuckAfterMs`: not its heartbeat (a new step), not its own queues (a spawn
// pushed, a queued spawn started — the kernel takes one every 61 resumes while it holds some).
// On a host without the budget hook (max_reductions and max_memory_mb 0) nothing counts
// instructions, so this is the only way to see a computing resume: STEAL_AFTER_MS (1 ms); a spawn
// loop that the OS or a collection pauses for longer than that looks stuck too, and may lose
// half its queue. On a hooked host the rule is off (stuckAfterMs = Infinity): measured on a
// 2-core machine at load average 20, a spawn loop of 1,000 went 59 ms without a push (Node 20),
// so no wall-clock wait tells a paused spawn loop from a computing resume, and the instruction
// count does. Left out there: a resume inside one long host call (a WASM function, say) holds its
// worker's queued spawns until it returns.
// The backlog rule: the sibling holds min(STEAL_BACKLOG, local_queue_size) queued spawns or more:
// 1,024 by default, ~20-40 ms of process starts. A group of up to ~1,000 processes spawned in one
// go (a ring, a pool, a window of monitored children) stays whole; a bigger burst is shared.
// Overflow to the global queue happens only past the same mark (the deque is full), so taking
// from there is always allowed under the balance rule. On a hooked host a worker's spawns below
// the mark are not in the shared queues at all (a Lua list, src/lua/kernel/taskq.lua): it
// publishes them when it reaches the mark, so the thief sees the same queue at the same moment.
// The offer rule (the spawner's side of the backlog rule, src/lua/kernel/taskq.lua): a worker
// whose Lua-side list reaches the backlog mark publishes it to its deque (where a thief's backlog
// rule sees it) only while some sibling with no list of its own is lighter than it by more than half the mark
// (siblingLighter); otherwise the list grows past the mark, looked at again every 64 spawns and
// every 64 starts, and nothing is encoded, copied into a slot or offered to anyone. Two workers each bursting their
// own spawns at once (`hold`: one holder per worker, 5,000 children each) thus keep them: before,
// each kept 1,024 of its 5,000 in the list, handed 300-1,000 to its sibling's inject queue
// through placement once its queues were full, and 800-1,900 frames per worker crossed (bound,
// forwarded sends), for nothing: neither sibling was idle (measured in docs/design/scheduler.md).
// A burst beside an idle sibling is offered as before (it is lighter by the whole burst). Half the mark, not PLACE_SLACK, because a
// sibling's list is known only to within LISTED_EVERY (64, taskq.lua) spawns, and two bursts that
// start a few milliseconds apart differ by a few hundred. And the lighter sibling must not be
// building a list of its own (its T_LISTED is 0): one that is is bursting too — a burst that began
// a few ms after ours, lighter only because it began later — and would take nothing of ours
// before its own list is started (taskq.lua take: the list first); it reports 0 when its list
// empties, and ours is looked at again within LISTED_EVERY spawns or starts and offered then. A
// sibling that is parked, or busy starting spawns it took from us, has no list and is offered to
// as before. Without it, two holders that got "go" 1-3 ms apart published 1,000-2,000 spawns each
// (encoded, copied into slots and out) and 200-1,000 crossed to the sibling through the global
// queue (hold, 2 x 5,000). Rejected: "idle" (not inside a kernel step): a sibling busy starting
// the spawns it took from us is the one to keep feeding, and it was refused.
// The balance rule: a worker's weight is its live processes, its queued spawns (the shared
// queues' and its Lua-side list's, as reported in the directory's T_LISTED word). A thief robs
// a sibling only while its own weight + 1 is below the sibling's, and takes from the global queue
// only while its weight is within PLACE_SLACK of the lightest sibling's. Without it, an idle
// thief drained a spawn loop's queue faster than the spawner started its own share: 100k spawns
// landed 32/68 on Node 20 (50,008 / 49,992 with it).
// Rejected: the previous busy rule (a sibling in one *step* for over 1 ms, or holding 32 queued
// spawns). A step runs up to 20,000 resumes, so every worker doing steady message work or
// starting a group of spawns was "busy": a ring of 1,000 spawned by one driver ended up 500/500
// and 60k hops/s on 1 worker became 19k on 2. Deciding per message partner (counting the
// frames between each pair of workers and moving only groups that do not talk) needs the
// processes to move after they start, which a Lua coroutine cannot.
//
// Wake-ups. A push that makes the pusher's own queue non-empty, or brings it to the backlog mark,
// wakes one parked sibling (it then looks every STEAL_AFTER_MS while work is queued elsewhere,
// src/host/loop.ts, to see the stuck rule); a spawn placed on a sibling's inject queue wakes that
// sibling.
//
// Atomics: none here. Every directory read is an Atomics.load in Directory (load, busy,
// heartbeat, isDown), paired there with the owning thread's Atomics.add / Atomics.store; every
// queue read (queuedAt, progressAt) is an Atomics.load in src/scheduler/deque.ts, paired there.
import type { TaskPolicy } from '../scheduler/tasks.js';

/** Placement slack: processes a worker may hold above the least loaded one before spawns move. */
export const PLACE_SLACK = 16;
/**
 * The stuck rule on a host without the budget hook: a sibling in one step with nothing moving for
 * longer than this (ms) may be robbed.
 */
export const STEAL_AFTER_MS = 1;

/** The backlog rule: a sibling with this many queued spawns (or a full deque) may be robbed at once. */
export const STEAL_BACKLOG = 1024;

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
  /** Spawns in thread `tid`'s Lua-side list, as of its last report. */
  listed(tid: number): number;
}

/** What the steal rules read of the host's run queues (src/scheduler/tasks.ts TaskQueues). */
export interface QueueView {
  /** Spawns waiting on worker `i`'s deque and inject queue (i: index in the host). */
  queuedAt(i: number): number;
  /** A number that changes whenever worker `i`'s deque or inject queue gains or loses an item. */
  progressAt(i: number): number;
  /** Capacity of each worker's deque. */
  readonly localCapacity: number;
}

const NO_QUEUES: QueueView = { queuedAt: () => 0, progressAt: () => 0, localCapacity: STEAL_BACKLOG };

export class Placement implements TaskPolicy {
  /** This worker's index in the host (and in its run queues). */
  readonly me: number;
  private queues: QueueView = NO_QUEUES;
  /** Per sibling index: the heartbeat and queue progress seen at the last look, and since when. */
  private readonly seenBeat: number[];
  private readonly seenProgress: number[];
  private readonly seenAt: number[];

  /**
   * Worker `tid`'s policy. `hostTids`: its host's workers, index-aligned with the run queues
   * (shared with the caller, and updated through replaced()). `now`: a millisecond clock.
   * `stuckAfterMs`: the stuck rule's wait (STEAL_AFTER_MS; Infinity on hooked hosts: the rule is off).
   */
  constructor(private readonly dir: DirectoryView, readonly tid: number, private readonly hostTids: number[],
    private readonly now: () => number = () => performance.now(), readonly stuckAfterMs = STEAL_AFTER_MS) {
    this.me = hostTids.indexOf(tid);
    this.seenBeat = hostTids.map(() => -1);
    this.seenProgress = hostTids.map(() => 0);
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

  /** A worker's weight: live processes plus queued spawns, shared and listed (the balance rule). */
  weight(i: number): number {
    const t = this.hostTids[i]!;
    return this.dir.load(t) + this.queues.queuedAt(i) + this.dir.listed(t);
  }

  /**
   * The offer rule: is some sibling (not down) lighter than this worker by more than half the
   * backlog mark, and not building a list of its own (its last reported Lua-side list is empty)?
   * A list at the mark is published only then.
   */
  siblingLighter(): boolean {
    const limit = this.weight(this.me) - (this.backlogMark() >> 1);
    for (let i = 0; i < this.hostTids.length; i++) {
      const t = this.hostTids[i]!;
      if (i !== this.me && !this.dir.isDown(t) && this.dir.listed(t) === 0 && this.weight(i) < limit) return true;
    }
    return false;
  }

  /** The backlog mark: queued spawns at which a worker counts as saturated. */
  backlogMark(): number {
    return Math.min(STEAL_BACKLOG, this.queues.localCapacity);
  }

  /**
   * The stuck rule: sibling `i` is inside one step, and neither its heartbeat nor its queues have
   * moved since a look more than STEAL_AFTER_MS ago.
   */
  siblingStuck(i: number): boolean {
    const t = this.hostTids[i]!;
    if (!this.dir.busy(t)) return false;
    const hb = this.dir.heartbeat(t);
    const pr = this.queues.progressAt(i);
    const now = this.now();
    if (hb !== this.seenBeat[i] || pr !== this.seenProgress[i]) {
      this.seenBeat[i] = hb; this.seenProgress[i] = pr; this.seenAt[i] = now;
      return false;
    }
    return now - this.seenAt[i]! > this.stuckAfterMs;
  }

  /** TaskPolicy: may this worker rob sibling `i` now (the balance rule, then the backlog or stuck rule)? */
  canSteal(i: number): boolean {
    return this.weight(this.me) + 1 < this.weight(i) && (this.queues.queuedAt(i) >= this.backlogMark() || this.siblingStuck(i));
  }

  /** TaskPolicy: may this worker take from the global queue now (the balance rule)? */
  canTakeGlobal(): boolean {
    const mine = this.weight(this.me);
    for (let i = 0; i < this.hostTids.length; i++) if (i !== this.me && this.weight(i) + PLACE_SLACK < mine) return false;
    return true;
  }

  /**
   * After a spawn was queued at worker index `i`: the thread to wake, or -1. A sibling's inject
   * queue: that sibling. Its own queue at the backlog mark, or at 1 item where the stuck rule is
   * on: the first parked sibling (`isParked` reads its doorbell state).
   */
  wakeAfterPush(i: number, isParked: (tid: number) => boolean): number {
    if (i !== this.me) return this.hostTids[i]!;
    const q = this.queues.queuedAt(this.me);
    // The first item matters only to the stuck rule (a sibling then looks every stuckAfterMs).
    if (q !== this.backlogMark() && !(q === 1 && Number.isFinite(this.stuckAfterMs))) return -1;
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

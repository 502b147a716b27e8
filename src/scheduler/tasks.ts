// The run queues of a multi-worker process host: spawns that no worker has started yet.
//
// A Lua process is bound to the worker that starts it (its coroutine lives in that worker's Lua
// state), so what can move between workers is the work before the start: the spawn request. A
// spawn on a busy host does not create the process; it writes a descriptor into a task slot
// (layout: src/shm/layout.ts, "Task slab") and queues the slot number:
//
//   per worker  local deque    Chase-Lev (src/scheduler/deque.ts), `local_queue_size` slots.
//                              The owner pushes its own spawns at the bottom and takes them
//                              oldest first from the top (Deque.steal: a FIFO, so processes start
//                              in spawn order); thieves take half from the top.
//               inject queue   Vyukov MPMC, `local_queue_size` slots: spawns another worker of the
//                              host placed here (spawn placement, src/host/placement.ts).
//   per host    global queue   Vyukov MPMC, `queue_size` slots: a worker's overflow when its deque
//                              is full; every worker takes from it.
//   per host    free list      Vyukov MPMC of free slot numbers (every slot starts free).
//
// A worker takes work in this order (take()): own deque, own inject queue, global queue — the
// global queue first on every GLOBAL_EVERY-th take, so overflow cannot starve behind a deque that
// keeps refilling (Go's schedtick % 61) — then, when it has nothing else to run, it steals: half of
// a sibling's deque, or from its inject queue. The worker's policy (`TaskPolicy`, implemented by
// src/host/placement.ts) says which siblings may be robbed and when the global queue may be taken
// from: only a saturated sibling (stuck in one resume, or holding a full backlog), so a group of
// processes stays on the worker that spawned it, where their messages never cross threads; and
// only towards balance, so a big spawn burst ends up spread evenly.
//
// Slot ownership, and why no descriptor is read half-written or overwritten while read:
//   producer  1. free.pop() claims slot s (compareExchange on the free list's deq index);
//             2. writes length and bytes with plain stores;
//             3. pushes s on a run queue — Deque.push's Atomics.store(bottom) or
//                InjectQueue.push's Atomics.store(seq) publishes the plain stores of step 2.
//   consumer  1. claims s from a run queue — the compareExchange(top) of Deque.steal or the
//                compareExchange(deq) of InjectQueue.pop, after loading the index/seq word the
//                producer's step 3 stored: its plain loads below see step 2;
//             2. copies the bytes out;
//             3. free.push(s) — its Atomics.store(seq) orders the reads of step 2 before any
//                later producer's free.pop (pairs with that pop's Atomics.load(seq)).
// Each slot number is in exactly one place at a time (free list, one queue, or one thread's hands),
// because every queue hands each item to exactly one consumer (deque.ts explains both queues).
//
// Taken back without a copy (session 14, second wave). A worker that publishes spawns of its own
// Lua-side list (src/lua/kernel/taskq.lua, the backlog rule's publish) keeps each record and passes
// a tag with the push (push(desc, me, tag)). A tagged push that lands on its own deque is noted
// here, worker-local: (deque index, tag) in `kept`, a FIFO in index order. When this worker later
// claims an index of its own deque (Deque.steal's compareExchange(top): the claim is exactly the
// one it always was) and `kept` holds that index, take() frees the slot without reading it and
// returns the tag, and the kernel starts its own record: no copy out, no decode, the start of the
// record it kept (the C start for a flat record). A thief that claims one reads the bytes as
// always. Why an index names one push: only the owner pushes to its deque, bottom only grows (this
// module never pops at the bottom), and a push at index b succeeds only while top > b - capacity,
// so every index that precedes b by capacity or more was claimed by someone: `kept` drops those at
// each tagged push and holds at most capacity - 1 entries, all inside one window of indices (the
// int32 wrap never makes two of them, or a later push, equal). A claim of index t drops the
// entries before t (claimed by thieves: top only grows); finding the deque empty drops them all.
// So the tags come back in increasing order, each at most once, and only for a claim of the very
// push that carried it. Not kept: a push that overflows to the global queue, one to a sibling.
import { Deque, InjectQueue, roundCapacity } from './deque.js';
import { TASK_LENGTH_BYTES, TASK_SLOT_BYTES } from '../shm/layout.js';

/** Take from the global queue first on every GLOBAL_EVERY-th take (Go's schedtick % 61). */
export const GLOBAL_EVERY = 61;

/** The shared regions of one host's run queues; created on the main thread, sent to each worker. */
export interface TaskRegion {
  slotBytes: number;
  slab: SharedArrayBuffer;
  free: SharedArrayBuffer;
  global: SharedArrayBuffer;
  /** Indexed by worker index within the host (0 … workers − 1). */
  local: SharedArrayBuffer[];
  inject: SharedArrayBuffer[];
}

export interface TaskRegionOptions {
  workers: number;
  /** Global queue capacity (`queue_size`, rounded up to a power of two). */
  queueSize: number;
  /** Per-worker deque and inject queue capacity (`local_queue_size`, rounded up). */
  localQueueSize: number;
  slotBytes?: number;
}

export function createTaskRegion(o: TaskRegionOptions): TaskRegion {
  const slotBytes = o.slotBytes ?? TASK_SLOT_BYTES;
  if (!Number.isInteger(slotBytes) || slotBytes < 16 || slotBytes % 4 !== 0) {
    throw new RangeError(`task slot size must be a multiple of 4, at least 16, got ${slotBytes}`);
  }
  const local = roundCapacity('local_queue_size', o.localQueueSize);
  const global = roundCapacity('queue_size', o.queueSize);
  // Enough slots for every queue to be full at once: a push never finds its queue with room but
  // no slot, so "queue full" is the only refusal besides an oversized descriptor.
  const slots = roundCapacity('task slots', global + 2 * local * o.workers);
  const free = InjectQueue.create(slots);
  const fq = new InjectQueue(free);
  for (let s = 0; s < slots; s++) fq.push(s); // before the buffer is shared: postMessage orders it
  return {
    slotBytes,
    slab: new SharedArrayBuffer(slots * slotBytes),
    free,
    global: InjectQueue.create(global),
    local: Array.from({ length: o.workers }, () => Deque.create(local)),
    inject: Array.from({ length: o.workers }, () => InjectQueue.create(local)),
  };
}

/** Who may take what (decided by the worker, which knows the loads and the busy words). */
export interface TaskPolicy {
  /** May this worker rob sibling `i` (index in the host) now? */
  canSteal(i: number): boolean;
  /** May this worker take from the global queue now? */
  canTakeGlobal(): boolean;
}

const ANYTHING: TaskPolicy = { canSteal: () => true, canTakeGlobal: () => true };

export class TaskQueues {
  private readonly bytes: Uint8Array;
  private readonly lens: Int32Array;
  private readonly slotBytes: number;
  private readonly free: InjectQueue;
  private readonly global: InjectQueue;
  private readonly local: Deque[];
  private readonly inject: InjectQueue[];
  private readonly me: number;
  private readonly n: number;
  private takes = 0;
  private nextVictim = 0;
  /** What this worker queued and took (observability: Runtime.stats()). */
  readonly counters = { pushed: 0, own: 0, global: 0, stolen: 0, shared: 0 };
  /** Of `own`: spawns takeTagged() gave back as their tag (see the top). */
  back = 0;
  /** Tagged pushes onto its own deque not yet claimed by it (see the top): a ring, in index order. */
  private readonly keptAt: Int32Array;
  private readonly keptTag: Float64Array;
  private keptHead = 0;
  private keptLen = 0;
  /** The tag of the slot takeSlot() returned last, or -1. */
  private takenTag = -1;

  /**
   * This worker's view of its host's queues. `me` is its index in the host.
   */
  constructor(region: TaskRegion, me: number, private readonly policy: TaskPolicy = ANYTHING) {
    this.slotBytes = region.slotBytes;
    this.bytes = new Uint8Array(region.slab);
    this.lens = new Int32Array(region.slab);
    this.free = new InjectQueue(region.free);
    this.global = new InjectQueue(region.global);
    this.local = region.local.map((s) => new Deque(s));
    this.inject = region.inject.map((s) => new InjectQueue(s));
    this.me = me;
    this.n = this.local.length;
    const cap = this.local[0]?.capacity ?? 0;
    this.keptAt = new Int32Array(cap);
    this.keptTag = new Float64Array(cap);
    this.nextVictim = (me + 1) % this.n; // me = -1 (not a worker): only pushGlobal is used
  }

  /** Largest descriptor a slot holds. */
  get maxBytes(): number { return this.slotBytes - TASK_LENGTH_BYTES; }

  /**
   * Queue a descriptor: on this worker's deque (overflow: the global queue), or, with `target`,
   * on sibling `target`'s inject queue. False when it is too large or the queues are full; the
   * caller then starts the process some other way. `tag` (an integer ≥ 0): the caller keeps the
   * spawn's record, and take() returns the tag instead of the bytes if this worker claims it back
   * from its deque (see the top).
   */
  push(desc: Uint8Array, target = this.me, tag = -1): boolean {
    const s = this.fill(desc);
    if (s === undefined) return false;
    // step 3: the queue's publishing store (Deque.push: bottom; InjectQueue.push: seq)
    if (target === this.me) {
      const own = this.local[this.me]!;
      if (own.push(s)) {
        if (tag >= 0) this.keep(own.pushedAt, tag);
      } else if (!this.global.push(s)) return this.refuse(s);
    } else if (!this.inject[target]!.push(s)) return this.refuse(s);
    this.counters.pushed++;
    if (target !== this.me) this.counters.shared++;
    return true;
  }

  private refuse(s: number): false {
    this.free.push(s); // never published: back to the free list
    return false;
  }

  /** Note a tagged push at own deque index b (see the top): drop what precedes b by capacity. */
  private keep(b: number, tag: number): void {
    const at = this.keptAt, cap = at.length;
    while (this.keptLen > 0 && ((b - at[this.keptHead]!) | 0) >= cap) this.dropKept();
    const i = (this.keptHead + this.keptLen) & (cap - 1);
    at[i] = b;
    this.keptTag[i] = tag;
    this.keptLen++;
  }

  private dropKept(): void {
    this.keptHead = (this.keptHead + 1) & (this.keptAt.length - 1);
    this.keptLen--;
  }

  /** This worker claimed own deque index t: its tag if a tagged push put it there, else -1. */
  private claimed(t: number): number {
    const at = this.keptAt;
    while (this.keptLen > 0 && ((t - at[this.keptHead]!) | 0) > 0) this.dropKept(); // a thief's
    if (this.keptLen === 0 || at[this.keptHead] !== t) return -1;
    const tag = this.keptTag[this.keptHead]!;
    this.dropKept();
    return tag;
  }

  /**
   * Queue a descriptor on the host's global queue; any thread, also one that is not a worker of
   * the host (the main thread's spawns: `me` = -1). False when too large or full.
   */
  pushGlobal(desc: Uint8Array): boolean {
    const s = this.fill(desc);
    if (s === undefined) return false;
    if (this.global.push(s)) { // step 3: InjectQueue.push's Atomics.store(seq)
      this.counters.pushed++;
      return true;
    }
    this.free.push(s);
    return false;
  }

  /** Steps 1 and 2 of a push: claim a free slot and write the descriptor into it. */
  private fill(desc: Uint8Array): number | undefined {
    if (desc.length > this.maxBytes) return undefined;
    const s = this.free.pop(); // step 1 (see the header)
    if (s === undefined) return undefined;
    const off = s * this.slotBytes;
    this.lens[off >> 2] = desc.length; // step 2: plain stores, published by step 3
    this.bytes.set(desc, off + TASK_LENGTH_BYTES);
    return s;
  }

  /** Take the next descriptor this worker should start, or undefined. `steal`: rob saturated siblings. */
  take(steal: boolean): Uint8Array | undefined {
    const s = this.takeSlot(steal);
    return s === undefined ? undefined : this.copyOut(s);
  }

  /**
   * As take(), but a spawn this worker pushed with a tag and now claims back from its deque comes
   * back as its tag (a number), its slot freed unread (see the top).
   */
  takeTagged(steal: boolean): Uint8Array | number | undefined {
    const s = this.takeSlot(steal);
    if (s === undefined) return undefined;
    const tag = this.takenTag;
    if (tag < 0) return this.copyOut(s);
    this.back++;
    this.free.push(s); // consumer step 3, with nothing to copy out
    return tag;
  }

  /** Consumer steps 2 and 3 of slot s: the bytes copied out, the slot freed. */
  private copyOut(s: number): Uint8Array {
    const off = s * this.slotBytes;
    const len = this.lens[off >> 2]!;
    const out = this.bytes.slice(off + TASK_LENGTH_BYTES, off + TASK_LENGTH_BYTES + len);
    this.free.push(s); // consumer step 3: the bytes are copied out
    return out;
  }

  private takeSlot(steal: boolean): number | undefined {
    const own = this.local[this.me]!;
    this.takenTag = -1;
    const global = this.global.size() > 0 && this.policy.canTakeGlobal();
    if (global && ++this.takes % GLOBAL_EVERY === 0) {
      const g = this.global.pop();
      if (g !== undefined) { this.counters.global++; return g; }
    }
    // The owner takes its own deque from the top (oldest first), like a thief would.
    const o = own.steal();
    if (o !== undefined) {
      if (this.keptLen > 0) this.takenTag = this.claimed(own.takenAt);
      this.counters.own++;
      return o;
    }
    this.keptLen = 0; // found empty: every index pushed so far was claimed (see the top)
    const s = this.inject[this.me]!.pop();
    if (s !== undefined) { this.counters.own++; return s; }
    const g = global ? this.global.pop() : undefined;
    if (g !== undefined) { this.counters.global++; return g; }
    if (!steal || this.n < 2) return undefined;
    for (let k = 0; k < this.n - 1; k++) {
      const v = this.nextVictim;
      this.nextVictim = (v + 1) % this.n;
      if (this.nextVictim === this.me) this.nextVictim = (this.me + 1) % this.n;
      if (v === this.me || this.queuedAt(v) === 0 || !this.policy.canSteal(v)) continue;
      const moved = this.local[v]!.stealHalf(own) || this.inject[v]!.popInto(own, Math.max(1, this.inject[v]!.size() >> 1));
      if (moved > 0) {
        this.counters.stolen += moved;
        const t = own.steal();
        if (t !== undefined) this.counters.own++;
        return t;
      }
    }
    return undefined;
  }

  /** Items waiting on this worker's own deque and inject queue. */
  ownQueued(): number {
    return this.queuedAt(this.me);
  }

  /** Items waiting on sibling `i`'s deque and inject queue. */
  queuedAt(i: number): number {
    return this.local[i]!.size() + this.inject[i]!.size();
  }

  /**
   * Spawns waiting now: on the global queue, and on each worker's deque and inject queue (a
   * snapshot from any thread: each size is two Atomics.loads, see Deque.size / InjectQueue.size).
   */
  depths(): { global: number; workers: number[] } {
    const workers: number[] = [];
    for (let i = 0; i < this.n; i++) workers.push(this.queuedAt(i));
    return { global: this.global.size(), workers };
  }

  /** Changes whenever worker `i`'s deque or inject queue gains or loses an item (placement's stuck look). */
  progressAt(i: number): number {
    return (this.local[i]!.progress() + this.inject[i]!.progress()) | 0;
  }

  /** Capacity of a worker's deque (`local_queue_size`, rounded up to a power of two). */
  get localCapacity(): number { return this.local[0]!.capacity; }

  /** Is there anything take(true) would find now? */
  visible(): boolean {
    if (this.ownQueued() > 0) return true;
    if (this.global.size() > 0 && this.policy.canTakeGlobal()) return true;
    for (let i = 0; i < this.n; i++) if (i !== this.me && this.queuedAt(i) > 0 && this.policy.canSteal(i)) return true;
    return false;
  }

  /** Do siblings or the global queue hold work (a parked worker then looks again soon)? */
  queuedElsewhere(): boolean {
    if (this.global.size() > 0) return true;
    for (let i = 0; i < this.n; i++) if (i !== this.me && this.queuedAt(i) > 0) return true;
    return false;
  }
}

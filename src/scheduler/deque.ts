// Run queues over SharedArrayBuffer: the per-worker work-stealing Deque and the InjectQueue used
// for the per-host global queue and the per-worker inject queues. Items are int32 (a process
// slot, a spawn-request slot, ... — the scheduler decides). Neither structure ever blocks: a full
// queue refuses (push returns false), an empty one returns undefined. Layout of both regions:
// src/shm/layout.ts.
//
// Deque: Chase-Lev ("Dynamic circular work-stealing deque", 2005), fixed capacity, in the form of
// Lê, Pop, Cohen and Zappa Nardelli ("Correct and efficient work-stealing for weak memory
// models", 2013). JS Atomics are sequentially consistent, which subsumes every fence of that
// paper. The owner pushes and pops at `bottom` (LIFO: the newest item is hot in cache); thieves
// take from `top` (the oldest item) with a compareExchange. LIFO alone can starve old items while
// new ones keep coming; the scheduler bounds that, e.g. by taking from the inject and global
// queues first every N ticks (Go's schedtick % 61).
//   push (owner):  1. t = Atomics.load(top); refuse if bottom - t ≥ capacity;
//                  2. write the slot (plain store);
//                  3. Atomics.store(bottom, b + 1) — publishes the slot to thieves.
//   pop (owner):   1. Atomics.store(bottom, b - 1) — reserves slot b - 1 against thieves;
//                  2. t = Atomics.load(top); if t < b - 1 the slot is the owner's alone;
//                  3. if t = b - 1 it is the last item: owner and thieves race for it with
//                     compareExchange(top, t, t + 1); either way bottom goes back to t + 1.
//   steal (any):   1. t = Atomics.load(top); 2. b = Atomics.load(bottom); empty if b ≤ t;
//                  3. read slot t; 4. compareExchange(top, t, t + 1) — the item is the thief's
//                     only if this succeeds; on failure it retries from 1.
// Exactly once. A thief's item is the one at the index it claims with compareExchange(top), so two
// thieves never share one. The owner takes index b - 1 without a compareExchange only when its
// load of top (pop 2) returned t < b - 1, after its store of bottom = b - 1 (pop 1), in the single
// order S. A thief can claim index b - 1 only after loading top = b - 1, which is later in S than
// the owner's load (top only grows, and was t < b - 1 then); its load of bottom comes later still,
// so it sees b - 1 (empty) or a bottom the owner pushed since, and then claims the new item at
// that index, not the popped one. The last item (t = b - 1) goes to whoever wins the
// compareExchange on top. A steal's slot read (3) can race with a push recycling the slot, but
// that needs top to have moved past t, so the steal's compareExchange then fails.
//
// stealHalf moves half of a victim's items one compareExchange at a time. Rejected: claiming the
// whole half with one compareExchange(top, t, t + k), as tokio and Go do. Their owners also take
// from the top with a compareExchange (a FIFO), so a batch claim and an owner pop always
// conflict on `top`. A Chase-Lev owner pops at the bottom without any compareExchange while it
// sees more than one item: with four items, a thief reading top = 0, bottom = 4 claims [0, 2),
// while the owner, still seeing top = 0, pops 3, 2 and 1 — index 1 is taken twice. Stealing is
// rare (idle workers only) and cheap enough item by item: an uncontended compareExchange costs
// 10–13 ns here, and stealHalf of a full 256-slot deque (128 items moved) takes ~7 µs, less than
// the 11 µs wake-up of the worker that will run them.
//
// InjectQueue: Dmitry Vyukov's bounded MPMC queue. Each cell has a sequence number that says whose
// turn it is: seq = pos means free for the producer of position pos; seq = pos + 1 means filled
// for the consumer of pos; the consumer frees it for the next lap with seq = pos + capacity.
//   push: claim pos with compareExchange(enq, pos, pos + 1) when the cell's seq = pos, write the
//         value, then Atomics.store(seq, pos + 1) — publishes it.
//   pop:  claim pos with compareExchange(deq, pos, pos + 1) when the cell's seq = pos + 1, read the
//         value, then Atomics.store(seq, pos + capacity) — frees the cell.
// A producer preempted between its claim and its publish makes pop report empty at that cell even
// if later cells are full: the queue never blocks, it may under-report. The producer's doorbell
// ring after push (src/transport/doorbell.ts) makes the consumer look again, so nothing is missed.
import {
  CELL_SEQ, CELL_VALUE, DEQ_BOTTOM, DEQ_ITEMS, DEQ_TOP, INJ_CELLS, INJ_DEQ, INJ_ENQ, dequeBytes,
  injectBytes,
} from '../shm/layout.js';

/** Per-worker deque default: 1024 items, the `local_queue_size` default of process.host. */
export const DEFAULT_LOCAL_QUEUE_SIZE = 1024;
/** Global queue default: 1024 items, the `queue_size` default of process.host. */
export const DEFAULT_QUEUE_SIZE = 1024;
const MAX_CAPACITY = 1 << 30;

/** Capacities are rounded up to a power of two (slots are found by masking). */
export function roundCapacity(what: string, capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > MAX_CAPACITY) {
    throw new RangeError(`${what} capacity must be an integer in [2, 2^30], got ${capacity}`);
  }
  let c = 2;
  while (c < capacity) c *= 2;
  return c;
}

export class Deque {
  /**
   * A deque region of at least `capacity` items (rounded up to a power of two). `startIndex` sets
   * top and bottom; tests use it to cross the 2^31 and 2^32 index wraps.
   */
  static create(capacity: number = DEFAULT_LOCAL_QUEUE_SIZE, startIndex = 0): SharedArrayBuffer {
    const sab = new SharedArrayBuffer(dequeBytes(roundCapacity('Deque', capacity)));
    const words = new Int32Array(sab);
    // Before the buffer is shared: the postMessage that hands it over orders these stores.
    Atomics.store(words, DEQ_TOP, startIndex | 0);
    Atomics.store(words, DEQ_BOTTOM, startIndex | 0);
    return sab;
  }

  readonly capacity: number;
  private readonly mask: number;
  private readonly words: Int32Array;
  /**
   * The index of this thread's last successful push and of its last successful steal (plain
   * fields of this thread's view, not shared): tasks.ts tells its own published spawns by them.
   */
  pushedAt = 0;
  takenAt = 0;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
    this.capacity = this.words.length - DEQ_ITEMS;
    this.mask = this.capacity - 1;
  }

  /** Owner only: add an item at the bottom. False when full. */
  push(item: number): boolean {
    const words = this.words;
    // Only the owner writes bottom.
    const b = Atomics.load(words, DEQ_BOTTOM);
    // Pairs with compareExchange(top) in steal()/pop(): slots below top are free for reuse.
    const t = Atomics.load(words, DEQ_TOP);
    if (((b - t) | 0) >= this.capacity) return false;
    words[DEQ_ITEMS + (b & this.mask)] = item;
    // Publishes the slot; pairs with Atomics.load(bottom) in steal().
    Atomics.store(words, DEQ_BOTTOM, (b + 1) | 0);
    this.pushedAt = b;
    return true;
  }

  /** Owner only: take the newest item, or undefined when empty. */
  pop(): number | undefined {
    const words = this.words;
    // Only the owner writes bottom: this reads its own last store.
    const b = (Atomics.load(words, DEQ_BOTTOM) - 1) | 0;
    // Reserves slot b; pairs with Atomics.load(bottom) in steal(): a thief loading bottom after
    // this sees the slot gone.
    Atomics.store(words, DEQ_BOTTOM, b);
    // Pairs with compareExchange(top) in steal(); must come after the store above (it does: SC).
    const t = Atomics.load(words, DEQ_TOP);
    const size = (b - t) | 0;
    if (size < 0) {
      // Empty: undo the reservation (t = b + 1 here). Pairs with Atomics.load(bottom) in steal().
      Atomics.store(words, DEQ_BOTTOM, (b + 1) | 0);
      return undefined;
    }
    const item = words[DEQ_ITEMS + (b & this.mask)];
    if (size > 0) return item;
    // The last item: race the thieves for it on top. Pairs with compareExchange(top) in steal().
    const won = Atomics.compareExchange(words, DEQ_TOP, t, (t + 1) | 0) === t;
    // Empty either way; bottom = top again. Pairs with Atomics.load(bottom) in steal().
    Atomics.store(words, DEQ_BOTTOM, (b + 1) | 0);
    return won ? item : undefined;
  }

  /** Any thread: take the oldest item, or undefined when empty. Retries while it loses races. */
  steal(): number | undefined {
    const words = this.words;
    for (;;) {
      // Pairs with compareExchange(top) in steal()/pop() on other threads.
      const t = Atomics.load(words, DEQ_TOP);
      // Pairs with Atomics.store(bottom) in push() (the slot is written) and pop() (reserved).
      const b = Atomics.load(words, DEQ_BOTTOM);
      if (((b - t) | 0) <= 0) return undefined;
      // May race with a push recycling the slot; then top has moved and the CAS below fails.
      const item = Atomics.load(words, DEQ_ITEMS + (t & this.mask));
      // Claims the item; pairs with compareExchange(top) in other thieves and the owner's pop().
      if (Atomics.compareExchange(words, DEQ_TOP, t, (t + 1) | 0) === t) {
        this.takenAt = t;
        return item;
      }
    }
  }

  /**
   * Thief (the owner of `into`): move up to half of this deque's items (rounded up), oldest first,
   * into `into`, bounded by its free room. Returns how many moved.
   */
  stealHalf(into: Deque, max = 0x7fffffff): number {
    const size = this.size();
    return moveInto(into, Math.min(size - (size >> 1), max), () => this.steal());
  }

  /** Items in the deque; exact for the owner between its own operations, a snapshot otherwise. */
  size(): number {
    // Pairs with the stores of bottom and the compareExchange of top.
    const b = Atomics.load(this.words, DEQ_BOTTOM);
    const t = Atomics.load(this.words, DEQ_TOP);
    const size = (b - t) | 0;
    return size < 0 ? 0 : size;
  }

  /**
   * A number that changes whenever an item is pushed or taken (top + bottom; a snapshot). Thieves
   * compare two looks to tell an owner that keeps queueing or starting work from one that is stuck.
   */
  progress(): number {
    // Pairs with the stores of bottom and the compareExchange of top.
    return (Atomics.load(this.words, DEQ_BOTTOM) + Atomics.load(this.words, DEQ_TOP)) | 0;
  }
}

export class InjectQueue {
  /**
   * An inject queue region of at least `capacity` items (rounded up to a power of two).
   * `startIndex` sets the first position; tests use it to cross the 2^31 and 2^32 index wraps.
   */
  static create(capacity: number = DEFAULT_QUEUE_SIZE, startIndex = 0): SharedArrayBuffer {
    const c = roundCapacity('InjectQueue', capacity);
    const sab = new SharedArrayBuffer(injectBytes(c));
    const words = new Int32Array(sab);
    // Before the buffer is shared: the postMessage that hands it over orders these stores.
    Atomics.store(words, INJ_ENQ, startIndex | 0);
    Atomics.store(words, INJ_DEQ, startIndex | 0);
    // The cell of position p starts free for the producer of p.
    for (let i = 0; i < c; i++) {
      const pos = (startIndex + i) | 0;
      Atomics.store(words, INJ_CELLS + ((pos & (c - 1)) << 1) + CELL_SEQ, pos);
    }
    return sab;
  }

  readonly capacity: number;
  private readonly mask: number;
  private readonly words: Int32Array;

  constructor(sab: SharedArrayBuffer) {
    this.words = new Int32Array(sab);
    this.capacity = (this.words.length - INJ_CELLS) >> 1;
    this.mask = this.capacity - 1;
  }

  /** Any thread: append an item. False when full. */
  push(item: number): boolean {
    const words = this.words;
    // Pairs with compareExchange(enq) of other producers.
    let pos = Atomics.load(words, INJ_ENQ);
    for (;;) {
      const cell = INJ_CELLS + ((pos & this.mask) << 1);
      // Pairs with Atomics.store(seq, pos + capacity) in pop(): the cell was emptied.
      const seq = Atomics.load(words, cell + CELL_SEQ);
      const lag = (seq - pos) | 0;
      if (lag === 0) {
        // Claims position pos; pairs with compareExchange(enq) of other producers.
        const seen = Atomics.compareExchange(words, INJ_ENQ, pos, (pos + 1) | 0);
        if (seen === pos) {
          words[cell + CELL_VALUE] = item;
          // Publishes the value; pairs with Atomics.load(seq) in pop().
          Atomics.store(words, cell + CELL_SEQ, (pos + 1) | 0);
          return true;
        }
        pos = seen;
      } else if (lag < 0) {
        return false; // the cell still holds the item of the previous lap: full
      } else {
        // Another producer claimed pos meanwhile; pairs with its compareExchange(enq).
        pos = Atomics.load(words, INJ_ENQ);
      }
    }
  }

  /** Any thread: take the oldest item, or undefined when empty (see the header for in-flight pushes). */
  pop(): number | undefined {
    const words = this.words;
    // Pairs with compareExchange(deq) of other consumers.
    let pos = Atomics.load(words, INJ_DEQ);
    for (;;) {
      const cell = INJ_CELLS + ((pos & this.mask) << 1);
      // Pairs with Atomics.store(seq, pos + 1) in push(): the value is written.
      const seq = Atomics.load(words, cell + CELL_SEQ);
      const lag = (seq - ((pos + 1) | 0)) | 0;
      if (lag === 0) {
        // Claims position pos; pairs with compareExchange(deq) of other consumers.
        const seen = Atomics.compareExchange(words, INJ_DEQ, pos, (pos + 1) | 0);
        if (seen === pos) {
          const item = words[cell + CELL_VALUE];
          // Frees the cell for the producer one lap later; pairs with Atomics.load(seq) in push().
          Atomics.store(words, cell + CELL_SEQ, (pos + this.capacity) | 0);
          return item;
        }
        pos = seen;
      } else if (lag < 0) {
        return undefined; // not filled yet: empty (or its producer is between claim and publish)
      } else {
        // Another consumer took pos meanwhile; pairs with its compareExchange(deq).
        pos = Atomics.load(words, INJ_DEQ);
      }
    }
  }

  /** Move up to `max` items into a deque this thread owns (a global-queue batch); returns how many. */
  popInto(into: Deque, max: number): number {
    return moveInto(into, max, () => this.pop());
  }

  /** A number that changes whenever an item is pushed or taken (enq + deq; a snapshot). */
  progress(): number {
    // Pairs with compareExchange(enq) and compareExchange(deq).
    return (Atomics.load(this.words, INJ_ENQ) + Atomics.load(this.words, INJ_DEQ)) | 0;
  }

  /** Items queued (claimed positions; a snapshot). */
  size(): number {
    // Pairs with compareExchange(enq) and compareExchange(deq).
    const d = Atomics.load(this.words, INJ_DEQ);
    const e = Atomics.load(this.words, INJ_ENQ);
    const size = (e - d) | 0;
    return size < 0 ? 0 : size > this.capacity ? this.capacity : size;
  }
}

/**
 * Take up to `want` items with `take` (oldest first) and push them on `into`, a deque the calling
 * thread owns, bounded by its free room; returns how many moved. The pushes cannot fail: only this
 * thread adds to `into`, and thieves only make room.
 */
function moveInto(into: Deque, want: number, take: () => number | undefined): number {
  let room = Math.min(want, into.capacity - into.size());
  let moved = 0;
  while (room-- > 0) {
    const item = take();
    if (item === undefined) break;
    into.push(item);
    moved++;
  }
  return moved;
}

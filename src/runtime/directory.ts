// One thread's handle on the shared process directory (layout in layout.ts).
import { BLOCK_SIZE, H_NEXT_BLOCK, SLOTS, THREAD_STRIDE, T_BUSY, T_HEARTBEAT, T_LOAD, directoryViews,
  type DirectoryViews } from './layout.js';

export class Directory {
  private readonly v: DirectoryViews;
  private next = 0;
  private end = 0;

  constructor(sab: SharedArrayBuffer, private readonly tid: number) {
    this.v = directoryViews(sab);
  }

  /** A fresh process id, owned by thread `owner` (default: this thread), marked alive. */
  alloc(owner = this.tid): number {
    if (this.next === this.end) {
      // Pairs with the Atomics.add of every other allocating thread: each gets a distinct block.
      const block = Atomics.add(this.v.header, H_NEXT_BLOCK, 1);
      this.next = block * BLOCK_SIZE;
      this.end = this.next + BLOCK_SIZE;
      if (this.next === 0) this.next = 1;
    }
    const uniq = this.next++;
    const slot = uniq % SLOTS;
    // Both published before the PID leaves this thread (by a frame, whose transfer orders them);
    // pair with the Atomics.load in owner() and isAlive().
    Atomics.store(this.v.owner, slot, owner + 1);
    Atomics.or(this.v.alive, slot >> 5, 1 << (slot & 31));
    return uniq;
  }

  /** Mark a process id dead (after its EXIT has been queued). */
  dead(uniq: number): void {
    const slot = uniq % SLOTS;
    // Pairs with the Atomics.load in isAlive().
    Atomics.and(this.v.alive, slot >> 5, ~(1 << (slot & 31)));
  }

  /** Owner thread of a process id, or -1 if none. */
  owner(uniq: number): number {
    // Pairs with the Atomics.store in alloc().
    return Atomics.load(this.v.owner, uniq % SLOTS) - 1;
  }

  isAlive(uniq: number): boolean {
    const slot = uniq % SLOTS;
    // Pairs with Atomics.or in alloc() and Atomics.and in dead().
    return (Atomics.load(this.v.alive, slot >> 5) & (1 << (slot & 31))) !== 0;
  }

  /** PID slots marked alive, runtime-wide (a full scan of the bitmap: for checks, not hot paths). */
  liveSlots(): number {
    let n = 0;
    const a = this.v.alive;
    for (let i = 0; i < a.length; i++) {
      // Pairs with Atomics.or in alloc() and Atomics.and in dead().
      let w = Atomics.load(a, i);
      while (w !== 0) { w &= w - 1; n++; }
    }
    return n;
  }

  /** Live processes placed on thread `tid`. */
  load(tid: number): number {
    // Pairs with the Atomics.add in addLoad() of any thread.
    return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_LOAD);
  }

  addLoad(tid: number, delta: number): void {
    // Pairs with Atomics.load in load(): placement reads it from other threads.
    Atomics.add(this.v.threads, tid * THREAD_STRIDE + T_LOAD, delta);
  }

  /** Step start/end for the stall watchdog (main thread reads heartbeat and busy). */
  beat(busy: boolean): void {
    const base = this.tid * THREAD_STRIDE;
    if (busy) Atomics.add(this.v.threads, base + T_HEARTBEAT, 1); // pairs with load in heartbeat()
    Atomics.store(this.v.threads, base + T_BUSY, busy ? 1 : 0); // pairs with load in busy()
  }

  heartbeat(tid: number): number { return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_HEARTBEAT); }
  busy(tid: number): boolean { return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_BUSY) === 1; }
}

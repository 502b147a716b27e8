// One thread's handle on the shared process directory (layout: src/shm/layout.ts, "Process directory").
import { BLOCK_SIZE, H_NEXT_BLOCK, OWNER_MASK, RUNNER_SHIFT, SLOTS, THREAD_STRIDE, T_BUSY, T_DOWN, T_HEARTBEAT, T_LISTED,
  T_LOAD, directoryViews, type DirectoryViews } from './layout.js';

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
    // pair with the Atomics.load in owner() and isAlive(). The store also clears the runner byte.
    Atomics.store(this.v.owner, slot, owner + 1);
    Atomics.or(this.v.alive, slot >> 5, 1 << (slot & 31));
    // A PID minted for a worker that has just died (this thread has not heard yet) is born dead.
    // Pairs with Atomics.store(T_DOWN) in markDown(), which the main thread does before its scan
    // (reclaim): either this load sees DOWN, or the stores above precede the scan's loads and the
    // scan clears the bit. (The Dekker pattern; all Atomics are sequentially consistent.)
    if (owner !== this.tid && Atomics.load(this.v.threads, owner * THREAD_STRIDE + T_DOWN) === 1) this.dead(uniq);
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
    return (Atomics.load(this.v.owner, uniq % SLOTS) & OWNER_MASK) - 1;
  }

  /** Thread running a queued spawn started away from its owner, or -1 (it runs at its owner). */
  runner(uniq: number): number {
    // Pairs with the Atomics.or in setRunner() and the Atomics.store in alloc().
    return (Atomics.load(this.v.owner, uniq % SLOTS) >> RUNNER_SHIFT) - 1;
  }

  /** This thread starts process `uniq`, owned by another (its home): record it as the runner. */
  setRunner(uniq: number): void {
    // Pairs with the Atomics.load in runner() and in reclaim() on the main thread.
    Atomics.or(this.v.owner, uniq % SLOTS, (this.tid + 1) << RUNNER_SHIFT);
  }

  /**
   * Does process `uniq` die with thread `tid`: owned there (its home, which routes every frame
   * for it), or started there away from its home?
   */
  diesWith(uniq: number, tid: number): boolean {
    // Pairs with the Atomics.store in alloc() and the Atomics.or in setRunner().
    const w = Atomics.load(this.v.owner, uniq % SLOTS);
    return (w & OWNER_MASK) - 1 === tid || (w >> RUNNER_SHIFT) - 1 === tid;
  }

  isAlive(uniq: number): boolean {
    const slot = uniq % SLOTS;
    // Pairs with Atomics.or in alloc() and Atomics.and in dead().
    return (Atomics.load(this.v.alive, slot >> 5) & (1 << (slot & 31))) !== 0;
  }

  /**
   * Main thread: ask the worker running process `uniq` to end it at its next budget check, even
   * inside a step (`on` false: withdraw the request, once its EXIT is in).
   */
  requestKill(uniq: number, on = true): void {
    const slot = uniq % SLOTS;
    // Pairs with the Atomics.load in killRequested() on the worker.
    if (on) Atomics.or(this.v.kill, slot >> 5, 1 << (slot & 31));
    else Atomics.and(this.v.kill, slot >> 5, ~(1 << (slot & 31)));
  }

  /** Has the main thread asked for process `uniq` to end now? (the kernel's budget hook) */
  killRequested(uniq: number): boolean {
    const slot = uniq % SLOTS;
    // Pairs with the Atomics.or/and in requestKill() on the main thread.
    return (Atomics.load(this.v.kill, slot >> 5) & (1 << (slot & 31))) !== 0;
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

  /** Spawns waiting in thread `tid`'s Lua-side list, as of its last report (src/lua/kernel/taskq.lua). */
  listed(tid: number): number {
    // Pairs with the Atomics.store in setListed() on thread `tid`.
    return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_LISTED);
  }

  /** This thread's Lua-side list holds `n` spawns (placement's weight reads it from other threads). */
  setListed(n: number): void {
    // Pairs with the Atomics.load in listed() of any thread.
    Atomics.store(this.v.threads, this.tid * THREAD_STRIDE + T_LISTED, n);
  }

  /** Step start/end for the stall watchdog (main thread reads heartbeat and busy). */
  beat(busy: boolean): void {
    const base = this.tid * THREAD_STRIDE;
    if (busy) Atomics.add(this.v.threads, base + T_HEARTBEAT, 1); // pairs with load in heartbeat()
    Atomics.store(this.v.threads, base + T_BUSY, busy ? 1 : 0); // pairs with load in busy()
  }

  /** Steps thread `tid` has started (the stall watchdog and the stuck rule compare two looks). */
  heartbeat(tid: number): number {
    // Pairs with the Atomics.add(T_HEARTBEAT) in beat() on thread `tid`.
    return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_HEARTBEAT);
  }

  /** Is thread `tid` inside a kernel step? */
  busy(tid: number): boolean {
    // Pairs with the Atomics.store(T_BUSY) in beat() on thread `tid`, and in resetThread().
    return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_BUSY) === 1;
  }

  // ---- worker recovery (src/runtime/recovery.ts) -------------------------------------------------

  /** Has the main thread declared thread `tid` dead? */
  isDown(tid: number): boolean {
    // Pairs with the Atomics.store in markDown().
    return Atomics.load(this.v.threads, tid * THREAD_STRIDE + T_DOWN) === 1;
  }

  /** Main thread: thread `tid` is dead. Call before reclaim(tid) (see alloc()). */
  markDown(tid: number): void {
    // Pairs with the Atomics.load(T_DOWN) in alloc() and isDown() on every thread.
    Atomics.store(this.v.threads, tid * THREAD_STRIDE + T_DOWN, 1);
  }

  /**
   * Main thread: clear the alive bit of every PID that dies with thread `tid` (diesWith).
   * Returns how many there were. Walks the alive bitmap (SLOTS / 32 words) and looks at the
   * owner word only for set bits: measured 1.8 ms with no live PID, 5-8 ms with 10k-100k, 36 ms
   * with 1M (Node 20; recovery.ts).
   */
  reclaim(tid: number): number {
    const { alive, owner } = this.v;
    let n = 0;
    for (let w = 0; w < alive.length; w++) {
      // Pairs with Atomics.or in alloc() and Atomics.and in dead() on other threads.
      let bits = Atomics.load(alive, w);
      while (bits !== 0) {
        const b = 31 - Math.clz32(bits);
        bits &= ~(1 << b);
        const slot = (w << 5) | b;
        // Pairs with the Atomics.store in alloc() and the Atomics.or in setRunner().
        const word = Atomics.load(owner, slot);
        if ((word & OWNER_MASK) - 1 === tid || (word >> RUNNER_SHIFT) - 1 === tid) {
          // Pairs with the Atomics.load in isAlive() everywhere: sends to it fail from now on.
          Atomics.and(alive, w, ~(1 << b));
          n++;
        }
      }
    }
    return n;
  }

  /** Main thread: thread id `tid` is reused for a new worker; reset its line before it starts. */
  resetThread(tid: number): void {
    const base = tid * THREAD_STRIDE;
    // Ordered before the new worker's first loads by the Worker constructor's postMessage; pair
    // with the Atomics.loads in load(), listed(), busy() and isDown() on every other thread.
    Atomics.store(this.v.threads, base + T_LOAD, 0);
    Atomics.store(this.v.threads, base + T_LISTED, 0);
    Atomics.store(this.v.threads, base + T_BUSY, 0);
    Atomics.store(this.v.threads, base + T_DOWN, 0);
  }
}

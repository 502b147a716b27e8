// One thread's handle on the shared process directory (layout in layout.ts).
import { BLOCKS, BLOCK_SHIFT, BLOCK_SIZE, H_NEXT_BLOCK, SLOTS, directoryViews, type DirectoryViews } from './layout.js';

export class Directory {
  private readonly v: DirectoryViews;
  private next = 0;
  private end = 0;

  constructor(sab: SharedArrayBuffer, private readonly tid: number) {
    this.v = directoryViews(sab);
  }

  /** A fresh process id owned by this thread, marked alive. */
  alloc(): number {
    if (this.next === this.end) {
      // Pairs with the Atomics.add of every other allocating thread: each gets a distinct block.
      const block = Atomics.add(this.v.header, H_NEXT_BLOCK, 1);
      // Published before any id of the block leaves this thread; pairs with Atomics.load in owner().
      Atomics.store(this.v.owner, block % BLOCKS, this.tid + 1);
      this.next = block * BLOCK_SIZE;
      this.end = this.next + BLOCK_SIZE;
      if (this.next === 0) this.next = 1;
    }
    const uniq = this.next++;
    const slot = uniq % SLOTS;
    // Pairs with the Atomics.load in isAlive(): set before the PID is handed to anyone.
    Atomics.or(this.v.alive, slot >> 5, 1 << (slot & 31));
    return uniq;
  }

  /** Mark a process id dead (after its EXIT has been queued). */
  dead(uniq: number): void {
    const slot = uniq % SLOTS;
    // Pairs with the Atomics.load in isAlive().
    Atomics.and(this.v.alive, slot >> 5, ~(1 << (slot & 31)));
  }

  /** Owner thread of a process id, or -1 if no thread took its block. */
  owner(uniq: number): number {
    // Pairs with the Atomics.store in alloc().
    return Atomics.load(this.v.owner, (uniq >> BLOCK_SHIFT) % BLOCKS) - 1;
  }

  isAlive(uniq: number): boolean {
    const slot = uniq % SLOTS;
    // Pairs with Atomics.or in alloc() and Atomics.and in dead().
    return (Atomics.load(this.v.alive, slot >> 5) & (1 << (slot & 31))) !== 0;
  }
}

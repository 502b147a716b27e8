// Where a ring's producer keeps the frames that did not fit (SpscRing.offer's FIFO): copied into
// reusable blocks instead of one new buffer per frame.
//
// Why. A producer faster than its consumer queues almost everything it sends: fan-in's senders on
// the other worker send a lap's 500,000 messages (~23 MB of frames, batches of ~155 KB, one per
// step) long before the receiver has read them, so nearly every batch went through the FIFO as
// `frame.slice()` — a fresh ArrayBuffer per batch, mapped, copied, then freed by V8's background
// threads, its bytes counted as external memory, whose growth starts major collections ("external
// memory pressure"). Measured in fan-in's timed lap on 2 workers (Node 24.21; docs/design/
// scheduler.md, "Session 13"): V8's helper threads 0.06–0.07 µs per message, mostly concurrent
// marking, against 0.03 on 1 worker; with a ring large enough to hold the lap they fell to 0.025.
//
// How. A queued frame of up to SPILL_BLOCK bytes is copied into the current block at its fill
// mark and the FIFO holds a view of it; a frame that does not fit in the rest of the block starts
// a new block (a free one if any). Each block counts its frames still queued; the ring tells
// `written(frame)` when a queued frame is fully in the ring, and a block whose count falls to 0
// is free again (the current one is refilled from its start instead). A count, not the FIFO's
// order, decides: a frame of its own buffer (larger than a block, or transferred) may sit between
// two frames of one block. Larger frames get a buffer of their own, as before.
//
// Memory. Free blocks are kept up to the largest backlog seen, at most KEEP_BLOCKS (32 MiB) per
// ring: the next burst of the same size allocates nothing. This is the high-water mark the same
// messages keep on one worker, where they wait in the receiver's mailbox in its wasm memory (which
// grows and never shrinks); on two workers they wait here. A ring whose peer died is dropped with
// its blocks (endpoint.ts, dropPeer).
//
// Alternatives rejected: a larger ring (at 4 MiB per pair the helpers took 0.025 µs per message
// against this file's 0.04, the backlog then waiting in the receiver's wasm memory; but that is
// shared memory for every pair of threads, backed up or not, and a larger burst spills anyway);
// handing the batch buffer itself to the FIFO (a new batch buffer per step instead: the same
// allocations); one growing buffer (a doubling copy per growth, and freed by the same collector);
// giving free blocks back when the backlog empties (fan-in's next lap would make them again: the
// allocations this file removes, once per burst instead of once per run).

/** Bytes per block: several of fan-in's ~155 KB batches, few blocks per backlog. */
export const SPILL_BLOCK = 1 << 20;
/** Free blocks kept per ring at most (32 MiB). */
const KEEP_BLOCKS = 32;

export class SpillBlocks {
  private current: Uint8Array | null = null;
  private used = 0;
  private readonly free: Uint8Array[] = [];
  /** Each block made and kept, by its buffer: the number of its frames not yet in the ring. */
  private readonly pending = new Map<ArrayBufferLike, number>();

  /** A copy of `frame` that stays valid until `written` has been told it is in the ring. */
  copy(frame: Uint8Array): Uint8Array {
    const n = frame.length;
    if (n > SPILL_BLOCK) return frame.slice();
    let b = this.current;
    if (b === null || this.used + n > b.length) {
      b = this.free.pop() ?? this.block();
      this.current = b;
      this.used = 0;
    }
    const view = b.subarray(this.used, this.used + n);
    view.set(frame);
    this.used += n;
    this.pending.set(b.buffer, this.pending.get(b.buffer)! + 1);
    return view;
  }

  /** Queued `frame` (a copy made here, or not) is fully in the ring. */
  written(frame: Uint8Array): void {
    const buf = frame.buffer;
    const left = this.pending.get(buf);
    if (left === undefined) return; // not ours: a frame larger than a block, or a transferred one
    this.pending.set(buf, left - 1);
    if (left > 1) return;
    // no frame of this block is queued any more
    if (buf === this.current?.buffer) this.used = 0; // refilled from its start
    else this.release(new Uint8Array(buf));
  }

  /** Blocks made and kept (holding queued frames, or free for the next backlog). */
  blocks(): number {
    return this.pending.size;
  }

  /** `b` holds no queued frame: free for the next block, or dropped past KEEP_BLOCKS. */
  private release(b: Uint8Array): void {
    if (this.free.length < KEEP_BLOCKS) this.free.push(b);
    else this.pending.delete(b.buffer);
  }

  private block(): Uint8Array {
    const b = new Uint8Array(SPILL_BLOCK);
    this.pending.set(b.buffer, 0);
    return b;
  }
}

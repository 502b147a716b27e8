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
// How. A queued frame of up to BLOCK bytes is copied into the current block at its fill mark and
// the FIFO holds a view of it; a frame that does not fit in the rest of the block starts a new
// block (a free one if any). The ring tells `written(frame, next)` when a queued frame is fully in
// the ring: when it was the last frame of a block that is no longer the current one (the next
// queued frame is elsewhere), the block is free again; when the FIFO is empty (`emptied`), the
// current block is filled from its start again. Frames are written in FIFO order and each block
// is filled in that order, so a block is freed only after every frame in it was written. Larger
// frames get a buffer of their own, as before.
//
// Memory. Free blocks are kept up to the largest backlog seen, at most KEEP_BLOCKS (32 MiB) per
// ring: the next burst of the same size allocates nothing. This is the high-water mark the same
// messages keep on one worker, where they wait in the receiver's mailbox in its wasm memory (which
// grows and never shrinks); on two workers they wait here. A ring whose peer died is dropped with
// its blocks (endpoint.ts, dropPeer).
//
// Alternatives rejected: a larger ring (4 MiB per pair held the lap and measured the same helper
// time as this, but is shared memory for every pair of threads whether it backs up or not, and a
// larger burst spills anyway); handing the batch buffer itself to the FIFO (a new batch buffer
// per step instead: the same allocations); one growing buffer (a doubling copy per growth, and
// freed by the same collector).

/** Bytes per block: several of fan-in's ~155 KB batches, few blocks per backlog. */
export const SPILL_BLOCK = 1 << 20;
/** Free blocks kept per ring at most (32 MiB). */
const KEEP_BLOCKS = 32;

export class SpillBlocks {
  private current: Uint8Array | null = null;
  private used = 0;
  private readonly free: Uint8Array[] = [];
  private readonly ours = new WeakSet<ArrayBufferLike>();

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
    return view;
  }

  /** Queued `frame` is fully in the ring; `next` is the frame queued after it, if any. */
  written(frame: Uint8Array, next: Uint8Array | undefined): void {
    const buf = frame.buffer;
    if (!this.ours.has(buf) || buf === this.current?.buffer || next?.buffer === buf) return;
    if (this.free.length < KEEP_BLOCKS) this.free.push(new Uint8Array(buf));
  }

  /** The FIFO is empty: every frame of the current block is written, so it is refilled from its start. */
  emptied(): void {
    this.used = 0;
  }

  /** Blocks allocated and kept (free or current), for tests and stats. */
  blocks(): number {
    return this.free.length + (this.current === null ? 0 : 1);
  }

  private block(): Uint8Array {
    const b = new Uint8Array(SPILL_BLOCK);
    this.ours.add(b.buffer);
    return b;
  }
}

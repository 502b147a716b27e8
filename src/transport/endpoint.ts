// One thread's end of the runtime transport: its outgoing rings (one per destination it talks to),
// its incoming rings (one per sender that talked to it), its doorbell, the batches its current
// step is building, and the park re-check. The worker loop (src/host/loop.ts) and the main
// thread's receive loop (src/runtime/runtime.ts) both use it the same way:
//   post(to, frame)* -> flush()          one step's frames, one batch and one wake-up per destination
//   drain()                              everything readable, one byte string for one step
//   prepareToPark() -> bell.parkAsync()  sleep only when nothing is readable or pumpable
//
// Batching is the whole point: a cross-thread wake-up costs 11-30 µs (docs/design/scheduler.md),
// so everything one step produces for a destination travels as one ring frame and one wake-up.
// post() copies the caller's encoded frame into the destination's batch buffer, kept and reused
// from step to step (so a frame may be a view of memory the caller reuses, the worker's Lua heap:
// it is copied once, here); flush() hands the buffer's used part to the ring, which copies it in
// (or queues a copy when the ring is full). Bytes of a frame, sender side: Lua string -> batch
// buffer -> ring, and no allocation per frame or per step once the buffer has grown to a step's
// size (before: a slice per frame, then a concatenated batch per destination per step). A batch for this thread itself (a process sending to another process of the same worker
// that must pass through the kernel's frame handlers, e.g. a name release) joins the local input
// with frames the event loop queued (deliverLocal: stdin lines, control) and is read by the next
// drain(), after the rings.
//
// Receiving: drain() reads every ring record into one input buffer, the next step's batch. A
// worker hands its kernel's input area (useInputArea: memory of the wasm heap, src/lua/engine.ts)
// so the bytes land where the Lua state reads them: ring -> wasm heap -> Lua string, two copies per
// frame (before: ring -> a JS buffer -> a malloc'd copy -> Lua string, three, and a malloc and a
// free per step). The main thread keeps a JS buffer.
//
// Rings are created by the sender on first use and handed over once to the receiver on the
// MessagePort that links the pair (the only thing the ports carry besides control); after that
// every frame batch travels through shared memory. Per-sender order holds because each (sender,
// receiver) pair has exactly one ring and one producer; a full ring queues batches locally
// (SpscRing.offer) and they are pumped, in order, after every step and whenever the receiver
// reports space (takeSpaceWanted -> ring the producer's doorbell), so two threads flooding each
// other never block and never deadlock.
//
// Waking: after writing to a destination's ring the sender rings its doorbell, which costs a
// single Atomics.load unless the receiver is parked (src/transport/doorbell.ts). Parking is that
// file's protocol; prepareToPark() is its steps C1 (announce) and C2 (re-check every input of
// this endpoint, and arm the receivers of a backlog to ring us when space frees).
//
// Peers come and go (worker recovery, src/runtime/recovery.ts): addPeer() adds the port of a
// thread started after this one (a ring created for it before its port arrived is handed over
// then; its frames wait in shared memory meanwhile), dropPeer() forgets a dead thread: what it
// published is read one last time and returned, its rings are abandoned, and sends to it are
// dropped from then on.
import type { MessagePort } from 'node:worker_threads';
import { SpscRing } from './ring.js';
import { Doorbell, type DoorbellOptions } from './doorbell.js';

/**
 * Ring capacity per (sender, receiver) pair: 256 KiB holds a few thousand small frames, so a
 * burst rarely spills into the local queue; larger batches are chunked through it.
 */
export const RING_CAPACITY = 256 * 1024;

/** First size of a destination's batch buffer; it doubles as a step needs. */
const BATCH_START_BYTES = 4 * 1024;
/** postRange() copies frames up to this many bytes byte by byte rather than through a view. */
const SMALL_COPY = 256;
/** A batch buffer grown past this is dropped after its flush (a rare huge step keeps nothing). */
const BATCH_KEEP_BYTES = 1024 * 1024;

/**
 * Memory drain() fills for the next step instead of its own buffer: a worker's kernel input area
 * in the wasm heap (LuaKernel.inputArea, src/lua/engine.ts). A view is valid until the owner
 * allocates (wasm memory may grow and move to a new buffer), so drain() fetches it again with
 * view() each time; grow() returns a fresh one.
 */
export interface InputArea {
  /** The whole area (its length is the capacity). */
  view(): Uint8Array;
  /** Make room for `need` bytes keeping the first `keep`; the new view. */
  grow(need: number, keep: number): Uint8Array;
}

/** The control message that hands a ring to its receiver. */
export interface RingHandover { type: 'ring'; from: number; sab: SharedArrayBuffer }

export class Endpoint {
  readonly bell: Doorbell;
  private readonly out = new Map<number, SpscRing>();
  private readonly inbound: Array<{ from: number; ring: SpscRing }> = [];
  /**
   * The outgoing rings again, as two parallel arrays (tid, ring) walked by index: flush() looks at
   * each per step, and a Map's iterator is an allocation per step.
   */
  private readonly outTids: number[] = [];
  private readonly outRings: SpscRing[] = [];
  /** Threads to ring at the end of flush(), in order, each once (rangMark[tid] = 1 while listed). */
  private readonly rang: number[] = [];
  private readonly rangMark: number[] = [];
  private inbuf: Uint8Array = new Uint8Array(64 * 1024);
  private inlen = 0;
  /** Where drain() writes, when not inbuf: the kernel's input area (useInputArea). */
  private area: InputArea | undefined;
  /** Rings created for a peer whose port has not arrived yet (handed over by addPeer). */
  private readonly unsent = new Map<number, SharedArrayBuffer>();
  /** Dead peers: sends to them are dropped. */
  private readonly gone = new Set<number>();
  /** Of the last drain(): pairs (sender tid, end offset of its bytes in the batch). */
  private readonly segments: number[] = [];
  /**
   * The batches being built, by destination thread id: a reused buffer, the bytes used in it and
   * the frames in them; `dests` lists the destinations with frames.
   */
  private readonly batches: Array<Uint8Array | undefined> = [];
  private readonly batchBytes: number[] = [];
  private readonly batchFrames: number[] = [];
  private readonly dests: number[] = [];
  /** Input that did not come through a ring (self-batches, deliverLocal), read by drain(). */
  private local: Uint8Array[] = [];
  /** Of the last flush(): how many of the threads sent a batch were workers (not the main thread, tid 0). */
  sentToWorkers = 0;
  /** Frames posted so far, by destination thread id (observability: which threads talk, Runtime.stats()). */
  readonly sentFrames: number[] = [];

  constructor(
    readonly tid: number,
    doorbellSab: SharedArrayBuffer,
    private readonly ports: Map<number, MessagePort>,
    bellOptions: DoorbellOptions = {},
  ) {
    this.bell = new Doorbell(doorbellSab, tid, bellOptions);
  }

  /**
   * Add one encoded frame to the batch for thread `to` (sent by the next flush()). The bytes are
   * copied at once into the destination's batch buffer, so `frame` may be a view of memory the
   * caller reuses (the worker's Lua heap): one copy per frame, no allocation once the buffer has
   * grown to a step's size.
   */
  post(to: number, frame: Uint8Array): void {
    this.postN(to, frame, 1);
  }

  /** post() of `frames` frames, concatenated. */
  private postN(to: number, frame: Uint8Array, frames: number): void {
    let buf = this.batches[to];
    const used = this.batchBytes[to] ?? 0;
    const need = used + frame.length;
    if (buf === undefined || need > buf.length) {
      const grown = new Uint8Array(Math.max(need, 2 * (buf?.length ?? 0), BATCH_START_BYTES));
      if (buf !== undefined && used > 0) grown.set(buf.subarray(0, used));
      buf = this.batches[to] = grown;
    }
    buf.set(frame, used);
    this.batchBytes[to] = need;
    this.counted(to, frames);
  }

  /**
   * post() of the bytes src[start, end) without a view of them: a worker's frame as an address
   * and a length in the wasm heap (src/lua/engine.ts). A frame of up to SMALL_COPY bytes is copied
   * byte by byte, a larger one through a view; a view per frame (and per drain, per flush) was
   * ~40% of the CPU of a post, flush and drain of one small frame, in the garbage collector.
   * The range may hold `frames` frames, concatenated (a worker step's outbox: all its frames for
   * `to`), counted as that many.
   */
  postRange(to: number, src: Uint8Array, start: number, end: number, frames = 1): void {
    const n = end - start;
    if (n > SMALL_COPY) { this.postN(to, src.subarray(start, end), frames); return; }
    let buf = this.batches[to];
    const used = this.batchBytes[to] ?? 0;
    const need = used + n;
    if (buf === undefined || need > buf.length) {
      const grown = new Uint8Array(Math.max(need, 2 * (buf?.length ?? 0), BATCH_START_BYTES));
      if (buf !== undefined && used > 0) grown.set(buf.subarray(0, used));
      buf = this.batches[to] = grown;
    }
    for (let i = 0; i < n; i++) buf[used + i] = src[start + i]!;
    this.batchBytes[to] = need;
    this.counted(to, frames);
  }

  /** The batch for `to` holds `frames` more frames. */
  private counted(to: number, frames: number): void {
    const held = this.batchFrames[to] ?? 0;
    if (held === 0) this.dests.push(to);
    this.batchFrames[to] = held + frames;
    this.sentFrames[to] = (this.sentFrames[to] ?? 0) + frames;
  }

  /** Frames posted and not yet flushed (read-only; leak checks read it). */
  postedFrames(): number {
    let n = 0;
    for (const to of this.dests) n += this.batchFrames[to]!;
    return n;
  }

  /** Input for this thread that did not come through a ring: read by the next drain(), after the rings. */
  deliverLocal(bytes: Uint8Array): void {
    this.local.push(bytes);
  }

  /** Queue one batch for thread `to`; it is published at once if the ring has room. */
  send(to: number, batch: Uint8Array, transfer = false): void {
    let ring = this.out.get(to);
    if (!ring) {
      if (this.gone.has(to)) return;
      const sab = SpscRing.create(RING_CAPACITY);
      ring = new SpscRing(sab);
      this.out.set(to, ring);
      this.outTids.push(to);
      this.outRings.push(ring);
      const port = this.ports.get(to);
      if (port) port.postMessage({ type: 'ring', from: this.tid, sab } satisfies RingHandover);
      else this.unsent.set(to, sab); // a peer started after this thread: see addPeer()
    }
    ring.offer(batch, transfer);
    this.willRing(to);
  }

  private willRing(to: number): void {
    if (this.rangMark[to] === 1) return;
    this.rangMark[to] = 1;
    this.rang.push(to);
  }

  /**
   * Send every destination its batch of the frames posted since the last call (this thread's own
   * goes to the local input), ring the doorbells of everyone written to, and pump queued batches.
   * Returns the number of other threads that were sent a batch (the worker loop's reply wait).
   */
  flush(): number {
    const dests = this.dests;
    let others = 0;
    let workers = 0;
    for (let i = 0; i < dests.length; i++) {
      const to = dests[i]!;
      const buf = this.batches[to]!;
      const batch = buf.subarray(0, this.batchBytes[to]!);
      this.batchBytes[to] = 0;
      this.batchFrames[to] = 0;
      // The buffer is reused: the ring copies the batch in (or queues a copy when full); the
      // local input keeps a copy.
      if (to === this.tid) this.local.push(batch.slice());
      else { this.send(to, batch, false); others++; if (to !== 0) workers++; }
      // One huge step does not pin its buffer for the life of the thread.
      if (buf.length > BATCH_KEEP_BYTES) this.batches[to] = undefined;
    }
    dests.length = 0;
    const rings = this.outRings;
    for (let i = 0; i < rings.length; i++) {
      const ring = rings[i]!;
      // Ring even when pump() could not empty the queue: whatever chunks it did publish must be
      // read before the receiver frees the space the rest needs (otherwise both sides wait).
      if (ring.pendingFrames > 0) { ring.pump(); this.willRing(this.outTids[i]!); }
    }
    const rang = this.rang;
    for (let i = 0; i < rang.length; i++) {
      const to = rang[i]!;
      this.rangMark[to] = 0;
      this.bell.ring(to);
    }
    rang.length = 0;
    this.sentToWorkers = workers;
    return others;
  }

  /** True while some batch waits for room in a full ring. */
  hasBacklog(): boolean {
    const rings = this.outRings;
    for (let i = 0; i < rings.length; i++) if (rings[i]!.pendingFrames > 0) return true;
    return false;
  }

  /** Frames waiting for room in full outgoing rings (read-only; soak and stats read it). */
  backlogFrames(): number {
    let n = 0;
    for (const ring of this.out.values()) n += ring.pendingFrames;
    return n;
  }

  /**
   * Before parking with a backlog: ask the receivers to ring us when space frees up. True if
   * pumping is possible right now (do not park).
   */
  armBacklog(): boolean {
    let now = false;
    for (const ring of this.out.values()) if (ring.pendingFrames > 0 && ring.canPump()) now = true;
    return now;
  }

  /** A ring handed over by thread `from`. */
  attach(h: RingHandover): void {
    if (this.gone.has(h.from)) return;
    this.inbound.push({ from: h.from, ring: new SpscRing(h.sab) });
  }

  /** The port to a thread started after this one (`tid` may be a reused id of a dropped peer). */
  addPeer(tid: number, port: MessagePort): void {
    this.gone.delete(tid);
    this.ports.set(tid, port);
    const sab = this.unsent.get(tid);
    if (sab) {
      this.unsent.delete(tid);
      port.postMessage({ type: 'ring', from: this.tid, sab } satisfies RingHandover);
    }
  }

  /**
   * Peer `tid` is dead: read what it published into its ring to us one last time (returned, as
   * drain() would; a chunked frame it did not finish is discarded), then abandon both rings and
   * the port; later sends to it are dropped. The caller handles the returned frames before
   * anything that reacts to the death (the last EXITs the peer sent come first).
   */
  dropPeer(tid: number): Uint8Array | null {
    this.gone.add(tid);
    // Frames posted to it and not yet flushed are dropped with it.
    if ((this.batchFrames[tid] ?? 0) > 0) {
      this.batchFrames[tid] = 0;
      this.batchBytes[tid] = 0;
      this.dests.splice(this.dests.indexOf(tid), 1);
    }
    this.resetInput();
    for (let i = this.inbound.length - 1; i >= 0; i--) {
      const r = this.inbound[i]!;
      if (r.from !== tid) continue;
      while (r.ring.read(this.collect) > 0);
      this.inbound.splice(i, 1);
    }
    this.out.delete(tid);
    const k = this.outTids.indexOf(tid);
    if (k >= 0) { this.outTids.splice(k, 1); this.outRings.splice(k, 1); }
    this.unsent.delete(tid);
    if (this.rangMark[tid] === 1) { this.rangMark[tid] = 0; this.rang.splice(this.rang.indexOf(tid), 1); }
    const port = this.ports.get(tid);
    this.ports.delete(tid);
    port?.close();
    return this.inlen === 0 ? null : this.inbuf.slice(0, this.inlen);
  }

  /**
   * Drain into `area` from now on (the worker's kernel input area, in the wasm heap): drain()'s
   * result is then a view of it, valid until the Lua state next allocates.
   */
  useInputArea(area: InputArea): void {
    this.area = area;
  }

  /** Start filling the input buffer from its beginning (the area's view is fetched again). */
  private resetInput(): void {
    this.inlen = 0;
    if (this.area) this.inbuf = this.area.view();
  }

  /** Something to read? (a few Atomics.loads; safe to call in a spin loop) */
  readonly hasInput = (): boolean => {
    if (this.local.length > 0) return true;
    const inb = this.inbound;
    for (let i = 0; i < inb.length; i++) if (!inb[i]!.ring.isEmpty()) return true;
    return false;
  };

  private readonly collect = (bytes: Uint8Array): void => {
    const need = this.inlen + bytes.length;
    if (need > this.inbuf.length) {
      if (this.area) {
        this.inbuf = this.area.grow(need, this.inlen);
      } else {
        const grown = new Uint8Array(Math.max(need, this.inbuf.length * 2));
        grown.set(this.inbuf.subarray(0, this.inlen));
        this.inbuf = grown;
      }
    }
    this.inbuf.set(bytes, this.inlen);
    this.inlen = need;
  };

  /**
   * Everything readable now, as one byte string of concatenated frames (a view valid until the
   * next drain), or null: the rings in the order they were attached, then the local input.
   * Producers waiting for space are rung.
   */
  drain(): Uint8Array | null {
    const n = this.drainLength();
    return n === 0 ? null : this.inbuf.subarray(0, n);
  }

  /**
   * drain() without a view of the batch: its length (0: nothing read). For the worker, whose
   * kernel reads the batch where drain() put it, at the start of its input area (useInputArea).
   */
  drainLength(): number {
    this.resetInput();
    this.segments.length = 0;
    const inb = this.inbound;
    for (let i = 0; i < inb.length; i++) {
      const { from, ring } = inb[i]!;
      ring.read(this.collect);
      if (ring.takeSpaceWanted()) this.bell.ring(from);
      this.segments.push(from, this.inlen);
    }
    if (this.local.length > 0) {
      const local = this.local;
      this.local = [];
      for (let i = 0; i < local.length; i++) this.collect(local[i]!);
      this.segments.push(this.tid, this.inlen);
    }
    return this.inlen;
  }

  /** The last drain's batch of `len` bytes (drainLength's), as drain() returns it. */
  lastBatch(len: number): Uint8Array {
    return this.inbuf.subarray(0, len);
  }

  /** True when drain() fills the input area (useInputArea) rather than the endpoint's own buffer. */
  get drainsToArea(): boolean {
    return this.area !== undefined;
  }

  /**
   * Steps C1 and C2 of the doorbell protocol (src/transport/doorbell.ts) for this endpoint:
   * announce the park (Atomics.store of the park state, which a producer's ring() loads after
   * publishing), then re-check every input — the rings' tails (Atomics.load, pairing with the
   * producers' Atomics.store(tail)) and the local input — and, with a backlog, ask the receivers
   * to ring us when space frees (SpscRing.canPump). True: nothing to do, the caller parks now
   * (bell.parkAsync; a check of its own inputs made after this call cannot miss a producer that
   * rings). False: work found, the park is cancelled.
   */
  prepareToPark(): boolean {
    const bell = this.bell;
    bell.prepareToPark();
    if (this.hasInput() || (this.hasBacklog() && this.armBacklog())) { bell.cancelPark(); return false; }
    return true;
  }

  /** The sender of the byte at `offset` of the last drain()'s batch (-1 if out of range). */
  senderAt(offset: number): number {
    const s = this.segments;
    for (let i = 0; i < s.length; i += 2) if (offset < s[i + 1]!) return s[i]!;
    return -1;
  }

  close(): void { this.bell.close(); }
}

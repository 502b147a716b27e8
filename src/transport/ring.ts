// SpscRing: a single-producer/single-consumer byte ring of variable-size frames over a
// SharedArrayBuffer. One ring carries the frames of one (sending thread → receiving thread) pair.
//
// Model. The ring is a power-of-two byte region with two indices that only grow: `tail` (bytes
// ever written, producer-owned) and `head` (bytes ever consumed, consumer-owned); the used bytes
// are `tail - head`, the position of an index is `index & mask`. Each side keeps its own index in
// a field and publishes it with one Atomics.store; it reads the other side's index with
// Atomics.load only when its cached copy says the ring is full (producer) or empty (consumer).
// Layout and the frame header format: src/shm/layout.ts.
//
// Protocol.
//   producer: 1. check free space (cached head, then Atomics.load(head) if short);
//             2. write the header and payload bytes at tail (plain stores, with wrap-around);
//             3. Atomics.store(tail) — publishes the bytes (2) to the consumer.
//   consumer: 1. Atomics.load(tail) — after it, every byte before tail is visible;
//             2. read records from head up to tail, handing each complete frame to the callback;
//             3. Atomics.store(head) — gives the bytes back to the producer, which may then
//                overwrite them; so a frame handed out in (2) is valid until (3).
// The sequentially consistent store/load pair orders the plain byte accesses around it (JS memory
// model: the store synchronizes-with the load that reads it), the same way release/acquire does.
//
// Frames of any size. A frame whose record fits in the ring is written whole or not at all. A
// larger frame is cut into chunks (FRAME_FIRST, then FRAME_NEXT records); the producer writes as
// many chunks as fit and keeps the rest, the consumer reassembles them into one buffer and hands
// the frame over once complete. Chunks of one frame are contiguous in the ring (one producer), so
// order is preserved. A chunk is written only once a quarter of the ring is free (or the rest of
// the frame fits), so a slow consumer does not turn a large frame into many tiny chunks.
//
// Back-pressure without loss, reordering or deadlock. `write()` fails when the ring is full;
// `offer()` never fails: what does not fit goes to a producer-local FIFO, which `pump()` drains
// into the ring later, in order. Neither ever blocks, so two threads that fill each other's rings
// both keep running their loops, keep draining their input rings, and keep pumping; each pump
// makes progress as soon as the peer has read. A direct `write()` is refused while the FIFO is
// not empty, so it can never overtake an offered frame.
//
// Waking a producer that waits for space. A producer with pending frames may run out of other
// work and park (src/transport/doorbell.ts); then the consumer must wake it once it has freed
// enough space. The producer's pre-park re-check is canPump(), which arms a request:
//   producer: canPump() finds too little room     consumer: read() consumed something
//   S0 Atomics.store(WANTED_HEAD, want)           R1 Atomics.store(head)
//   S1 Atomics.store(SPACE_WANTED, 1)             R2 Atomics.load(SPACE_WANTED), and if 1:
//   S2 Atomics.load(head): room now? else park    R3 Atomics.load(WANTED_HEAD); head ≥ want means
//                                                    takeSpaceWanted() clears the flag and returns
//                                                    true: ring the producer's doorbell
// In the single order S either S2 comes after R1 (the re-check sees the space) or R2 comes after
// S1 (the consumer sees the request, and R3 sees S0's want or a later one): a request is never
// missed. A consumer that frees too little leaves the request armed for its next read. One that
// acts on an older, smaller want wakes the producer early; the producer re-arms in canPump()
// before it parks again, so that wake-up is only wasted, never a lost one.
//
// Alternatives rejected.
//   - Fixed-size slots: simple, but a 16-byte message would pay for the largest slot and large
//     messages would need a side channel anyway.
//   - A skip record at the end of the region so payloads never wrap: wastes up to a frame per lap
//     and needs a second record kind; copying a straddling payload in two parts is cheaper.
//   - Spilling large frames to a separate SharedArrayBuffer handed over by postMessage: crosses
//     the event loop (~50–80 µs per postMessage round trip) and breaks ordering with the ring.
//   - Blocking the producer on a full ring (Atomics.wait): deadlocks two threads that send to each
//     other, and stalls every other process of the sending worker.
//
// Hot path. The producer copies with TypedArray.set (no allocation unless a payload of more than
// SMALL_FRAME bytes straddles the end, once per lap at most). The consumer copies frames up to
// SMALL_FRAME bytes into a scratch buffer and hands out a cached view (no allocation); larger ones
// as a view of the ring (one small view object) or, when they straddle the end, a copy in a
// reusable scratch buffer. Only chunked frames allocate, for reassembly. A frame queued by
// offer() is copied into the producer's reusable spill blocks (spill.ts), not a buffer of its own.
import {
  FRAME_FIRST, FRAME_FLAGS, FRAME_HEADER_BYTES, FRAME_LENGTH_MASK, FRAME_NEXT, RING_CONTROL_INTS,
  RING_DATA_OFFSET, RING_DEFAULT_CAPACITY, RING_HEAD, RING_MIN_CAPACITY, RING_SPACE_WANTED, RING_TAIL,
  RING_WANTED_HEAD, checkCapacity, recordBytes, ringBytes,
} from '../shm/layout.js';
import { SpillBlocks } from './spill.js';

/**
 * The consumer copies frames up to this many bytes word by word into a scratch buffer and hands
 * out a cached view of it (no allocation); larger frames are handed out as a view of the ring.
 * Measured in one thread, write + read per frame: 16 bytes 31 ns with the word copy vs 54 ns with
 * a fresh view; 64 bytes 49 vs 56 ns; 128 bytes 76 vs 62 ns. (Byte loops were slower than either:
 * 90 ns at 32 bytes, 200 ns at 64.)
 */
export const SMALL_FRAME = 64;

/** copyIn() stages a copy of more than this many bytes whose offsets mod 8 differ (see there). */
const STAGE_MIN = 128;
/** copyIn()'s staging buffer: this thread's, grown to the largest staged copy (at most a ring's capacity). */
let staging = new Uint8Array(0);

/** Consumer: publish head at least every capacity >> HEAD_PUBLISH_SHIFT bytes within one read(). */
const HEAD_PUBLISH_SHIFT = 2;
/** Producer: write the next chunk of a large frame only once capacity >> CHUNK_MIN_SHIFT bytes are free. */
const CHUNK_MIN_SHIFT = 2;

const EMPTY = new Uint8Array(0);
/** WIPPY_SPILL=0: a queued frame is a new buffer of its own, as before spill.ts (A/B). */
const SPILL = typeof process === 'undefined' || process.env?.['WIPPY_SPILL'] !== '0';

export type FrameHandler = (bytes: Uint8Array) => void;

export class SpscRing {
  /**
   * A ring's shared memory. `capacity` is the data region in bytes, a power of two in [16, 2^30]
   * (default 1 MiB). `startIndex` (a multiple of 4) sets both indices; tests use it to cross the
   * 2^31 and 2^32 index wraps.
   */
  static create(capacity: number = RING_DEFAULT_CAPACITY, startIndex = 0): SharedArrayBuffer {
    checkCapacity('SpscRing', capacity, RING_MIN_CAPACITY);
    if ((startIndex & 3) !== 0) throw new RangeError(`SpscRing startIndex must be a multiple of 4, got ${startIndex}`);
    const sab = new SharedArrayBuffer(ringBytes(capacity));
    const control = new Int32Array(sab, 0, RING_CONTROL_INTS);
    // Before the buffer is shared: the postMessage that hands it over orders these stores.
    Atomics.store(control, RING_HEAD, startIndex | 0);
    Atomics.store(control, RING_TAIL, startIndex | 0);
    return sab;
  }

  readonly capacity: number;
  /** Largest frame `write()` accepts: one record fills the whole ring. */
  readonly maxWholeFrame: number;
  private readonly mask: number;
  private readonly control: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Int32Array;

  // Producer state (only the producing thread's handle uses these).
  private tail: number;
  private cachedHead: number;
  private readonly chunkMinFree: number;
  private pending: Uint8Array[] = [];
  private pendingHead = 0;
  /** Bytes of pending[pendingHead] already written as chunks. */
  private chunkOffset = 0;
  private pendingByteCount = 0;
  /** Where queued frames are copied (spill.ts); made at the first one. */
  private spill: SpillBlocks | null = null;
  /** The want last published by canPump(). */
  private wantedHead = 0;

  // Consumer state (only the consuming thread's handle uses these).
  private head: number;
  private publishedHead: number;
  private cachedTail: number;
  private readonly publishEvery: number;
  private smallScratch: Int32Array | null = null;
  private smallViews: Uint8Array[] = [];
  private largeScratch: Uint8Array = EMPTY;
  private assembly: Uint8Array = EMPTY;
  private assembled = 0;
  private spaceWanted = false;

  constructor(sab: SharedArrayBuffer) {
    const capacity = sab.byteLength - RING_DATA_OFFSET;
    checkCapacity('SpscRing', capacity, RING_MIN_CAPACITY);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.maxWholeFrame = capacity - FRAME_HEADER_BYTES;
    this.control = new Int32Array(sab, 0, RING_CONTROL_INTS);
    this.data = new Uint8Array(sab, RING_DATA_OFFSET, capacity);
    this.words = new Int32Array(sab, RING_DATA_OFFSET, capacity >> 2);
    // The handle may be built on either side; each side only ever uses its own half. These loads
    // pair with the stores in create() (ordered by the postMessage that handed the buffer over),
    // or with the other side's Atomics.store(head)/(tail) if it has already run.
    this.tail = this.cachedTail = Atomics.load(this.control, RING_TAIL);
    this.head = this.publishedHead = this.cachedHead = Atomics.load(this.control, RING_HEAD);
    this.chunkMinFree = Math.max(capacity >> CHUNK_MIN_SHIFT, 12);
    this.publishEvery = Math.max(capacity >> HEAD_PUBLISH_SHIFT, 4);
  }

  // --- producer -------------------------------------------------------------------------------

  /**
   * Write one frame whole, or nothing. False when the ring lacks room or frames offered earlier
   * are still pending (writing now would overtake them). Throws if the frame can never fit whole
   * (more than `maxWholeFrame` bytes): send those with `offer()`.
   */
  write(frame: Uint8Array): boolean {
    if (frame.length > this.maxWholeFrame) {
      throw new RangeError(`frame of ${frame.length} bytes exceeds the ring (max ${this.maxWholeFrame}); use offer()`);
    }
    if (this.pendingHead !== this.pending.length || !this.put(frame)) return false;
    // Publishes the record written by put(); pairs with Atomics.load(tail) in read() and isEmpty().
    Atomics.store(this.control, RING_TAIL, this.tail);
    return true;
  }

  /**
   * Send a frame of any size, never failing and never blocking. Returns true when the frame is
   * fully in the ring; otherwise (ring full, earlier frames pending, or a frame larger than the
   * ring) it is queued and the caller must call `pump()` again later, typically after its next
   * round of reading, until `pump()` returns true. The frame is copied when queued (spill.ts), unless
   * `transfer` is true: then the ring keeps the caller's buffer, which must not change until sent.
   */
  offer(frame: Uint8Array, transfer = false): boolean {
    if (this.pendingHead === this.pending.length && frame.length <= this.maxWholeFrame && this.put(frame)) {
      // Publishes the record; pairs with Atomics.load(tail) in read() and isEmpty().
      Atomics.store(this.control, RING_TAIL, this.tail);
      return true;
    }
    // a copy in the spill's reusable blocks (spill.ts), not a new buffer per frame
    this.pending.push(transfer ? frame : SPILL ? (this.spill ??= new SpillBlocks()).copy(frame) : frame.slice());
    this.pendingByteCount += frame.length;
    return this.pump();
  }

  /** Move queued frames into the ring, in order. True when nothing is pending any more. */
  pump(): boolean {
    const start = this.tail;
    const done = this.drainPending();
    // One store for everything written above; pairs with Atomics.load(tail) in read() and isEmpty().
    if (this.tail !== start) Atomics.store(this.control, RING_TAIL, this.tail);
    return done;
  }

  /**
   * True if frames are pending and pump() can make progress now. When it returns false it has
   * asked the consumer to report the space it frees (takeSpaceWanted()), so this is the check a
   * producer with pending frames must make after Doorbell.prepareToPark(), before it parks.
   */
  canPump(): boolean {
    if (this.pendingHead === this.pending.length) return false;
    const frame = this.pending[this.pendingHead];
    let need: number;
    if (frame.length <= this.maxWholeFrame) {
      need = recordBytes(frame.length);
    } else {
      const header = this.chunkOffset === 0 ? 2 * FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
      need = Math.min(header + ((frame.length - this.chunkOffset + 3) & ~3), this.chunkMinFree);
    }
    if (this.free(need) >= need) return true;
    const control = this.control;
    const want = (this.tail + need - this.capacity) | 0;
    // Re-arm only if needed: a producer spinning on canPump() must not keep writing the tail line.
    // This load pairs with the Atomics.exchange in takeSpaceWanted().
    if (Atomics.load(control, RING_SPACE_WANTED) === 0 || want !== this.wantedHead) {
      this.wantedHead = want;
      // S0: read by Atomics.load(WANTED_HEAD) in publishHead() (R3), after it sees S1.
      Atomics.store(control, RING_WANTED_HEAD, want);
      // S1: pairs with Atomics.load(SPACE_WANTED) in publishHead() (R2).
      Atomics.store(control, RING_SPACE_WANTED, 1);
    }
    // S2: pairs with Atomics.store(head) in publishHead() (R1); see the header.
    this.cachedHead = Atomics.load(control, RING_HEAD);
    return this.capacity - ((this.tail - this.cachedHead) | 0) >= need;
  }

  private drainPending(): boolean {
    const pending = this.pending;
    while (this.pendingHead < pending.length) {
      const frame = pending[this.pendingHead];
      if (frame.length <= this.maxWholeFrame) {
        if (!this.put(frame)) return this.compact();
        this.pendingByteCount -= frame.length;
      } else if (!this.putChunks(frame)) {
        return this.compact();
      }
      pending[this.pendingHead++] = EMPTY;
      this.spill?.written(frame);
    }
    pending.length = 0;
    this.pendingHead = 0;
    return true;
  }

  /** Drop written frames from the front of a long FIFO; returns false (not done) for pump(). */
  private compact(): boolean {
    if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    return false;
  }

  /** Frames offered but not yet fully written into the ring. */
  get pendingFrames(): number {
    return this.pending.length - this.pendingHead;
  }

  /** Blocks the queue's copies keep (spill.ts): in use or free for the next backlog. */
  get spillBlocks(): number {
    return this.spill?.blocks() ?? 0;
  }

  /** Payload bytes offered but not yet written into the ring. */
  get pendingBytes(): number {
    return this.pendingByteCount;
  }

  /** Free bytes, refreshing the cached head if the cache says fewer than `need`. */
  private free(need: number): number {
    let free = this.capacity - ((this.tail - this.cachedHead) | 0);
    if (free < need) {
      // Pairs with Atomics.store(head) in read(): bytes before head are no longer read.
      this.cachedHead = Atomics.load(this.control, RING_HEAD);
      free = this.capacity - ((this.tail - this.cachedHead) | 0);
    }
    return free;
  }

  /** Write a whole-frame record at tail without publishing it. */
  private put(frame: Uint8Array): boolean {
    const length = frame.length;
    const bytes = recordBytes(length);
    if (this.free(bytes) < bytes) return false;
    const tail = this.tail;
    this.words[(tail & this.mask) >> 2] = length;
    this.copyIn(frame, 0, length, (tail + FRAME_HEADER_BYTES) & this.mask);
    this.tail = (tail + bytes) | 0;
    return true;
  }

  /** Write as many chunks of an oversized frame as fit, without publishing. True when finished. */
  private putChunks(frame: Uint8Array): boolean {
    const length = frame.length;
    for (;;) {
      const offset = this.chunkOffset;
      const remaining = length - offset;
      const header = offset === 0 ? 2 * FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
      // Wait for room for the whole rest, or for a chunk worth its header.
      const need = Math.min(header + ((remaining + 3) & ~3), this.chunkMinFree);
      const free = this.free(need);
      if (free < need) return false;
      // free is a multiple of 4, so a chunk of free - header bytes pads to at most free.
      const chunk = Math.min(remaining, free - header);
      const tail = this.tail;
      const at = (tail & this.mask) >> 2;
      if (offset === 0) {
        this.words[at] = FRAME_FIRST | chunk;
        this.words[(at + 1) & (this.mask >> 2)] = length;
      } else {
        this.words[at] = FRAME_NEXT | chunk;
      }
      this.copyIn(frame, offset, chunk, (tail + header) & this.mask);
      this.tail = (tail + header + ((chunk + 3) & ~3)) | 0;
      this.pendingByteCount -= chunk;
      if (chunk === remaining) {
        this.chunkOffset = 0;
        return true;
      }
      this.chunkOffset = offset + chunk;
    }
  }

  private copyIn(src: Uint8Array, from: number, length: number, at: number): void {
    const data = this.data;
    // A copy into shared memory is V8's relaxed memcpy, word by word only when the source and
    // the destination are at the same offset mod 8, else byte by byte: 0.24 ns a byte against
    // 0.03 (Node 20 and 24). A record's payload starts 4-aligned, a batch in its buffer 8-aligned,
    // so half of all batches crossed byte by byte. A longer one whose offsets differ goes through
    // this thread's staging buffer first, at the ring's offset mod 8 (a plain copy, unshared):
    // 0.06 ns a byte in all. (The wrapped part's offsets agree when the first part's do: the
    // capacity is a multiple of 8.) docs/design/scheduler.md, "Session 15: the crossing send".
    if (length > STAGE_MIN) {
      const off = (data.byteOffset + at) & 7;
      if (((src.byteOffset + from) & 7) !== off) {
        if (staging.length < off + length) staging = new Uint8Array(Math.max(off + length, 2 * staging.length));
        staging.set(from === 0 && length === src.length ? src : src.subarray(from, from + length), off);
        src = staging;
        from = off;
      }
    }
    const first = this.capacity - at;
    if (length <= first) {
      data.set(from === 0 && length === src.length ? src : src.subarray(from, from + length), at);
    } else if (length <= SMALL_FRAME) {
      // Straddles the end (at most once per lap): a byte loop instead of two views.
      const mask = this.mask;
      for (let i = 0; i < length; i++) data[(at + i) & mask] = src[from + i];
    } else {
      data.set(src.subarray(from, from + first), at);
      data.set(src.subarray(from + first, from + length), 0);
    }
  }

  // --- consumer -------------------------------------------------------------------------------

  /**
   * Hand up to `max` complete frames to `onFrame`, in order; returns how many (0 when the ring is
   * empty, or holds only part of a chunked frame). It looks at the producer's tail at most once:
   * frames published after that wait for the next call. The bytes passed to
   * `onFrame` are only valid until it returns: a view of the ring or of a scratch buffer that the
   * next frame reuses. Copy (`bytes.slice()`) to keep them. If `onFrame` throws, that frame counts
   * as delivered and the exception propagates; the next read() continues after it.
   */
  read(onFrame: FrameHandler, max = 0x7fffffff): number {
    const words = this.words;
    const mask = this.mask;
    let head = this.head;
    let tail = this.cachedTail;
    let looked = false;
    let delivered = 0;
    while (delivered < max) {
      if (head === tail) {
        // At most once per call: a call drains what was published when it looked, which saves a
        // second load of the producer's hot line per call.
        if (looked) break;
        looked = true;
        // Pairs with Atomics.store(tail) in write()/offer()/pump(): every record before tail is
        // fully written and visible.
        tail = this.cachedTail = Atomics.load(this.control, RING_TAIL);
        if (head === tail) break;
      }
      const header = words[(head & mask) >> 2];
      const length = header & FRAME_LENGTH_MASK;
      if ((header & FRAME_FLAGS) === 0) {
        const at = (head + FRAME_HEADER_BYTES) & mask;
        head = this.head = (head + ((FRAME_HEADER_BYTES + length + 3) & ~3)) | 0;
        delivered++;
        onFrame(this.view(at, length));
      } else {
        const first = (header & FRAME_FIRST) !== 0;
        const offset = first ? 2 * FRAME_HEADER_BYTES : FRAME_HEADER_BYTES;
        if (first) {
          this.assembly = new Uint8Array(words[(((head & mask) >> 2) + 1) & (mask >> 2)] >>> 0);
          this.assembled = 0;
        }
        this.copyOut(this.assembly, this.assembled, (head + offset) & mask, length);
        this.assembled += length;
        head = this.head = (head + offset + ((length + 3) & ~3)) | 0;
        if (this.assembled === this.assembly.length) {
          const frame = this.assembly;
          this.assembly = EMPTY;
          delivered++;
          onFrame(frame);
        }
      }
      if (((head - this.publishedHead) | 0) >= this.publishEvery) this.publishHead(head);
    }
    if (head !== this.publishedHead) this.publishHead(head);
    return delivered;
  }

  /**
   * True, once, after read() freed the space a waiting producer asked for in canPump(): the caller
   * rings the producer's doorbell. Consumer side.
   */
  takeSpaceWanted(): boolean {
    if (!this.spaceWanted) return false;
    this.spaceWanted = false;
    // Clears the request; pairs with Atomics.store(SPACE_WANTED, 1) and Atomics.load(SPACE_WANTED)
    // in canPump(). A request re-armed meanwhile is taken too: the producer wakes, and re-arms in
    // canPump() if it still lacks room.
    return Atomics.exchange(this.control, RING_SPACE_WANTED, 0) !== 0;
  }

  private publishHead(head: number): void {
    // R1: the frames handed out so far are done with; pairs with Atomics.load(head) in free().
    Atomics.store(this.control, RING_HEAD, head);
    this.publishedHead = head;
    // R2: pairs with Atomics.store(SPACE_WANTED, 1) in canPump() (S1); R3 with its store of
    // WANTED_HEAD (S0), which precedes S1. See the header.
    if (Atomics.load(this.control, RING_SPACE_WANTED) !== 0 && ((head - Atomics.load(this.control, RING_WANTED_HEAD)) | 0) >= 0) {
      this.spaceWanted = true;
    }
  }

  /** True when the producer has published nothing that this consumer has not read. */
  isEmpty(): boolean {
    if (this.head !== this.cachedTail) return false;
    // Pairs with Atomics.store(tail) in write()/offer()/pump().
    this.cachedTail = Atomics.load(this.control, RING_TAIL);
    return this.head === this.cachedTail;
  }

  /** The payload at ring position `at`, as a view valid until head moves past it. */
  private view(at: number, length: number): Uint8Array {
    if (length <= SMALL_FRAME) {
      // Payloads start 4-aligned, so copy whole words (padding included) into the scratch.
      let scratch = this.smallScratch;
      if (scratch === null) scratch = this.initSmall();
      const words = this.words;
      const wordMask = this.mask >> 2;
      const first = at >> 2;
      for (let w = 0, n = (length + 3) >> 2; w < n; w++) scratch[w] = words[(first + w) & wordMask];
      return this.smallViews[length];
    }
    if (at + length <= this.capacity) return this.data.subarray(at, at + length);
    if (this.largeScratch.length < length) this.largeScratch = new Uint8Array(Math.max(length, this.largeScratch.length * 2));
    this.copyOut(this.largeScratch, 0, at, length);
    return this.largeScratch.subarray(0, length);
  }

  private initSmall(): Int32Array {
    const scratch = new Int32Array(SMALL_FRAME >> 2);
    const bytes = new Uint8Array(scratch.buffer);
    for (let n = 0; n <= SMALL_FRAME; n++) this.smallViews.push(bytes.subarray(0, n));
    this.smallScratch = scratch;
    return scratch;
  }

  private copyOut(dst: Uint8Array, to: number, at: number, length: number): void {
    const first = this.capacity - at;
    if (length <= first) {
      dst.set(this.data.subarray(at, at + length), to);
    } else {
      dst.set(this.data.subarray(at, this.capacity), to);
      dst.set(this.data.subarray(0, length - first), to + first);
    }
  }
}

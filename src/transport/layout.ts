// Every SharedArrayBuffer region of the transport and the scheduler queues, in one place.
//
// All regions are Int32 words. A word written by one side and read by the other sits alone on its
// own 64-byte cache line (LINE_INTS words), so the producer's stores never invalidate the line the
// consumer spins on, and vice versa. Indices are int32 counters that only grow and wrap at 2^32;
// every difference is taken with `| 0`, which is exact while the distance stays below 2^31
// (capacities are capped at 2^30).
//
// SpscRing (src/transport/ring.ts)                     byte offset
//   line 0   [RING_HEAD]   consumer index              0      written by the consumer only
//   line 1   [RING_TAIL]   producer index              64     written by the producer only
//            [RING_SPACE_WANTED]  1 = the producer waits for space (set by the producer, cleared by
//                          the consumer); on the tail line, which the consumer reads anyway
//            [RING_WANTED_HEAD]   the head index at which the waiting producer can go on
//   data     capacity bytes (power of two ≥ 16)        128
//   A frame is a 4-aligned record: u32 header, payload, zero to three pad bytes. Because records
//   are 4-aligned and the capacity is a multiple of 4, a header never straddles the end of the
//   data region; a payload may, and is then copied in two parts.
//     header = length                      whole frame (flags clear), payload = length bytes
//     header = FRAME_FIRST | length        first chunk of a frame larger than the ring; the next
//                                          word is the total frame length, then length bytes
//     header = FRAME_NEXT  | length        a later chunk; the frame is complete when the chunk
//                                          lengths add up to the total
//
// Doorbell (src/transport/doorbell.ts)
//   line 0   [BELL_AWAKE]     threads not parked (busy or spinning)
//            [BELL_SPINNING]  threads spinning right now (observability, and the spin rule)
//   line 1+t [BELL_STATE]     thread t's park state: BELL_RUNNING / BELL_PARKED / BELL_NOTIFIED
//            [BELL_PARKS]     times thread t parked (it waited in Atomics.wait/waitAsync)
//            [BELL_WAKES]     notifies sent to thread t by producers
//
// Deque (src/scheduler/deque.ts), Chase-Lev
//   line 0   [DEQ_TOP]     next index to steal; thieves and the owner's last-item pop CAS it
//   line 1   [DEQ_BOTTOM]  next index to push; written by the owner only
//   items    capacity int32 slots (power of two ≥ 2)
//
// InjectQueue (src/scheduler/deque.ts), Vyukov bounded MPMC
//   line 0   [INJ_ENQ]     next enqueue position; producers CAS it
//   line 1   [INJ_DEQ]     next dequeue position; consumers CAS it
//   cells    capacity × (sequence, value) int32 pairs (power of two ≥ 2)

/** Int32 words per 64-byte cache line. */
export const LINE_INTS = 16;
export const LINE_BYTES = LINE_INTS * 4;

// --- SpscRing ---------------------------------------------------------------------------------

export const RING_HEAD = 0;
export const RING_TAIL = LINE_INTS;
export const RING_SPACE_WANTED = LINE_INTS + 1;
export const RING_WANTED_HEAD = LINE_INTS + 2;
export const RING_CONTROL_INTS = 2 * LINE_INTS;
export const RING_DATA_OFFSET = RING_CONTROL_INTS * 4;

/** 1 MiB: holds ~50k 16-byte frames, so a producer one scheduler tick ahead never stalls. */
export const RING_DEFAULT_CAPACITY = 1 << 20;
/** The first chunk of an oversized frame needs 8 header bytes plus a payload word. */
export const RING_MIN_CAPACITY = 16;
/** Keeps every index distance far below 2^31 (see the `| 0` note above). */
export const RING_MAX_CAPACITY = 1 << 30;

/** Header flag: first chunk of a chunked frame; the next word holds the total frame length. */
export const FRAME_FIRST = 0x80000000 | 0;
/** Header flag: a later chunk of a chunked frame. */
export const FRAME_NEXT = 0x40000000;
export const FRAME_FLAGS = FRAME_FIRST | FRAME_NEXT;
export const FRAME_LENGTH_MASK = 0x3fffffff;
/** Bytes of a whole frame's header, and of a chunk's header (plus 4 for the first chunk's total). */
export const FRAME_HEADER_BYTES = 4;

/** Bytes a record of `length` payload bytes occupies: header plus the payload padded to 4. */
export function recordBytes(length: number): number {
  return (FRAME_HEADER_BYTES + length + 3) & ~3;
}

export function ringBytes(capacity: number): number {
  return RING_DATA_OFFSET + capacity;
}

// --- Doorbell ---------------------------------------------------------------------------------

export const BELL_AWAKE = 0;
export const BELL_SPINNING = 1;
export const BELL_STATE = 0;
export const BELL_PARKS = 1;
export const BELL_WAKES = 2;

/** Park states of BELL_STATE. */
export const BELL_RUNNING = 0;
export const BELL_PARKED = 1;
export const BELL_NOTIFIED = 2;

/** Int32 index of thread `t`'s line. */
export function bellLine(t: number): number {
  return (t + 1) * LINE_INTS;
}

export function doorbellBytes(threads: number): number {
  return (threads + 1) * LINE_BYTES;
}

// --- Deque ------------------------------------------------------------------------------------

export const DEQ_TOP = 0;
export const DEQ_BOTTOM = LINE_INTS;
export const DEQ_ITEMS = 2 * LINE_INTS;

export function dequeBytes(capacity: number): number {
  return (DEQ_ITEMS + capacity) * 4;
}

// --- InjectQueue ------------------------------------------------------------------------------

export const INJ_ENQ = 0;
export const INJ_DEQ = LINE_INTS;
export const INJ_CELLS = 2 * LINE_INTS;
/** Offsets inside a cell (two int32 words). */
export const CELL_SEQ = 0;
export const CELL_VALUE = 1;

export function injectBytes(capacity: number): number {
  return (INJ_CELLS + 2 * capacity) * 4;
}

/** Queue capacities are powers of two up to 2^30 (indices are masked, distances taken with `| 0`). */
export function checkCapacity(what: string, capacity: number, min: number): void {
  if (!Number.isInteger(capacity) || capacity < min || capacity > RING_MAX_CAPACITY || (capacity & (capacity - 1)) !== 0) {
    throw new RangeError(`${what} capacity must be a power of two in [${min}, 2^30], got ${capacity}`);
  }
}

// --- Task slab (src/scheduler/tasks.ts) ---------------------------------------------------------
//
// Per multi-worker host: the spawn requests that no worker has started yet. A request is the
// codec-encoded descriptor of a spawn (PID, entry, host, watcher, link, context, arguments, home
// worker), written into one fixed-size slot; the run queues carry slot numbers.
//   slot s at byte s × slotBytes:
//     int32  length of the descriptor (plain store by the producer, plain load by the consumer)
//     bytes  the descriptor (length ≤ slotBytes − 4)
// A slot is written only by the thread that took its number off the free list and read only by
// the thread that took its number off a run queue; the queues' atomics order both (see tasks.ts).

/** Bytes per task slot: a descriptor of up to 508 bytes (a spawn with small arguments is ~120). */
export const TASK_SLOT_BYTES = 512;
/** The descriptor length word at the start of a slot. */
export const TASK_LENGTH_BYTES = 4;

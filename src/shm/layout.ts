// Every SharedArrayBuffer region of the runtime, in one place: the offsets, sizes and word
// meanings of the process directory, the rings, the doorbells and the run queues. The main thread
// and every worker import them from here; the classes that operate on a region (Directory beside
// this file, SpscRing and Doorbell in src/transport/, Deque, InjectQueue and TaskQueues in
// src/scheduler/) own its protocol and name the atomics that pair, each at its operation.
//
// May import: nothing (constants and pure functions only), so every side can use it without a
// loop.
//
//   region       one per                          created by                  operated by
//   directory    runtime                          main thread (newDirectory)  shm/directory.ts
//   ring         (sender, receiver) pair that     the sender, on first send   transport/ring.ts
//                talks                            (Endpoint.send)
//   doorbell     runtime (a line per thread id)   main thread (Doorbell.create) transport/doorbell.ts
//   deque        worker of a multi-worker host    main thread (createTaskRegion) scheduler/deque.ts
//   inject queue worker of a multi-worker host,   main thread (createTaskRegion) scheduler/deque.ts
//                host's global queue, free list
//   task slab    multi-worker host                main thread (createTaskRegion) scheduler/tasks.ts
// Every region is sent to the threads that use it once, at start (WorkerInit, src/host/protocol.ts)
// or on the MessagePort of the pair (a ring); nothing is resized or moved afterwards.
//
// Cache lines. All regions but the directory's PID tables are Int32 words. A word written by one
// side and read by the other sits alone on its own 64-byte cache line (LINE_INTS words), so the
// producer's stores never invalidate the line the consumer spins on, and vice versa. Indices are
// int32 counters that only grow and wrap at 2^32; every difference is taken with `| 0`, which is
// exact while the distance stays below 2^31 (capacities are capped at 2^30).

/** Int32 words per 64-byte cache line. */
export const LINE_INTS = 16;
export const LINE_BYTES = LINE_INTS * 4;

// --- Process directory (src/shm/directory.ts) ---------------------------------------------------
//
// Who owns which process id and whether it is alive. Every thread of the runtime (the main thread
// and each host worker) maps the same buffer, so any of them can route a PID to its owner thread,
// and tell a live process from a dead one, without asking anybody.
//
//   Int32 header[16]        (one 64-byte line)
//     [H_NEXT_BLOCK]         next free PID block; Atomics.add by allocating threads
//   Int32 threads[(MAX_THREADS + 1) * 16]   one 64-byte line per thread id (no false sharing):
//     [T_LOAD]               live processes on the thread (placement and the balance rule read it)
//     [T_HEARTBEAT]          steps started; the main thread watches it for stalls, thieves for
//                            a step that lasts (the stuck rule, src/host/placement.ts)
//     [T_BUSY]               1 while the thread is inside a kernel step (thieves read it too)
//     [T_DOWN]               1 once the main thread declared the thread dead (worker recovery,
//                            src/runtime/recovery.ts); 0 again when the id is reused
//     [T_LISTED]             spawns waiting in the worker's Lua-side list (src/lua/kernel/taskq.lua),
//                            as of its last report (at most 64 spawns or starts old): part of
//                            a worker's weight in the balance and offer rules (placement.ts)
//   Uint16 owner[SLOTS]     per PID slot: low byte owner thread id + 1 (0 = unassigned); high byte
//                            runner thread id + 1 when a queued spawn started on a worker other
//                            than its owner (home), else 0 — recovery needs to know which PIDs
//                            died with a worker, and the owner alone does not say where a stolen
//                            process runs. One store at alloc writes both bytes (runner = 0).
//   Int32 alive[SLOTS/32]   one bit per PID slot; set at spawn, cleared at exit
//   Int32 kill[SLOTS/32]    one bit per PID slot: the main thread asks the worker running the
//                            process to end it now, even inside a step (a job's cancel deadline:
//                            src/runtime/jobs.ts). Read by the kernel's budget hook every
//                            HOOK_EVERY instructions (sched.lua), so a loop that never yields is
//                            stopped without taking its worker down. Set and cleared only by the
//                            main thread (cleared when it hears the process's EXIT).
//
// PIDs are allocated in blocks of BLOCK_SIZE ids: a thread takes a whole block with one Atomics.add
// and then hands out ids from it without synchronisation, so a runtime-wide unique counter (every
// PID ever minted differs from every other) costs one atomic per BLOCK_SIZE spawns. PIDs increase
// monotonically per thread; across threads they are unique but interleave by block. The owner is
// recorded per PID, not per block, because a spawn may be placed on another worker of the host
// than the one that allocated its PID (placement: src/host/placement.ts).
//
// The owner and alive tables are rings indexed modulo their size. An id is ambiguous only if a
// process outlives SLOTS (4M) later spawns and its slot is reused; then a send to the long-dead
// id may be routed to the new owner, whose process table (keyed by the full PID string) drops it.

/** Ids per block: 256 spawns per atomic. */
export const BLOCK_SHIFT = 8;
export const BLOCK_SIZE = 1 << BLOCK_SHIFT;
/** PID slots in the alive bitmap (4M ids, 512 KiB). */
export const SLOTS = 1 << 22;

export const HEADER_INTS = LINE_INTS;
export const H_NEXT_BLOCK = 0;

/** Thread ids fit a byte in the owner table: main thread 0, workers 1..MAX_THREADS-1. */
export const MAX_THREADS = 255;
/** Ints per thread line (64 bytes). */
export const THREAD_STRIDE = LINE_INTS;
export const T_LOAD = 0;
export const T_HEARTBEAT = 1;
export const T_BUSY = 2;
export const T_DOWN = 3;
export const T_LISTED = 4;
/** Bits of the runner byte in an owner-table word. */
export const RUNNER_SHIFT = 8;
export const OWNER_MASK = 0xff;

const HEADER_BYTES = HEADER_INTS * 4;
const THREADS_BYTES = (MAX_THREADS + 1) * THREAD_STRIDE * 4;
const OWNER_BYTES = SLOTS * 2;
const ALIVE_BYTES = SLOTS / 8;
const KILL_BYTES = SLOTS / 8;

export const DIRECTORY_BYTES = HEADER_BYTES + THREADS_BYTES + OWNER_BYTES + ALIVE_BYTES + KILL_BYTES;

export interface DirectoryViews {
  header: Int32Array;
  threads: Int32Array;
  owner: Uint16Array;
  alive: Int32Array;
  kill: Int32Array;
}

export function directoryViews(sab: SharedArrayBuffer): DirectoryViews {
  return {
    header: new Int32Array(sab, 0, HEADER_INTS),
    threads: new Int32Array(sab, HEADER_BYTES, (MAX_THREADS + 1) * THREAD_STRIDE),
    owner: new Uint16Array(sab, HEADER_BYTES + THREADS_BYTES, SLOTS),
    alive: new Int32Array(sab, HEADER_BYTES + THREADS_BYTES + OWNER_BYTES, SLOTS / 32),
    kill: new Int32Array(sab, HEADER_BYTES + THREADS_BYTES + OWNER_BYTES + ALIVE_BYTES, SLOTS / 32),
  };
}

export function newDirectory(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(DIRECTORY_BYTES);
  // Block 0 holds uniq 0, which is never handed out (it would print as the zero PID's neighbour).
  // Ordered before every other thread's first Atomics.add by the postMessage that sends the buffer.
  Atomics.store(directoryViews(sab).header, H_NEXT_BLOCK, 0);
  return sab;
}

// --- SpscRing (src/transport/ring.ts) -------------------------------------------------------------
//
//   line 0   [RING_HEAD]   consumer index              byte 0    written by the consumer only
//   line 1   [RING_TAIL]   producer index              byte 64   written by the producer only
//            [RING_SPACE_WANTED]  1 = the producer waits for space (set by the producer, cleared by
//                          the consumer); on the tail line, which the consumer reads anyway
//            [RING_WANTED_HEAD]   the head index at which the waiting producer can go on
//   data     capacity bytes (power of two ≥ 16)        byte 128
//   A frame is a 4-aligned record: u32 header, payload, zero to three pad bytes. Because records
//   are 4-aligned and the capacity is a multiple of 4, a header never straddles the end of the
//   data region; a payload may, and is then copied in two parts.
//     header = length                      whole frame (flags clear), payload = length bytes
//     header = FRAME_FIRST | length        first chunk of a frame larger than the ring; the next
//                                          word is the total frame length, then length bytes
//     header = FRAME_NEXT  | length        a later chunk; the frame is complete when the chunk
//                                          lengths add up to the total

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

// --- Doorbell (src/transport/doorbell.ts) ---------------------------------------------------------
//
//   line 0   [BELL_AWAKE]     threads not parked (busy or spinning)
//            [BELL_SPINNING]  threads spinning right now (observability, and the spin rule)
//            [BELL_CORES]     free cores + 1: the cores other processes leave us, measured by the
//                             main thread (src/transport/freecores.ts); 0 = not measured
//   line 1+t [BELL_STATE]     thread t's park state: BELL_RUNNING / BELL_PARKED / BELL_NOTIFIED
//            [BELL_PARKS]     times thread t parked (it waited in Atomics.wait/waitAsync)
//            [BELL_WAKES]     notifies sent to thread t by producers
//            [BELL_ANNOUNCED] times thread t announced a park (stored PARKED); a park its re-check
//                             cancels is announced but not slept, and a producer may still notify it
// The runtime sizes it for every thread id (MAX_THREADS), so replacement workers fit.

export const BELL_AWAKE = 0;
export const BELL_SPINNING = 1;
export const BELL_CORES = 2;
export const BELL_STATE = 0;
export const BELL_PARKS = 1;
export const BELL_WAKES = 2;
export const BELL_ANNOUNCED = 3;

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

// --- Deque (src/scheduler/deque.ts), Chase-Lev ----------------------------------------------------
//
//   line 0   [DEQ_TOP]     next index to steal; thieves and the owner's last-item pop CAS it
//   line 1   [DEQ_BOTTOM]  next index to push; written by the owner only
//   items    capacity int32 slots (power of two ≥ 2)

export const DEQ_TOP = 0;
export const DEQ_BOTTOM = LINE_INTS;
export const DEQ_ITEMS = 2 * LINE_INTS;

export function dequeBytes(capacity: number): number {
  return (DEQ_ITEMS + capacity) * 4;
}

// --- InjectQueue (src/scheduler/deque.ts), Vyukov bounded MPMC -------------------------------------
//
//   line 0   [INJ_ENQ]     next enqueue position; producers CAS it
//   line 1   [INJ_DEQ]     next dequeue position; consumers CAS it
//   cells    capacity × (sequence, value) int32 pairs (power of two ≥ 2)

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
// worker), written into one fixed-size slot; the run queues (a deque and an inject queue per
// worker, a global inject queue per host, and an inject queue of free slot numbers) carry slot
// numbers.
//   slot s at byte s × slotBytes:
//     int32  length of the descriptor (plain store by the producer, plain load by the consumer)
//     bytes  the descriptor (length ≤ slotBytes − 4)
// A slot is written only by the thread that took its number off the free list and read only by
// the thread that took its number off a run queue; the queues' atomics order both (see tasks.ts).

/** Bytes per task slot: a descriptor of up to 508 bytes (a spawn with small arguments is ~120). */
export const TASK_SLOT_BYTES = 512;
/** The descriptor length word at the start of a slot. */
export const TASK_LENGTH_BYTES = 4;

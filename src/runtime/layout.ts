// Every SharedArrayBuffer region of the runtime, in one place.
//
// The process directory: who owns which process id and whether it is alive. Every thread of the
// runtime (the main thread and each host worker) maps the same buffer, so any of them can route a
// PID to its owner thread, and tell a live process from a dead one, without asking anybody.
//
//   Int32 header[16]        (one 64-byte line)
//     [NEXT_BLOCK]           next free PID block; Atomics.add by allocating threads
//   Int32 threads[MAX_THREADS * 16]   one 64-byte line per thread id (no false sharing):
//     [T_LOAD]               live processes on the thread (placement and the balance rule read it)
//     [T_HEARTBEAT]          steps started; the main thread watches it for stalls, thieves for
//                            a step that lasts (the busy rule)
//     [T_BUSY]               1 while the thread is inside a kernel step (thieves read it too:
//                            the busy rule, src/host/worker.ts)
//     [T_DOWN]               1 once the main thread declared the thread dead (worker recovery,
//                            src/runtime/recovery.ts); 0 again when the id is reused
//   Uint16 owner[SLOTS]     per PID slot: low byte owner thread id + 1 (0 = unassigned); high byte
//                            runner thread id + 1 when a queued spawn started on a worker other
//                            than its owner (home), else 0 — recovery needs to know which PIDs
//                            died with a worker, and the owner alone does not say where a stolen
//                            process runs. One store at alloc writes both bytes (runner = 0).
//   Int32 alive[SLOTS/32]   one bit per PID slot; set at spawn, cleared at exit
//
// PIDs are allocated in blocks of BLOCK_SIZE ids: a thread takes a whole block with one Atomics.add
// and then hands out ids from it without synchronisation, so the unique runtime-wide counter of
// the semantics (§1.2) costs one atomic per BLOCK_SIZE spawns. PIDs increase monotonically per
// thread; across threads they are unique but interleave by block. The owner is recorded per PID,
// not per block, because a spawn may be placed on another worker of the host than the one that
// allocated its PID (placement: src/host/worker.ts).
//
// The owner and alive tables are rings indexed modulo their size. An id is ambiguous only if a
// process outlives SLOTS (4M) later spawns and its slot is reused; then a send to the long-dead
// id may be routed to the new owner, whose process table (keyed by the full PID string) drops it.

/** Ids per block: 256 spawns per atomic. */
export const BLOCK_SHIFT = 8;
export const BLOCK_SIZE = 1 << BLOCK_SHIFT;
/** PID slots in the alive bitmap (4M ids, 512 KiB). */
export const SLOTS = 1 << 22;

export const HEADER_INTS = 16;
export const H_NEXT_BLOCK = 0;

/** Thread ids fit a byte in the owner table: main thread 0, workers 1..MAX_THREADS-1. */
export const MAX_THREADS = 255;
/** Ints per thread line (64 bytes). */
export const THREAD_STRIDE = 16;
export const T_LOAD = 0;
export const T_HEARTBEAT = 1;
export const T_BUSY = 2;
export const T_DOWN = 3;
/** Bits of the runner byte in an owner-table word. */
export const RUNNER_SHIFT = 8;
export const OWNER_MASK = 0xff;

const HEADER_BYTES = HEADER_INTS * 4;
const THREADS_BYTES = (MAX_THREADS + 1) * THREAD_STRIDE * 4;
const OWNER_BYTES = SLOTS * 2;
const ALIVE_BYTES = SLOTS / 8;

export const DIRECTORY_BYTES = HEADER_BYTES + THREADS_BYTES + OWNER_BYTES + ALIVE_BYTES;

export interface DirectoryViews {
  header: Int32Array;
  threads: Int32Array;
  owner: Uint16Array;
  alive: Int32Array;
}

export function directoryViews(sab: SharedArrayBuffer): DirectoryViews {
  return {
    header: new Int32Array(sab, 0, HEADER_INTS),
    threads: new Int32Array(sab, HEADER_BYTES, (MAX_THREADS + 1) * THREAD_STRIDE),
    owner: new Uint16Array(sab, HEADER_BYTES + THREADS_BYTES, SLOTS),
    alive: new Int32Array(sab, HEADER_BYTES + THREADS_BYTES + OWNER_BYTES, SLOTS / 32),
  };
}

export function newDirectory(): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(DIRECTORY_BYTES);
  // Block 0 holds uniq 0, which is never handed out (it would print as the zero PID's neighbour).
  Atomics.store(directoryViews(sab).header, H_NEXT_BLOCK, 0);
  return sab;
}

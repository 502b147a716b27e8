// Messages between the main thread and host workers that are not process frames: what a worker
// boots with (WorkerInit, its workerData) and the control messages on the parent port (and the
// "ring" handover and "down" report on the port of each pair of threads).
// Process frames (messages, events, spawn requests, replies, ...) are codec-encoded batches in the
// shared-memory rings (src/transport/endpoint.ts); their kinds and fields are specified once in
// src/wire/spec.ts (docs/design/protocol.md has the tables).
import type { MessagePort } from 'node:worker_threads';
import type { TaskRegion } from '../scheduler/tasks.js';

export interface WorkerInit {
  /** This thread's id in the runtime (0 is the main thread). */
  tid: number;
  /** Registry id of the host this worker belongs to. */
  host: string;
  /** The shared process directory (src/shm/layout.ts). */
  directory: SharedArrayBuffer;
  /** Codec-encoded kernel config: { tid, host, hosts = { [id] = { kind, tids } } }. */
  cfg: Uint8Array;
  /** Codec-encoded Lua entries: { [id] = { kind, source, method, modules, imports, file } }. */
  entries: Uint8Array;
  /** Thread ids of this worker's host (spawn placement chooses among them). */
  hostTids: number[];
  /** The doorbell region of all threads (src/transport/doorbell.ts). */
  doorbell: SharedArrayBuffer;
  /** The host's run queues (src/scheduler/tasks.ts); absent on a single-worker host. */
  tasks?: TaskRegion;
  /** One port per peer thread id: ring handovers (src/transport/endpoint.ts). */
  ports: Record<number, MessagePort>;
}

/** A worker started after this one: its port, and its place in `host` (index in hostTids). */
export interface PeerInfo { tid: number; host: string; index: number; port: MessagePort }

/** Test-only faults a worker can be told to have (Runtime.testFault). */
export type TestFault = 'throw' | 'abort' | 'exit' | 'wedge';

export type ControlToWorker =
  | { type: 'shutdown'; graceMs: number }
  // `table`: include the process table, the `limit` first by `sort` (src/lua/kernel/ptable.lua);
  // `quick`: the Lua heap as it is, without the two full collections before measuring it.
  | { type: 'stats'; collect?: boolean; quick?: boolean; counts?: boolean; table?: { limit: number; sort: string } }
  // Which processes are still alive (up to `limit`): the shutdown progress (src/runtime/shutdown.ts).
  | { type: 'live'; limit: number }
  // Worker recovery (src/runtime/recovery.ts): thread `tid` is dead; read its ring one last time,
  // drop it, and hand the kernel {"wdown", tid, message}; answer 'wdown-done' after that step.
  // `peer`: its replacement, in the same message so that no step sees the host without it.
  | { type: 'wdown'; tid: number; message: string; peer?: PeerInfo }
  | { type: 'test'; fault: TestFault };

export type ControlFromWorker =
  | { type: 'ready' }
  | { type: 'fatal'; message: string }
  | { type: 'wdown-done'; tid: number }
  | { type: 'live'; count: number; procs: Array<[pid: string, entry: string]> }
  | { type: 'stats'; processes: number; heapBytes: number; jsHeapBytes: number; wasmBytes: number; queue: QueueCounters;
      /** Frames waiting for room in this worker's full outgoing rings. */
      ringBacklog: number;
      mailbox: MailboxStats;
      /** Processes started on it since it booted, and messages delivered to its processes. */
      started: number; delivered: number;
      /** When asked: the codec-encoded list of "prow" records (src/wire/spec.ts). */
      rows?: Uint8Array;
      /** Frames this worker has posted since it started, by destination thread id (0 = main). */
      sent: Record<number, number> };

/**
 * A worker's report that it has shut down: no process left, nothing queued, every frame in a
 * ring. Sent on the port to the main thread, not the parent port: a ring the worker created for
 * the main thread in its last steps is handed over on that port, and messages on one port arrive
 * in order, so the main thread has attached every ring before it reads "down" and drains.
 */
export interface DownReport { type: 'down' }

/** Unread mailbox messages on one worker (src/lua/kernel/mailbox.lua counts them). */
export interface MailboxStats {
  /** Messages waiting, unread, in the mailboxes of all its processes. */
  unread: number;
  /** The largest mailbox: its unread messages and its PID (absent when every mailbox is empty). */
  largest: number;
  largestPid?: string;
}

/** What a worker took off its host's run queues (src/scheduler/tasks.ts). */
export interface QueueCounters {
  /** Spawns it queued (its Lua-side list included). */
  pushed: number;
  /**
   * Queued spawns it started from its own deque and inject queue (stolen ones included) and from
   * its Lua-side list.
   */
  own: number;
  /** Queued spawns it started from the host's global queue. */
  global: number;
  /** Queued spawns it moved from siblings' queues to its own deque. */
  stolen: number;
  /**
   * Queued spawns it handed to a sibling's inject queue: the sharing rule (a resume computing
   * while spawns wait, src/host/placement.ts), or placement when its own queues were full.
   */
  shared: number;
  /**
   * Queued spawns that stayed in its kernel's Lua-side list (src/lua/kernel/taskq.lua): never
   * encoded nor copied into shared memory (counted in `pushed` too).
   */
  kept: number;
  /**
   * Spawns of its Lua-side list it published and took back itself, started from the record it
   * kept: no copy out of the slot, no decode (src/scheduler/tasks.ts; counted in `own` too).
   */
  back: number;
}

// Runtime.stats(): what each worker reports about itself when asked (processes, heaps, run-queue
// counters, ring backlog, mailboxes), gathered on the main thread.
//
// Owns: the stats requests waiting for a worker's answer. May call: the worker's control port
// (src/host/protocol.ts 'stats' both ways). A worker that dies before answering is answered for
// with zeros (Runtime.workerDown calls gone()), so stats() never hangs on a dead worker.
import type { Worker } from 'node:worker_threads';
import type { ControlFromWorker, ControlToWorker, MailboxStats, QueueCounters } from '../host/protocol.js';

/** One worker thread in Runtime.stats(). */
export interface WorkerStats {
  tid: number;
  host: string;
  processes: number;
  heapBytes: number;
  /** The worker's JavaScript heap in use (its V8 isolate: the kernel's glue, rings, batches). */
  jsHeapBytes: number;
  /** The worker's wasm linear memory (the Lua state's address space: grows, never shrinks). */
  wasmBytes: number;
  queue: QueueCounters;
  /** Frames waiting for room in the worker's full outgoing rings (0 when nothing is backed up). */
  ringBacklog: number;
  /** Unread messages in its processes' mailboxes, and the largest mailbox with its PID. */
  mailbox: MailboxStats;
  /**
   * Frames it has posted since it started, by destination thread id (0 = the main thread; its own
   * tid: frames to itself): which threads talk, e.g. whether a group of processes stayed together.
   */
  sent: Record<number, number>;
}

type StatsAnswer = Extract<ControlFromWorker, { type: 'stats' }>;

const NOTHING: StatsAnswer = { type: 'stats', processes: 0, heapBytes: 0, jsHeapBytes: 0, wasmBytes: 0,
  queue: { pushed: 0, own: 0, global: 0, stolen: 0, shared: 0 }, ringBacklog: 0, mailbox: { unread: 0, largest: 0 }, sent: {} };

export class StatsRequests {
  /** Per worker thread id: the stats() calls waiting for its answer, in order. */
  private readonly waiting = new Map<number, Array<(m: StatsAnswer) => void>>();

  /** Ask worker `th` (`collect`: a full JS collection first, when available). */
  ask(th: { tid: number; host: string; worker: Worker }, collect: boolean | undefined): Promise<WorkerStats> {
    return new Promise<WorkerStats>((resolve) => {
      let list = this.waiting.get(th.tid);
      if (!list) { list = []; this.waiting.set(th.tid, list); }
      list.push((m) => resolve({ tid: th.tid, host: th.host, processes: m.processes, heapBytes: m.heapBytes,
        jsHeapBytes: m.jsHeapBytes, wasmBytes: m.wasmBytes, queue: m.queue, ringBacklog: m.ringBacklog, mailbox: m.mailbox, sent: m.sent }));
      th.worker.postMessage({ type: 'stats', collect } satisfies ControlToWorker);
    });
  }

  /** Worker `tid`'s answer. */
  answer(tid: number, m: StatsAnswer): void {
    const list = this.waiting.get(tid);
    const next = list?.shift();
    if (list && list.length === 0) this.waiting.delete(tid);
    next?.(m);
  }

  /** Worker `tid` died: whoever waits for it gets zeros. */
  gone(tid: number): void {
    const list = this.waiting.get(tid);
    this.waiting.delete(tid);
    for (const r of list ?? []) r(NOTHING);
  }
}

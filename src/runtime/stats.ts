// Runtime.stats(): what each worker reports about itself when asked (processes, heaps, run-queue
// counters, ring backlog, mailboxes, processes started and messages delivered, and on request its
// process table: src/lua/kernel/ptable.lua), gathered on the main thread.
//
// Owns: the stats requests waiting for a worker's answer. May call: the worker's control port
// (src/host/protocol.ts 'stats' both ways). A worker that dies before answering is answered for
// with zeros (Runtime.workerDown calls gone()), so stats() never hangs on a dead worker.
import type { Worker } from 'node:worker_threads';
import type { ControlFromWorker, ControlToWorker, MailboxStats, QueueCounters } from '../host/protocol.js';
import { decodeValue } from '../codec/msgpack.js';
import { asRecord, R } from '../wire/frames.js';

/** One process in a worker's process table (the "prow" record of src/wire/spec.ts). */
export interface ProcessRow {
  pid: string;
  entry: string;
  /** Its first registered name in sort order, "" when it has none. */
  name: string;
  host: string;
  /** The worker thread it runs on. */
  tid: number;
  /** "run": runnable; "wait": every thread parked. */
  status: string;
  /** Times the scheduler resumed it (scheduling turns: `wippy top`'s reductions). */
  runs: number;
  /** Milliseconds its resumes took. */
  cpuMs: number;
  /** The Lua heap's growth over its resumes, in bytes (an estimate: one Lua state holds the worker's processes). */
  heapBytes: number;
  /** Mailbox records received (messages and lifecycle events). */
  received: number;
  /** Messages sent. */
  sent: number;
  /** Unread mailbox records. */
  unread: number;
  /** Its threads (coroutines). */
  threads: number;
  /** Start time, wall-clock milliseconds. */
  startedAt: number;
}

/** The process table sort keys (src/lua/kernel/ptable.lua). */
export const ROW_SORT_KEYS = ['cpu', 'runs', 'heap', 'received', 'sent', 'unread'] as const;
export type RowSortKey = (typeof ROW_SORT_KEYS)[number];

/** What stats() asks each worker for. */
export interface StatsOptions {
  /** A full JS collection in each worker first, when available (leak checks). */
  collect?: boolean;
  /** The Lua heap as it is, without the two full collections before measuring it (live views). */
  quick?: boolean;
  /**
   * Only what the worker counts anyway (processes, started, delivered, queue and ring counters,
   * frames sent, heaps as with `quick`): the mailbox sizes, which walk every process of the
   * worker, are reported as empty. For polls while many processes start (a walk of 5,000-10,000
   * processes costs a worker a few ms per poll).
   */
  counts?: boolean;
  /** Include each worker's process table: its `limit` first processes by `sort` (limit 0: all). */
  table?: { limit: number; sort: RowSortKey };
}

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
  /** Processes started on it since it booted (exited: started - processes). */
  started: number;
  /** Messages delivered to its processes since it booted. */
  delivered: number;
  /** Its process table, when asked for (StatsOptions.table). */
  table?: ProcessRow[];
  /**
   * Frames it has posted since it started, by destination thread id (0 = the main thread; its own
   * tid: frames to itself): which threads talk, e.g. whether a group of processes stayed together.
   */
  sent: Record<number, number>;
}

type StatsAnswer = Extract<ControlFromWorker, { type: 'stats' }>;

const NOTHING: StatsAnswer = { type: 'stats', processes: 0, heapBytes: 0, jsHeapBytes: 0, wasmBytes: 0,
  queue: { pushed: 0, own: 0, global: 0, stolen: 0, shared: 0, kept: 0, back: 0 }, ringBacklog: 0, mailbox: { unread: 0, largest: 0 }, started: 0, delivered: 0, sent: {} };

export class StatsRequests {
  /** Per worker thread id: the stats() calls waiting for its answer, in order. */
  private readonly waiting = new Map<number, Array<(m: StatsAnswer) => void>>();

  /** Ask worker `th`. */
  ask(th: { tid: number; host: string; worker: Worker }, opts: StatsOptions): Promise<WorkerStats> {
    return new Promise<WorkerStats>((resolve) => {
      let list = this.waiting.get(th.tid);
      if (!list) { list = []; this.waiting.set(th.tid, list); }
      list.push((m) => {
        const s: WorkerStats = { tid: th.tid, host: th.host, processes: m.processes, heapBytes: m.heapBytes,
          jsHeapBytes: m.jsHeapBytes, wasmBytes: m.wasmBytes, queue: m.queue, ringBacklog: m.ringBacklog, mailbox: m.mailbox,
          started: m.started, delivered: m.delivered, sent: m.sent };
        if (opts.table) s.table = m.rows ? decodeRows(m.rows) : [];
        resolve(s);
      });
      th.worker.postMessage({ type: 'stats', collect: opts.collect, quick: opts.quick || opts.counts, counts: opts.counts, table: opts.table } satisfies ControlToWorker);
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

/** A worker's encoded process table (a list of "prow" records; an empty list may decode as a map). */
export function decodeRows(bytes: Uint8Array): ProcessRow[] {
  const list = decodeValue(bytes);
  const items = Array.isArray(list) ? list : list && typeof list === 'object' ? Object.values(list) : [];
  const P = R.prow;
  const out: ProcessRow[] = [];
  for (const raw of items) {
    const r = asRecord<'prow'>(raw);
    if (!r) continue;
    out.push({ pid: r[P.pid], entry: r[P.entry], name: r[P.name], host: r[P.host], tid: r[P.tid], status: r[P.status],
      runs: r[P.runs], cpuMs: r[P.cpu_ms], heapBytes: r[P.heap], received: r[P.received], sent: r[P.sent],
      unread: r[P.unread], threads: r[P.threads], startedAt: Math.round(r[P.started] * 1000) });
  }
  return out;
}

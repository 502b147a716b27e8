// One view of a running app: what `wippy stats`, `wippy ps`, `wippy top` and the Prometheus
// endpoint show. Built on the main thread of `wippy run` from the runtime's own reports.
//
// Owns: the Snapshot shape (the `--json` output of stats / ps, and what the control socket
// answers), the rates (messages/s, spawns/s: differences between two samples), and the main
// thread's event-loop figures. May call: Runtime.stats (each worker answers on its control port:
// src/runtime/stats.ts), Runtime.queueDepths, Runtime.workerTids, the supervisor's status(), and
// perf_hooks. Nothing here runs on a worker: a worker's figures come from its kernel
// (src/lua/kernel/ptable.lua) through the 'stats' control message.
//
// Rates. A rate is the change of a worker's counters (messages delivered, processes started)
// between the baseline sample and now, divided by the time between them. The baseline moves to
// the new sample once it is at least MIN_RATE_MS old, so two clients polling at once do not
// shrink the interval to nothing; between moves the last rates are reported again. A background
// sample every BACKGROUND_MS (an unref'd timer: it never keeps Node alive) gives a one-shot
// `wippy stats` a baseline at most that old. Each sample is one control message per worker, with
// the Lua heap read as it is (no full collection: `quick`).
//
// Alternatives rejected: rates computed by the client (top) alone: `wippy stats` is one request
// and would have none; a sampler per second whether or not anyone looks: a cost for every app.
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { Runtime, WorkerStats, ProcessRow } from '../runtime/runtime.js';
import type { RowSortKey } from '../runtime/stats.js';
import type { ServiceStatus } from '../runtime/services.js';
import type { JobStats } from '../runtime/jobs.js';

/** Schema version of the snapshot (the `--json` output): bumped when a field changes meaning. */
export const SNAPSHOT_VERSION = 1;
const MIN_RATE_MS = 500;
const BACKGROUND_MS = 5000;
/**
 * The event-loop delay monitor's sampling interval. It records the time between its timer's
 * ticks, so a loop that is never late reads this much: it is subtracted to give the delay.
 */
const LOOP_RESOLUTION_MS = 10;

export interface WorkerView {
  tid: number;
  host: string;
  processes: number;
  /** Processes started on it since it booted, and exited (started - live). */
  started: number;
  exited: number;
  /** Messages delivered to its processes since it booted. */
  delivered: number;
  messagesPerSec: number;
  spawnsPerSec: number;
  /** Unread mailbox records of its processes; the largest mailbox and its PID. */
  unread: number;
  largestMailbox: number;
  largestMailboxPid?: string;
  /** Spawns waiting on its run queues (deque + inject queue; 0 on a single-worker host). */
  queued: number;
  /** Run-queue counters: spawns it queued, took from its own queues, from the global queue, stole. */
  queue: { pushed: number; own: number; global: number; stolen: number };
  /** Frames waiting for room in its full outgoing rings. */
  ringBacklog: number;
  luaHeapBytes: number;
  wasmBytes: number;
  jsHeapBytes: number;
}

export interface HostView {
  id: string;
  kind: string;
  workers: number[];
  processes: number;
  /** Spawns waiting on the host's global run queue. */
  globalQueue: number;
}

export interface ServiceView {
  id: string;
  state: string;
  pid?: string;
  restarts: number;
  lastError?: string;
}

export interface Snapshot {
  version: number;
  /** Wall-clock milliseconds when it was taken. */
  at: number;
  app: string;
  /** The `wippy run` process. */
  pid: number;
  node: string;
  uptimeSec: number;
  totals: { processes: number; started: number; exited: number; delivered: number; messagesPerSec: number;
    spawnsPerSec: number; unread: number; queued: number };
  hosts: HostView[];
  workers: WorkerView[];
  services: ServiceView[];
  /** The main thread's event loop since the previous baseline: delay percentiles and utilization. */
  eventLoop: { delayP50Ms: number; delayP99Ms: number; delayMaxMs: number; utilization: number };
  /** The job runner's figures (rt.exec / rt.submit from the daemon's own code; src/runtime/jobs.ts). */
  jobs: JobStats;
  /** When asked: the first processes of every worker by the sort key, merged and cut to the limit. */
  processes?: ProcessRow[];
  sort?: RowSortKey;
}

/** The supervisor as the snapshot sees it (src/runtime/services.ts Supervisor). */
export interface ServiceSource { status(): ServiceStatus[] }

interface Sample { at: number; delivered: Map<number, number>; started: Map<number, number> }

const ROW_KEY: Record<RowSortKey, (r: ProcessRow) => number> = {
  cpu: (r) => r.cpuMs, runs: (r) => r.runs, heap: (r) => r.heapBytes,
  received: (r) => r.received, sent: (r) => r.sent, unread: (r) => r.unread,
};

/** Processes merged from several workers: by `sort` descending, then PID (as each worker ranks them). */
export function rankRows(rows: ProcessRow[], sort: RowSortKey, limit: number): ProcessRow[] {
  const key = ROW_KEY[sort];
  rows.sort((a, b) => key(b) - key(a) || (a.pid < b.pid ? -1 : a.pid > b.pid ? 1 : 0));
  return limit > 0 ? rows.slice(0, limit) : rows;
}

export class Sampler {
  private base: Sample | undefined;
  private rates = new Map<number, { msg: number; spawn: number }>();
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  private elu: EventLoopUtilization = performance.eventLoopUtilization();
  private loop = { delayP50Ms: 0, delayP99Ms: 0, delayMaxMs: 0, utilization: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private readonly rt: Runtime;
  private readonly services: () => ServiceSource | undefined;

  constructor(rt: Runtime, services: () => ServiceSource | undefined) {
    this.rt = rt;
    this.services = services;
    this.delay.enable();
    this.timer = setInterval(() => { void this.snapshot().catch(() => { /* stopping: next one */ }); }, BACKGROUND_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.delay.disable();
  }

  /** A snapshot; with `table`, each worker's first `limit` processes by `sort` (0: all). */
  async snapshot(table?: { limit: number; sort: RowSortKey }): Promise<Snapshot> {
    const stats = await this.rt.stats({ quick: true, table });
    const now = Date.now();
    this.advance(stats, now);
    const workers = stats.map((w) => this.worker(w));
    const depths = this.rt.queueDepths();
    for (const w of workers) {
      const d = depths[w.host];
      const i = this.rt.workerTids(w.host).indexOf(w.tid);
      w.queued = d && i >= 0 ? d.workers[i] ?? 0 : 0;
    }
    const hosts: HostView[] = this.rt.registry.hosts().map((h) => ({
      id: h.id, kind: h.kind, workers: this.rt.workerTids(h.id),
      processes: workers.filter((w) => w.host === h.id).reduce((n, w) => n + w.processes, 0),
      globalQueue: depths[h.id]?.global ?? 0,
    }));
    const sum = (f: (w: WorkerView) => number) => workers.reduce((n, w) => n + f(w), 0);
    const snap: Snapshot = {
      version: SNAPSHOT_VERSION, at: now, app: this.rt.registry.root, pid: process.pid, node: process.version,
      uptimeSec: Math.round((now - this.startedAt) / 1000),
      totals: { processes: sum((w) => w.processes), started: sum((w) => w.started), exited: sum((w) => w.exited),
        delivered: sum((w) => w.delivered), messagesPerSec: sum((w) => w.messagesPerSec), spawnsPerSec: sum((w) => w.spawnsPerSec),
        unread: sum((w) => w.unread), queued: sum((w) => w.queued) + hosts.reduce((n, h) => n + h.globalQueue, 0) },
      hosts, workers,
      // a PID only while the service's process lives (the supervisor keeps the last one)
      services: (this.services()?.status() ?? []).map((s) => ({ id: s.id, state: s.state,
        pid: s.state === 'running' || s.state === 'stopping' ? s.pid : undefined, restarts: s.restarts, lastError: s.lastError })),
      eventLoop: { ...this.loop },
      jobs: stats.jobs,
    };
    if (table) {
      snap.sort = table.sort;
      snap.processes = rankRows(stats.flatMap((w) => w.table ?? []), table.sort, table.limit);
    }
    return snap;
  }

  /** Move the baseline when it is old enough; recompute the rates and the event-loop figures then. */
  private advance(stats: WorkerStats[], now: number): void {
    const cur: Sample = { at: now, delivered: new Map(stats.map((w) => [w.tid, w.delivered])),
      started: new Map(stats.map((w) => [w.tid, w.started])) };
    const base = this.base;
    if (base && now - base.at < MIN_RATE_MS) return;
    if (!base) this.loop = this.loopFigures(false); // the first sample: the loop since start
    else {
      const secs = (now - base.at) / 1000;
      this.rates = new Map();
      for (const w of stats) {
        // a worker that was replaced since has no baseline: its counters start at its boot
        const d0 = base.delivered.get(w.tid) ?? 0;
        const s0 = base.started.get(w.tid) ?? 0;
        this.rates.set(w.tid, { msg: Math.max(0, w.delivered - d0) / secs, spawn: Math.max(0, w.started - s0) / secs });
      }
      this.loop = this.loopFigures(true);
    }
    this.base = cur;
  }

  /** The main thread's event loop since the last reset (and, with `reset`, start the next period). */
  private loopFigures(reset: boolean): Snapshot['eventLoop'] {
    const late = (ns: number) => (this.delay.count > 0 ? round2(Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS)) : 0);
    const out = { delayP50Ms: late(this.delay.percentile(50)), delayP99Ms: late(this.delay.percentile(99)),
      delayMaxMs: late(this.delay.max), utilization: round2(performance.eventLoopUtilization(this.elu).utilization) };
    if (reset) {
      this.delay.reset();
      this.elu = performance.eventLoopUtilization();
    }
    return out;
  }

  private worker(w: WorkerStats): WorkerView {
    const r = this.rates.get(w.tid);
    return {
      tid: w.tid, host: w.host, processes: w.processes, started: w.started, exited: Math.max(0, w.started - w.processes),
      delivered: w.delivered, messagesPerSec: round2(r?.msg ?? 0), spawnsPerSec: round2(r?.spawn ?? 0),
      unread: w.mailbox.unread, largestMailbox: w.mailbox.largest, largestMailboxPid: w.mailbox.largestPid,
      queued: 0, queue: w.queue, ringBacklog: w.ringBacklog, luaHeapBytes: w.heapBytes, wasmBytes: w.wasmBytes,
      jsHeapBytes: w.jsHeapBytes,
    };
  }
}

function round2(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 100) / 100 : 0;
}

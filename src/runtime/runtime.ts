// The runtime on the main thread: it owns the registry, starts the hosts' worker threads, wires
// every pair of threads with its own ordered channel, serves the name registry, and is the
// `node:control` endpoint through which the embedding API and the CLI spawn, exec and watch.
//
// Size. Over the ~500-line guideline (~900 lines): worker recovery (onWorkerDeath and the
// replacement start) uses most of the runtime's private state (threads, ports, names, watchers,
// pending replies), so it lives here; the protocol and its helpers (thread-id pool, stall watch)
// are in recovery.ts. The name registry and the frame handlers are the next to move out.
//
// Threads. Thread id 0 is the main thread; host workers get ids 1..N in registry order. Every
// pair of threads gets one MessageChannel, created at start (or when a replacement worker starts),
// so each sender's frames reach each receiver in order and a message never detours through a
// third thread. The main thread never runs Lua.
//
// Names. `process.registry` names are served here (register / lookup / unregister arrive as rpc
// frames), so they are unique across all hosts and workers. A worker also caches the names its
// own processes hold, which makes local lookups free. A process's names are released when its
// worker reports the exit ("x" frame), which the worker sends before the EXIT events.
//
// Workers. A worker that dies or stalls is replaced (src/runtime/recovery.ts has the protocol);
// the runtime emits 'worker-down' (WorkerDown) when it has handled the death and 'worker-up' when
// the replacement is ready. Thread ids of replacements are fresh (or reused after quarantine), so
// a host's worker list changes; workerTids() and where() tell what runs where.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { relative } from 'node:path';
import { EventEmitter } from 'node:events';
import { encodeValue, decodeFrames, WippyError } from '../codec/msgpack.js';
import { MAX_THREADS, newDirectory } from './layout.js';
import { StallWatch, TidPool, deathMessage } from './recovery.js';
import { Endpoint, type RingHandover } from '../transport/endpoint.js';
import { Doorbell } from '../transport/doorbell.js';
import { TaskQueues, createTaskRegion, type TaskRegion } from '../scheduler/tasks.js';
import { Directory } from './directory.js';
import { formatPid, parsePid } from './pid.js';
import type { Registry } from '../registry/registry.js';
import type { HostEntry, LuaEntry } from '../registry/types.js';
import type { ControlFromWorker, ControlToWorker, MailboxStats, QueueCounters, TestFault, WorkerInit } from '../host/protocol.js';
import { pino, type Logger } from 'pino';
import { EnvService } from './env.js';
import { writeProcessLog } from './proclog.js';
import { EventBus } from './events.js';

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
}

const WORKER_URL = new URL('../host/worker.js', import.meta.url);
const CONTROL_HOST = 'node:control';
/** How long processes get to react to the shutdown CANCEL before they are killed (semantics §5). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/** What a process exit looks like from JS: the EXIT event's result. */
export interface ExitInfo {
  pid: string;
  value?: unknown;
  error?: WippyError;
}

interface HostThread {
  tid: number;
  host: string;
  /** Index in the host's worker list (and its run queues). */
  index: number;
  worker: Worker;
  port: MessagePort;
  down: Promise<void>;
  markDown: () => void;
  ready: boolean;
  /** Why it died: the 'error' event's or kernel fault's message. */
  reason?: string;
  /** Set when the stall watchdog terminated it: the stall. */
  stalled?: string;
  /** stop() terminates it: its exit is not a death. */
  expectedExit?: boolean;
}

interface PendingReply { resolve: (v: [unknown, unknown]) => void; tid: number }

/** A dead worker, as the 'worker-down' event reports it (src/runtime/recovery.ts). */
export interface WorkerDown {
  tid: number;
  host: string;
  /** The error message its processes exited with ("worker crashed: …" / "worker stalled: …"). */
  message: string;
  /** PIDs that died with it (alive bits the directory scan cleared). */
  processes: number;
  /** Time of the directory scan, ms. */
  scanMs: number;
  /** The replacement's thread id, if one was started. */
  replacement?: number;
}

export interface RuntimeOptions {
  logger?: Logger;
  /** Override every process.host's worker count (tests use 1 or 2). */
  workers?: number;
  /** Where terminal output goes (defaults to the process's stdout/stderr). */
  write?: (fd: number, bytes: Uint8Array) => void;
  /** Forward this process's stdin to the terminal host (CLI commands). */
  stdin?: boolean;
}

export class Runtime extends EventEmitter {
  readonly registry: Registry;
  private readonly opts: RuntimeOptions;
  private readonly directorySab = newDirectory();
  private readonly dir = new Directory(this.directorySab, 0);
  private threads: HostThread[] = [];
  /** Per host: its workers' thread ids, index-aligned with its run queues (a dead one stays until replaced). */
  private readonly hostTids = new Map<string, number[]>();
  private readonly rr = new Map<string, number>();
  private readonly replies = new Map<number, PendingReply>();
  private reqSeq = 0;
  /** Registrations waiting for the holder's worker to take the name ("nown" -> "nok"). */
  private readonly nameOwners = new Map<number, { owner: number; done: () => void }>();
  private readonly watchers = new Map<string, (e: ExitInfo) => void>();
  /** Control PID of a watcher -> the PID it watches (a dead worker's watchers are failed). */
  private readonly watchTargets = new Map<string, string>();
  private readonly names = new Map<string, string>();
  private readonly pidNames = new Map<string, Set<string>>();
  private readonly outgoing = new Map<number, Uint8Array[]>();
  private flushScheduled = false;
  private doorbellSab: SharedArrayBuffer | undefined;
  private readonly mainPorts = new Map<number, MessagePort>();
  /** The main thread's view of each multi-worker host's run queues (it only pushes globally). */
  private readonly taskQueues = new Map<string, TaskQueues>();
  private readonly regions = new Map<string, TaskRegion>();
  private entriesBlob: Uint8Array | undefined;
  private readonly tidPool = new TidPool(1);
  private readonly stall = new StallWatch();
  /** Consecutive replacements of one host slot that died before they were ready. */
  private readonly bootFailures = new Map<string, number>();
  private ep: Endpoint | undefined;
  private closed = false;
  private started = false;
  private booted = false;
  private stopping: Promise<void> | undefined;
  /** Env variables for the Lua `env` module, built on the first "env" rpc (src/runtime/env.ts). */
  private env: EnvService | undefined;
  /** The event bus of the Lua `events` module (src/runtime/events.ts). */
  private readonly bus = new EventBus((tid, frame) => this.post(tid, frame), (tid) => this.dir.isDown(tid));

  constructor(registry: Registry, opts: RuntimeOptions = {}) {
    super();
    this.registry = registry;
    this.opts = opts;
  }

  /** The logger: the one given, else warnings and errors to stderr. */
  get log(): Logger {
    if (!this.opts.logger) this.opts.logger = pino({ level: 'warn', base: undefined }, pino.destination({ dest: 2, sync: true }));
    return this.opts.logger;
  }

  /** Start every host's workers. Resolves when all are ready. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const hosts = this.registry.hosts();
    let tid = 1;
    const plan: Array<{ tid: number; host: HostEntry; index: number }> = [];
    for (const h of hosts) {
      const n = h.kind === 'terminal.host' ? 1 : (this.opts.workers ?? h.host.workers);
      const tids: number[] = [];
      for (let i = 0; i < n; i++) { tids.push(tid); plan.push({ tid, host: h, index: i }); tid++; }
      this.hostTids.set(h.id, tids);
    }
    if (tid > MAX_THREADS) throw new WippyError(`too many workers: ${tid - 1} (at most ${MAX_THREADS - 1})`, 'Invalid', false);
    for (let t = 1; t < tid; t++) this.tidPool.take();
    const all = [0, ...plan.map((p) => p.tid)];
    // One channel per pair of threads: per-sender order, no detours.
    const portsOf = new Map<number, Record<number, MessagePort>>();
    for (const t of all) portsOf.set(t, {});
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        const { port1, port2 } = new MessageChannel();
        portsOf.get(all[i]!)![all[j]!] = port1;
        portsOf.get(all[j]!)![all[i]!] = port2;
      }
    }
    // Room for every thread id a replacement worker may get (src/runtime/recovery.ts).
    this.doorbellSab = Doorbell.create(MAX_THREADS);
    for (const [peer, port] of Object.entries(portsOf.get(0)!)) this.mainPorts.set(Number(peer), port);
    // The main thread never spins: it is the CLI / embedding thread, and spinning here would
    // take a core from the workers.
    this.ep = new Endpoint(0, this.doorbellSab, this.mainPorts, { minSpins: 0, maxSpins: 0 });
    this.entriesBlob = encodeValue(this.luaEntries());
    // Run queues per host of more than one worker (src/scheduler/tasks.ts).
    for (const h of hosts) {
      const n = this.hostTids.get(h.id)!.length;
      if (n > 1) this.regions.set(h.id, createTaskRegion({ workers: n, queueSize: Math.max(2, h.host.queueSize), localQueueSize: Math.max(2, h.host.localQueueSize) }));
    }
    for (const [h, region] of this.regions) this.taskQueues.set(h, new TaskQueues(region, -1));
    await Promise.all(plan.map((p) => this.launch(p.tid, p.host, p.index, portsOf.get(p.tid)!)));
    this.booted = true;
    void this.receive();
    this.startWatchdog();
    this.log.debug({ threads: plan.length, hosts: hosts.map((h) => h.id) }, 'runtime started');
  }

  /** The kernel's view of the hosts: kind, live worker ids, limits, default security. */
  private kernelHosts(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const h of this.registry.hosts()) {
      // A host's security block (lifecycle.security, as for services) is the default actor and
      // scope of processes started there without one.
      const security = (h.data['lifecycle'] as { security?: unknown } | undefined)?.security;
      const tids = this.hostTids.get(h.id)!.filter((t) => !this.dir.isDown(t));
      out[h.id] = { kind: h.kind, tids, max_reductions: h.host.maxReductions, max_memory_mb: h.host.maxMemoryMb, security,
        // the mailbox bound and crash reports (src/lua/kernel/mailbox.lua, lifecycle.lua)
        max_mailbox: h.host.maxMailbox, crash_reports: h.host.crashReports };
    }
    return out;
  }

  /** Start worker `tid` of `host` at `index` with its ports to every other thread. */
  private launch(tid: number, host: HostEntry, index: number, ports: Record<number, MessagePort>): Promise<void> {
    const init: WorkerInit = {
      tid, host: host.id, directory: this.directorySab, hostTids: this.hostTids.get(host.id)!,
      doorbell: this.doorbellSab!, tasks: this.regions.get(host.id),
      cfg: encodeValue({ tid, host: host.id, hosts: this.kernelHosts(), strict_mode: this.strictMode(),
        log_level: this.log.levelVal }), // the Lua logger drops records below it (lib/logger.lua)
      entries: this.entriesBlob!, ports,
    };
    const terminal = host.kind === 'terminal.host' && this.opts.stdin === true;
    const worker = new Worker(WORKER_URL, {
      workerData: init,
      transferList: Object.values(ports) as any,
      stdin: terminal,
      name: `${host.id}#${tid}`,
    });
    let markDown!: () => void;
    const down = new Promise<void>((r) => { markDown = r; });
    const mainPort = this.mainPorts.get(tid)!;
    const th: HostThread = { tid, host: host.id, index, worker, port: mainPort, down, markDown, ready: false };
    this.threads.push(th);
    // Ring handovers, and "down" after them (src/host/worker.ts: same port, so in order).
    mainPort.on('message', (h: RingHandover | { type: 'down' }) => {
      if (h.type === 'down') { th.markDown(); return; }
      this.ep!.attach(h);
      this.ep!.bell.interrupt();
    });
    if (terminal && worker.stdin) process.stdin.pipe(worker.stdin);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ControlFromWorker) => {
        if (m.type === 'ready') {
          th.ready = true;
          this.bootFailures.delete(`${host.id}#${index}`);
          if (this.booted) this.emit('worker-up', { tid, host: host.id, index });
          resolve();
        } else this.onControl(th, m);
      });
      worker.on('error', (e) => { th.reason ??= (e as Error)?.message ?? String(e); });
      worker.once('exit', (code) => {
        if (!th.ready) reject(new Error(`worker ${host.id}#${tid} failed to start: ${th.reason ?? `exit code ${code}`}`));
        if (terminal && worker.stdin) process.stdin.unpipe(worker.stdin);
        th.markDown();
        if (th.expectedExit || !this.booted || this.closed) return;
        if (th.stalled !== undefined) this.workerDown(th, deathMessage(true, th.stalled));
        else this.workerDown(th, deathMessage(false, th.reason ?? `thread exited with code ${code}`));
      });
    });
  }

  private luaEntries(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const e of this.registry.entries.values()) {
      if (e.kind === 'security.policy' || e.kind === 'security.policy.expr') {
        out[e.id] = { kind: e.kind, policy: e.data['policy'], groups: e.data['groups'] ?? [] };
        continue;
      }
      if (e.kind !== 'process.lua' && e.kind !== 'function.lua' && e.kind !== 'library.lua') continue;
      const l = e as LuaEntry;
      out[l.id] = {
        kind: l.kind, source: l.source, method: l.method ?? '', modules: l.modules, imports: l.imports,
        file: l.sourcePath ? relative(this.registry.root, l.sourcePath) : l.id,
        abs: l.sourcePath,
        // a process.lua with meta.default_host can be called as a function, run on that host (funcs)
        ...(typeof l.meta?.['default_host'] === 'string' ? { default_host: l.meta['default_host'] } : {}),
      };
    }
    return out;
  }

  // Stall watchdog: a worker inside one kernel step for longer than STALL_MS (a process stuck in
  // a long host call, or a Lua loop below its reduction budget) is reported once per stall; after
  // its host's stall_timeout it is terminated and replaced (src/runtime/recovery.ts, step 1).
  static readonly STALL_MS = 2000;
  private watchdog: NodeJS.Timeout | undefined;
  private startWatchdog(): void {
    const limits = new Map(this.registry.hosts().map((h) => [h.id, h.host.stallTimeoutMs]));
    // Look four times per shortest timeout (so a stall is caught within 1.25 × the timeout),
    // at most every 500 ms.
    const tick = Math.max(5, Math.min(500, Math.floor(Math.min(...limits.values()) / 4)));
    this.watchdog = setInterval(() => {
      const now = performance.now();
      for (const th of this.threads) {
        if (!th.ready || th.stalled !== undefined || th.expectedExit) continue;
        // Pairs with Atomics.add(heartbeat) / Atomics.store(busy) in Directory.beat on the worker.
        const ms = Math.round(this.stall.look(th.tid, this.dir.heartbeat(th.tid), this.dir.busy(th.tid), now));
        if (ms === 0) continue;
        if (ms >= Runtime.STALL_MS && this.stall.warnOnce(th.tid)) {
          this.log.warn({ host: th.host, tid: th.tid, stalledMs: ms }, 'worker stalled inside one step');
          this.emit('stall', { host: th.host, tid: th.tid, ms });
        }
        const limit = limits.get(th.host)!;
        if (ms >= limit) {
          th.stalled = `inside one step for ${ms} ms (host.stall_timeout ${limit} ms)`;
          this.log.error({ host: th.host, tid: th.tid, stalledMs: ms }, 'worker stalled; terminating it');
          void th.worker.terminate(); // its 'exit' event starts the recovery
        }
      }
    }, tick);
    this.watchdog.unref();
  }

  private strictMode(): boolean {
    const sec = (this.registry.config as Record<string, unknown>)['security'] as Record<string, unknown> | undefined;
    return sec?.['strict_mode'] === true;
  }

  private onControl(th: HostThread, m: ControlFromWorker): void {
    if (m.type === 'down') th.markDown();
    else if (m.type === 'fatal') { th.reason = m.message; this.log.error({ host: th.host, tid: th.tid, message: m.message }, 'kernel fault'); }
    else if (m.type === 'stats') this.emit('stats', th.tid, m);
    else if (m.type === 'wdown-done') this.tidPool.ack(th.tid, m.tid);
  }

  // ---- worker recovery (protocol: src/runtime/recovery.ts) --------------------------------------

  /** Worker `th` is gone (its thread exited): steps 2-9 of the recovery protocol. */
  private workerDown(th: HostThread, message: string): void {
    const D = th.tid;
    this.threads = this.threads.filter((t) => t !== th);
    this.stall.forget(D);
    this.tidPool.forget(D);
    this.dir.markDown(D); // step 2 (before the scan: see Directory.alloc)
    // step 3: what D published to us, then its rings go
    const last = this.ep!.dropPeer(D);
    this.outgoing.delete(D);
    if (last) this.handleBatch(last, () => D);
    this.ep!.bell.forget(D);
    // step 4
    const t0 = performance.now();
    const processes = this.dir.reclaim(D);
    const scanMs = performance.now() - t0;
    // step 5
    const err = () => new WippyError(message, 'Internal');
    for (const [pid, set] of [...this.pidNames]) {
      const p = parsePid(pid);
      if (!p || !this.dir.diesWith(p.uniq, D)) continue;
      for (const n of set) if (this.names.get(n) === pid) this.names.delete(n);
      this.pidNames.delete(pid);
    }
    // A registration waiting for the dead worker to take the name: the holder died with it and
    // its names were released above; the registering process gets its answer.
    for (const [token, w] of [...this.nameOwners]) {
      if (w.owner !== D) continue;
      this.nameOwners.delete(token);
      w.done();
    }
    for (const [req, p] of [...this.replies]) {
      if (p.tid !== D) continue;
      this.replies.delete(req);
      p.resolve([undefined, err()]);
    }
    for (const [ctl, target] of [...this.watchTargets]) {
      const p = parsePid(target);
      if (!p || !this.dir.diesWith(p.uniq, D)) continue;
      this.watchTargets.delete(ctl);
      const cb = this.watchers.get(ctl);
      if (cb) { this.watchers.delete(ctl); cb({ pid: target, error: err() }); }
    }
    // a stats() call waiting for D's answer
    this.emit('stats', D, { type: 'stats', id: -1, processes: 0, heapBytes: 0, jsHeapBytes: 0, wasmBytes: 0, queue: { pushed: 0, own: 0, global: 0, stolen: 0 }, ringBacklog: 0, mailbox: { unread: 0, largest: 0 } });
    // step 8: the replacement (its channels first: step 6 hands the other ends out)
    const rep = this.stopping || this.closed ? undefined : this.replace(th);
    // step 6
    const told: number[] = [];
    for (const t of this.threads) {
      if (t.tid === rep?.tid) continue;
      const port = rep?.ports.get(t);
      const peer = rep && port ? { tid: rep.tid, host: th.host, index: th.index, port } : undefined;
      t.worker.postMessage({ type: 'wdown', tid: D, message, peer } satisfies ControlToWorker, port ? [port] : []);
      told.push(t.tid);
    }
    this.tidPool.retire(D, told); // step 9
    this.log.error({ host: th.host, tid: D, message, processes, replacement: rep?.tid }, 'worker died');
    this.emit('worker-down', { tid: D, host: th.host, message, processes, scanMs, replacement: rep?.tid } satisfies WorkerDown);
  }

  /** Start a worker in dead `th`'s place; returns its tid and the ports to hand to the others. */
  private replace(th: HostThread): { tid: number; ports: Map<HostThread, MessagePort> } | undefined {
    const slot = `${th.host}#${th.index}`;
    const failures = th.ready ? 0 : (this.bootFailures.get(slot) ?? 0) + 1;
    this.bootFailures.set(slot, failures);
    if (failures >= 3) {
      this.log.error({ host: th.host, index: th.index }, 'replacement worker failed to start 3 times; not replacing it again');
      return undefined;
    }
    const tid = this.tidPool.take();
    if (tid === undefined) {
      this.log.error({ host: th.host }, 'no thread id left for a replacement worker');
      return undefined;
    }
    const host = this.registry.hosts().find((h) => h.id === th.host)!;
    this.dir.resetThread(tid);
    this.hostTids.get(th.host)![th.index] = tid;
    const ports: Record<number, MessagePort> = {};
    const handout = new Map<HostThread, MessagePort>();
    const main = new MessageChannel();
    ports[0] = main.port1;
    this.ep!.addPeer(tid, main.port2);
    for (const t of this.threads) {
      const { port1, port2 } = new MessageChannel();
      ports[t.tid] = port1;
      handout.set(t, port2);
    }
    this.launch(tid, host, th.index, ports).catch(() => { /* its 'exit' handler recovers */ });
    return { tid, ports: handout };
  }

  /**
   * Test-only door (not for production use): make worker `tid` fail as a real fault would.
   * 'throw': an uncaught error in its JS; 'abort': the Lua VM's wasm aborts inside a step;
   * 'exit': the thread exits; 'wedge': it spins inside a step forever, never beating again.
   */
  testFault(tid: number, fault: TestFault): void {
    const th = this.threads.find((t) => t.tid === tid);
    if (!th) throw new WippyError(`no worker thread ${tid}`, 'NotFound', false);
    th.worker.postMessage({ type: 'test', fault } satisfies ControlToWorker);
  }

  /** Thread ids of `host`'s live workers, in run-queue order. */
  workerTids(host: string): number[] {
    return (this.hostTids.get(host) ?? []).filter((t) => !this.dir.isDown(t));
  }

  /**
   * Where process `pid` lives: `home`, the thread that owns its PID and routes frames to it, and
   * `runs`, the worker it runs on (they differ for a queued spawn another worker started); -1
   * when unknown. It dies with either (src/runtime/recovery.ts).
   */
  where(pid: string): { home: number; runs: number } {
    const p = parsePid(pid);
    if (!p) return { home: -1, runs: -1 };
    const home = this.dir.owner(p.uniq);
    const r = this.dir.runner(p.uniq);
    return { home, runs: r >= 0 ? r : home };
  }

  // ---- frames --------------------------------------------------------------------------------

  private post(tid: number, frame: unknown[]): void {
    let list = this.outgoing.get(tid);
    if (!list) { list = []; this.outgoing.set(tid, list); }
    list.push(encodeValue(frame));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const ep = this.ep;
    if (!ep) return;
    for (const [tid, list] of this.outgoing) {
      if (list.length === 0) continue;
      let total = 0;
      for (const f of list) total += f.length;
      const buf = new Uint8Array(total);
      let off = 0;
      for (const f of list) { buf.set(f, off); off += f.length; }
      list.length = 0;
      ep.send(tid, buf, true);
    }
    ep.flush();
    // A batch that did not fit waits in the ring's local queue; the receive loop (probably parked)
    // must run to ask the receiver for a wake-up when space frees, so end its park now.
    if (ep.hasBacklog()) ep.bell.interrupt();
  }

  /** Handle everything readable now; false if nothing was. */
  private drainOnce(): boolean {
    const ep = this.ep;
    const batch = ep?.drain();
    if (!batch) return false;
    this.handleBatch(batch, (at) => ep!.senderAt(at));
    return true;
  }

  /**
   * Handle a batch of frames from the workers (`from`: the sending thread of the byte at an
   * offset). Nothing a worker sends may throw out of the receive loop: a bad frame is logged and
   * dropped, and so is a frame whose handling fails.
   */
  private handleBatch(batch: Uint8Array, from: (at: number) => number): void {
    const frames = decodeFrames(batch, (err, at) =>
      this.log.error({ from: from(at), offset: at, bytes: batch.length, err: err.message }, 'malformed frame dropped'));
    for (const raw of frames) {
      try { this.onFrame(raw); } catch (err) {
        this.log.error({ frame: Array.isArray(raw) ? raw[0] : typeof raw, err: (err as Error).message }, 'frame handling failed');
      }
    }
  }

  /** The main thread's receive loop: drain the rings, handle frames, park until rung. */
  private async receive(): Promise<void> {
    const ep = this.ep!;
    while (!this.closed) {
      if (this.drainOnce()) continue;
      if (ep.hasBacklog()) ep.flush();
      ep.bell.prepareToPark();
      if (ep.hasInput() || (ep.hasBacklog() && ep.armBacklog())) { ep.bell.cancelPark(); continue; }
      await ep.bell.parkAsync();
    }
  }

  private onFrame(raw: unknown): void {
    const f = (i: number) => (Array.isArray(raw) ? raw[i - 1] : (raw as Record<number, unknown>)[i]);
    switch (f(1)) {
      case 'w': {
        const fd = f(2) as number;
        const bytes = f(3) as Uint8Array;
        if (this.opts.write) this.opts.write(fd, bytes);
        else writeSync(fd === 2 ? 2 : 1, bytes);
        break;
      }
      case 'rep': {
        const p = this.replies.get(f(3) as number);
        if (p) { this.replies.delete(f(3) as number); p.resolve([f(4), f(5)]); }
        break;
      }
      case 'e': {
        const ev = decodeEvent(f(3));
        const cb = this.watchers.get(f(2) as string);
        if (cb && ev.kind === 'pid.exit') { this.watchers.delete(f(2) as string); cb(ev.exit); }
        this.emit('event', f(2), ev);
        break;
      }
      case 'm':
        this.emit('message', { to: f(2), from: f(3), topic: f(4), payloads: payloadList(f(5) as number, f(6)) });
        break;
      case 'nreg': {
        const [tid, pid, req, name, holder] = [f(2), f(3), f(4), f(5), f(6)] as [number, string, number, string, string];
        const cur = this.names.get(name);
        if (cur !== undefined && cur !== holder) {
          this.post(tid, ['rep', pid, req, undefined, new WippyError('name already registered', 'AlreadyExists', false)]);
        } else {
          this.names.set(name, holder);
          let s = this.pidNames.get(holder);
          if (!s) { s = new Set(); this.pidNames.set(holder, s); }
          s.add(name);
          // A holder on another worker must know the name, or its exit never releases it: tell
          // its worker first ("nown"), and answer the registering process on its "nok", so the
          // holder cannot exit unaware after register() returned (src/lua/kernel/names.lua).
          const p = parsePid(holder);
          const owner = p ? this.dir.owner(p.uniq) : -1;
          if (owner > 0 && owner !== tid && p && this.dir.isAlive(p.uniq)) {
            const token = ++this.reqSeq;
            this.nameOwners.set(token, { owner, done: () => this.post(tid, ['rep', pid, req, true]) });
            this.post(owner, ['nown', holder, name, token]);
          } else {
            this.post(tid, ['rep', pid, req, true]);
          }
        }
        break;
      }
      case 'nok': {
        const done = this.nameOwners.get(f(2) as number);
        if (done) { this.nameOwners.delete(f(2) as number); done.done(); }
        break;
      }
      case 'nlook': {
        const [tid, pid, req, name] = [f(2), f(3), f(4), f(5)] as [number, string, number, string];
        this.post(tid, ['rep', pid, req, this.names.get(name)]);
        break;
      }
      case 'nunreg': {
        const [tid, pid, req, name] = [f(2), f(3), f(4), f(5)] as [number, string, number, string];
        const holder = this.names.get(name);
        if (holder !== undefined) {
          this.names.delete(name);
          const held = this.pidNames.get(holder);
          if (held) { held.delete(name); if (held.size === 0) this.pidNames.delete(holder); }
        }
        this.post(tid, ['rep', pid, req, holder !== undefined]);
        break;
      }
      case 'crash': {
        // An error exit nobody watched (src/lua/kernel/lifecycle.lua): the operator's only trace of it.
        const [pid, entry, host, kind, message, traceback] = [f(2), f(3), f(4), f(5), f(6), f(7)];
        this.log.error({ pid, entry, host, kind, message, traceback }, 'process crashed');
        break;
      }
      case 'log': writeProcessLog(this.log, f); break; // the Lua `logger` module (src/runtime/proclog.ts)
      case 'env': { // the Lua `env` module: { "env", tid, pid, req, op, key, value } (src/runtime/env.ts)
        this.env ??= new EnvService(this.registry);
        const [res, err] = this.env.handle(f(5) as string, f(6), f(7));
        this.post(f(2) as number, ['rep', f(3), f(4), res, err]);
        break;
      }
      case 'evsub': case 'evunsub': case 'evsend': this.bus.handle(f); break;
      case 'x': {
        // A named process exited: release its names, then let its worker send the EXIT events.
        const [tid, pid, req] = [f(2), f(3), f(4)] as [number, string, number];
        for (const n of this.pidNames.get(pid) ?? []) if (this.names.get(n) === pid) this.names.delete(n);
        this.pidNames.delete(pid);
        this.post(tid, ['xack', req]);
        break;
      }
      default:
        this.log.warn({ frame: f(1) }, 'unknown frame on main thread');
    }
  }

  private rpc(tid: number, frame: (req: number) => unknown[]): Promise<[unknown, unknown]> {
    const req = ++this.reqSeq;
    this.hold();
    return new Promise<[unknown, unknown]>((resolve) => {
      this.replies.set(req, { resolve, tid });
      this.post(tid, frame(req));
    }).finally(() => this.release());
  }

  // While JS waits on the runtime (an rpc reply, an EXIT for exec/run/spawn with onExit), the
  // process must stay alive: the worker threads and ports alone do not keep Node's event loop
  // from exiting. A ref'd timer is held while anything is awaited.
  private waiting = 0;
  private keepAlive: NodeJS.Timeout | undefined;
  private hold(): void {
    if (this.waiting++ === 0) this.keepAlive = setInterval(() => {}, 1 << 30);
  }
  private release(): void {
    if (--this.waiting === 0) { clearInterval(this.keepAlive); this.keepAlive = undefined; }
  }

  // ---- public operations -----------------------------------------------------------------------

  /** Host to run `entryId` on when none is given: meta.default_host, else the first process.host. */
  defaultHost(entryId: string): string {
    const e = this.registry.get(entryId);
    const dh = e?.meta?.['default_host'];
    if (typeof dh === 'string') return dh;
    const h = this.registry.hosts().find((x) => x.kind === 'process.host');
    if (!h) throw new WippyError('no process.host in the registry', 'NotFound', false);
    return h.id;
  }

  terminalHost(): string | undefined {
    return this.registry.hosts().find((x) => x.kind === 'terminal.host')?.id;
  }

  private pickTid(host: string): number {
    const tids = this.hostTids.get(host);
    if (!tids || tids.length === 0) throw new WippyError('host not found', 'NotFound', false);
    for (let k = 1; k <= tids.length; k++) {
      const i = ((this.rr.get(host) ?? -1) + k) % tids.length;
      if (this.dir.isDown(tids[i]!)) continue; // dead, not replaced (yet)
      this.rr.set(host, i);
      return tids[i]!;
    }
    throw new WippyError('host has no running worker', 'Unavailable', false);
  }

  /** A control PID on the main thread (host `node:control`). */
  private controlPid(): { pid: string; uniq: number } {
    const uniq = this.dir.alloc();
    return { pid: formatPid(CONTROL_HOST, uniq), uniq };
  }

  /**
   * Spawn `entryId` on `host` with `args`; `onExit` (optional) gets its EXIT. Resolves to the PID.
   */
  async spawn(entryId: string, host: string | undefined, args: unknown[] = [], onExit?: (e: ExitInfo) => void,
    ctx?: SpawnContext): Promise<string> {
    return this.spawnOn(entryId, host, args, onExit, ctx, false);
  }

  /**
   * spawn(), and for a job (`exec`, `run`: `queued`) the host's global run queue instead of a
   * round-robin worker: whichever worker is free takes it. Processes started with spawn() keep
   * the round-robin spread (one per worker when spawned in turn, what long-lived drivers want).
   */
  private async spawnOn(entryId: string, host: string | undefined, args: unknown[], onExit: ((e: ExitInfo) => void) | undefined,
    ctx: SpawnContext | undefined, queued: boolean): Promise<string> {
    this.assertRunning();
    const h = host ?? this.defaultHost(entryId);
    const tid = this.pickTid(h);
    const ctl = onExit ? this.controlPid() : undefined;
    if (ctl && onExit) {
      this.hold();
      this.watchers.set(ctl.pid, (e) => { this.watchTargets.delete(ctl.pid); this.dir.dead(ctl.uniq); this.release(); onExit(e); });
      // Fast path (the job runner): the PID is minted here for the chosen worker and the spawn
      // goes out as a placed spawn ("sp"), with no reply frame; only the EXIT comes back. A
      // failure to start arrives as that EXIT's error. Unknown entries and hosts fail here.
      const entry = this.registry.get(entryId);
      if (entry && (entry.kind === 'process.lua' || entry.kind === 'function.lua')) {
        const uniq = this.dir.alloc(tid);
        const pid = formatPid(entry.kind === 'function.lua' ? `${entryId}#lua.${tid}` : h, uniq);
        this.watchTargets.set(ctl.pid, pid);
        // A job on a multi-worker host goes on the host's global run queue, where whichever
        // worker is free takes it (src/scheduler/tasks.ts); `tid` is its home (owner of the PID),
        // which forwards frames for it to the worker that runs it. Otherwise, or when the queue
        // is full, a placed spawn to `tid`.
        const q = queued ? this.taskQueues.get(h) : undefined;
        try {
          if (q && q.pushGlobal(encodeValue([pid, uniq, entryId, h, ctl.pid, false, ctx ? spawnCtx(ctx) : false, args, tid]))) {
            const tids = this.hostTids.get(h)!;
            for (const t of tids) if (this.ep!.bell.isParked(t)) { this.ep!.bell.ring(t); break; }
            return pid;
          }
          this.post(tid, ['sp', pid, uniq, entryId, h, ctl.pid, false, ctx ? spawnCtx(ctx) : false, args]);
        } catch (e) {
          // args that cannot be encoded (too deep, too large): nothing was sent
          this.watchers.delete(ctl.pid); this.dir.dead(ctl.uniq); this.dir.dead(uniq); this.release();
          throw e;
        }
        this.dir.addLoad(tid, 1);
        return pid;
      }
      if (!entry || entry.kind !== 'process.wasm') {
        this.watchers.delete(ctl.pid); this.dir.dead(ctl.uniq); this.release();
        throw new WippyError('factory not found', 'NotFound', false);
      }
    }
    const replyPid = ctl?.pid ?? formatPid(CONTROL_HOST, 0);
    const [pid, err] = await this.rpc(tid, (req) => ['s', 0, replyPid, req, entryId, h, ctl ? ctl.pid : false, false, ctx ? spawnCtx(ctx) : undefined, args]);
    if (typeof pid !== 'string') {
      if (ctl) { this.watchers.delete(ctl.pid); this.dir.dead(ctl.uniq); this.release(); }
      throw asError(err, `spawn of ${entryId} on ${h} failed`);
    }
    // (its EXIT may have come in the same batch as the reply: then the watcher is gone)
    if (ctl && this.watchers.has(ctl.pid)) this.watchTargets.set(ctl.pid, pid);
    return pid;
  }

  /** Run `entryId` to completion: resolves with its result, rejects with its error (a WippyError). */
  exec(entryId: string, args: unknown[] = [], opts: { host?: string; ctx?: SpawnContext } = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.spawnOn(entryId, opts.host, args, (e) => {
        if (e.error) reject(e.error); else resolve(e.value);
      }, opts.ctx, true).catch(reject);
    });
  }

  /** Run `entryId` to completion and report its EXIT as data (never rejects for a process error). */
  async run(entryId: string, args: unknown[] = [], opts: { host?: string; ctx?: SpawnContext } = {}): Promise<ExitInfo> {
    return new Promise((resolve, reject) => {
      this.spawnOn(entryId, opts.host, args, resolve, opts.ctx, true).catch(reject);
    });
  }

  /** Send a message from outside (the sender is the zero PID). */
  send(dest: string, topic: string, ...payloads: unknown[]): void {
    this.assertRunning();
    if (topic.startsWith('@')) throw new WippyError('cannot send to @ topics', 'Invalid', false);
    const { pid, tid } = this.route(dest);
    this.post(tid, ['m', pid, '{|}', topic, payloads.length, payloads]);
  }

  private route(dest: string): { pid: string; tid: number } {
    const pid = dest.startsWith('{') ? dest : this.names.get(dest);
    if (!pid) throw new WippyError(`could not resolve '${dest}' as PID or registered name`, 'NotFound', false);
    const parsed = parsePid(pid);
    if (!parsed) throw new WippyError(`invalid pid format: ${pid}`, 'Invalid', false);
    const tid = this.dir.owner(parsed.uniq);
    if (tid <= 0 || !this.dir.isAlive(parsed.uniq)) throw new WippyError('process not found', 'NotFound', false);
    return { pid, tid };
  }

  /** Terminate a process (abnormal exit "process terminated"; links and monitors are told). */
  terminate(dest: string): void {
    this.assertRunning();
    const { pid, tid } = this.route(dest);
    this.post(tid, ['t', pid, '{|}']);
  }

  /**
   * Send CANCEL to a process; if it has not exited `deadlineMs` later it is terminated
   * (default 10 s, as process.cancel).
   */
  cancel(dest: string, deadlineMs = 10_000, reason?: string): void {
    this.assertRunning();
    const { pid, tid } = this.route(dest);
    this.post(tid, ['c', pid, '{|}', Date.now() / 1000 + deadlineMs / 1000, reason]);
  }

  /** Look up a registered name. */
  lookup(name: string): string | undefined { return this.names.get(name); }

  /** Spawns the main thread (rt.spawn / rt.exec) put on hosts' run queues. */
  queuedSpawns(): number {
    let n = 0;
    for (const q of this.taskQueues.values()) n += q.counters.pushed;
    return n;
  }

  /**
   * Per worker thread: live processes, Lua heap bytes, and the run-queue counters (spawns it
   * started from its own queues, from the global queue, and stolen from siblings; zero on a
   * single-worker host, whose spawns start at once). `collect`: each worker runs a full JS
   * collection before it measures, when Node exposes one (`node --expose-gc`; leak checks).
   */
  async stats(opts: { collect?: boolean } = {}): Promise<WorkerStats[]> {
    return Promise.all(this.threads.map((th, i) => new Promise<WorkerStats>((resolve) => {
      const onStats = (tid: number, m: Extract<ControlFromWorker, { type: 'stats' }>) => {
        if (tid !== th.tid) return;
        this.off('stats', onStats);
        resolve({ tid, host: th.host, processes: m.processes, heapBytes: m.heapBytes, jsHeapBytes: m.jsHeapBytes, wasmBytes: m.wasmBytes, queue: m.queue, ringBacklog: m.ringBacklog, mailbox: m.mailbox });
      };
      this.on('stats', onStats);
      th.worker.postMessage({ type: 'stats', id: i, collect: opts.collect } satisfies ControlToWorker);
    })));
  }

  /**
   * Read-only bookkeeping sizes of the main thread, for leak checks (npm run soak): registered
   * names, PIDs holding names, JS exit watchers, pending rpc replies, frames queued for the
   * workers or waiting for ring room, live PID slots in the directory, each thread's load, and
   * the names still held by PIDs that are not alive.
   */
  internals(): { names: number; namedPids: number; watchers: number; replies: number; outgoing: number;
    ringBacklog: number; liveSlots: number; load: Record<number, number>; staleNames: string[] } {
    let outgoing = 0;
    for (const l of this.outgoing.values()) outgoing += l.length;
    // Names whose holder is no longer alive (a release that never happened).
    const staleNames: string[] = [];
    for (const [name, pid] of this.names) {
      const p = parsePid(pid);
      if (!p || !this.dir.isAlive(p.uniq)) staleNames.push(`${name}=${pid}`);
    }
    const load: Record<number, number> = {};
    for (const th of this.threads) load[th.tid] = this.dir.load(th.tid);
    return { names: this.names.size, namedPids: this.pidNames.size, watchers: this.watchers.size, replies: this.replies.size,
      outgoing, ringBacklog: this.ep?.backlogFrames() ?? 0, liveSlots: this.dir.liveSlots(), load, staleNames };
  }

  /**
   * Stop: every process gets CANCEL ("scheduler shutdown") with a deadline; whatever still runs
   * when it passes is killed; then the workers exit.
   */
  stop(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop(graceMs);
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    // The stall watchdog keeps running: a worker wedged inside one step cannot shut down, and is
    // terminated after its stall_timeout (not replaced: stopping) if that comes before the grace.
    for (const th of this.threads) th.worker.postMessage({ type: 'shutdown', graceMs } satisfies ControlToWorker);
    const all = Promise.all(this.threads.map((t) => t.down));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs + 1000); }),
    ]);
    clearTimeout(timer);
    if (timedOut) this.log.warn('shutdown deadline passed; terminating workers');
    // A worker wrote its last frames (terminal output, EXITs) to its ring before it reported
    // "down" on the control port: read them before the workers go. But a worker that said "down"
    // may have been handed a process since (a sibling placed a spawn on it while finishing its
    // own), which starts with the shutdown CANCEL and writes after that. So read until the
    // directory shows no live process on any worker and none inside a step (the worker clears its
    // busy word only after its step's frames are in the rings: Directory.beat pairs with busy()),
    // within what is left of the grace.
    const settleBy = Date.now() + graceMs;
    for (;;) {
      while (this.drainOnce());
      if (timedOut || Date.now() >= settleBy) break;
      if (this.threads.every((t) => this.dir.load(t.tid) <= 0 && !this.dir.busy(t.tid))) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    while (this.drainOnce());
    clearInterval(this.watchdog);
    if (process.stdin.isTTY === undefined || this.opts.stdin) process.stdin.unpipe?.();
    for (const t of this.threads) t.expectedExit = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.closed = true;
    // Whoever still waits (a process on a worker that never came down, e.g. one wedged in a
    // step) hears now, so an `exec` or `run` awaiting it returns instead of hanging the caller.
    const err = () => new WippyError('runtime stopped before the process exited', 'Internal');
    for (const [ctl, target] of [...this.watchTargets]) {
      const cb = this.watchers.get(ctl);
      this.watchTargets.delete(ctl);
      if (cb) { this.watchers.delete(ctl); cb({ pid: target, error: err() }); }
    }
    for (const [req, p] of [...this.replies]) { this.replies.delete(req); p.resolve([undefined, err()]); }
    this.ep?.bell.interrupt();
    this.ep?.close();
    for (const t of this.threads) t.port.close();
    this.threads = [];
  }

  private assertRunning(): void {
    if (!this.started) throw new WippyError('runtime is not started', 'InvalidState' as any, false);
    if (this.stopping) throw new WippyError('scheduler is stopping', 'InvalidState' as any, false);
  }
}

/**
 * What a process started from JS runs under: context values (`ctx.get`) and a security block in
 * the shape of a service's `lifecycle.security` (actor, groups, policies; ids fully qualified).
 */
export interface SpawnContext {
  values?: Record<string, unknown>;
  security?: { actor?: { id: string; meta?: Record<string, unknown> }; groups?: string[]; policies?: string[] };
}

function spawnCtx(c: SpawnContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (c.values) out['values'] = c.values;
  if (c.security) out['security_config'] = c.security;
  return out;
}

function payloadList(n: number, p: unknown): unknown[] {
  const out: unknown[] = [];
  for (let i = 1; i <= n; i++) out.push(Array.isArray(p) ? p[i - 1] : (p as Record<number, unknown>)?.[i]);
  return out;
}

function asError(err: unknown, fallback: string): WippyError {
  if (err instanceof WippyError) return err;
  if (err instanceof Error) return new WippyError(err.message, 'Internal', false);
  return new WippyError(fallback, 'Internal', false);
}

/** Normalise an event table decoded on the main thread. */
function decodeEvent(ev: unknown): { kind: string; exit: ExitInfo } {
  const e = (ev ?? {}) as { kind?: string; from?: string; result?: { value?: unknown; error?: unknown } };
  const exit: ExitInfo = { pid: e.from ?? '' };
  if (e.result) {
    if (e.result.error !== undefined) exit.error = asError(e.result.error, 'process failed');
    else if ('value' in e.result) exit.value = e.result.value;
  }
  return { kind: e.kind ?? '', exit };
}

// The runtime on the main thread: it owns the registry, starts the hosts' worker threads, wires
// every pair of threads with its own ordered channel, dispatches the frames the workers send to
// the main thread, and replaces a worker that dies or stalls.
//
// Owns: the worker threads (start, control messages, recovery steps 2-9), the shared regions it
// creates (the process directory, the doorbells, each multi-worker host's run queues; layouts in
// src/shm/layout.ts), the frame dispatch, and the stop. Beside it, each its own concept:
//   control.ts   the `node:control` API: spawn, send, terminate, cancel, JS exit watchers, rpcs
//                to workers
//   jobs.ts      the job runner: exec / run / submit, cancellation, admission, close()
//   names.ts     the name server (`process.registry`)
//   mainloop.ts  the main thread's endpoint: batches out, the receive loop in
//   recovery.ts  the recovery protocol, the thread-id pool, the stall watchdog
//   boot.ts      what a worker boots with (kernel config, entries)
//   stats.ts     Runtime.stats() requests
//   services.ts  the supervisor of process.service entries
//   wasm.ts      WebAssembly calls of the kernel's WASM bodies, on the main thread's pools
//   shutdown.ts  stop()'s progress lines (who it still waits for)
// The public methods here are thin doors into those.
//
// Size. Over the ~500-line guideline (about 640 lines): worker recovery (workerDown, replace)
// touches most of the runtime's private state (threads, ports, the endpoint, the directory, the
// host lists), and the start path builds the same things, so both live here; the protocol itself
// is written out in recovery.ts. The rest is the public API, whose methods are documented
// one- or two-line forwards to control.ts, jobs.ts, names.ts and the stats helpers.
//
// Threads. Thread id 0 is the main thread; host workers get ids 1..N in registry order. Every
// pair of threads gets one MessageChannel, created at start (or when a replacement worker starts),
// so each sender's frames reach each receiver in order and a message never detours through a
// third thread. The main thread never runs Lua.
//
// Frames to the main thread (src/wire/spec.ts; docs/design/protocol.md says who sends each):
// "w" terminal output, "rep" rpc replies and "e" EXITs for JS watchers (control.ts), "nreg" /
// "nlook" / "nunreg" / "nok" / "x" (names.ts), "crash" reports (logged), "log" (proclog.ts),
// "env" (env.ts), "evsub" / "evunsub" / "evsend" (events.ts), "wcall" /
// "wstep" / "wstop" WASM calls (wasm.ts), "met" (emitted as 'metric'). No "m": the main thread holds only
// control PIDs, which take lifecycle events, and a kernel's `locate` refuses any PID the main
// thread owns, so a message never comes here.
//
// Workers. A worker that dies or stalls is replaced (src/runtime/recovery.ts has the protocol);
// the runtime emits 'worker-down' (WorkerDown) when it has handled the death and 'worker-up' when
// the replacement is ready. Thread ids of replacements are fresh (or reused after quarantine), so
// a host's worker list changes; workerTids() and where() tell what runs where.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import { writeSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { WippyError } from '../codec/msgpack.js';
import { EnvService } from './env.js';
import { writeProcessLog } from './proclog.js';
import { EventBus } from './events.js';
import { MAX_THREADS, newDirectory } from '../shm/layout.js';
import { STALL_WARN_MS, StallWatch, TidPool, deathMessage, watchStalls, type WorkerDown } from './recovery.js';
import { StatsRequests, type StatsOptions, type WorkerStats } from './stats.js';
import type { Endpoint, RingHandover } from '../transport/endpoint.js';
import { MainLoop } from './mainloop.js';
import { Doorbell } from '../transport/doorbell.js';
import { FreeCores } from '../transport/freecores.js';
import { TaskQueues, createTaskRegion, type TaskRegion } from '../scheduler/tasks.js';
import { Directory } from '../shm/directory.js';
import { parsePid } from './pid.js';
import { NameServer } from './names.js';
import { ControlEndpoint, type ExitInfo, type SpawnContext } from './control.js';
import { uncrossable } from './crossing.js';
import { JobRunner, controlJobHost, type Job, type JobOptions, type JobRunnerOptions, type JobStats } from './jobs.js';
import { asFrame, frame, I, type AnyFrame } from '../wire/frames.js';
import type { Registry } from '../registry/registry.js';
import type { HostEntry } from '../registry/types.js';
import { kernelConfig, kernelEntries } from './boot.js';
import { WasmCalls } from './wasm.js';
import { ShutdownProgress } from './shutdown.js';
import type { ControlFromWorker, ControlToWorker, DownReport, TestFault, WorkerInit } from '../host/protocol.js';
import { pino, type Logger } from 'pino';

export type { ExitInfo, SpawnContext } from './control.js';
export type { WorkerStats, StatsOptions, ProcessRow } from './stats.js';
export type { WorkerDown } from './recovery.js';

const WORKER_URL = new URL('../host/worker.js', import.meta.url);
/** How long processes get to react to the shutdown CANCEL before they are killed. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

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

export interface RuntimeOptions {
  logger?: Logger;
  /** Override every process.host's worker count (tests use 1 or 2). */
  workers?: number;
  /** Where terminal output goes (defaults to the process's stdout/stderr). */
  write?: (fd: number, bytes: Uint8Array) => void;
  /** Forward this process's stdin to the terminal host (CLI commands). */
  stdin?: boolean;
  /** The job runner's bounds and defaults (src/runtime/jobs.ts). */
  jobs?: JobRunnerOptions;
}

/** Runtime.stats(): one entry per worker thread, and the job runner's figures. */
export type RuntimeStats = WorkerStats[] & { jobs: JobStats };

export class Runtime extends EventEmitter {
  readonly registry: Registry;
  private readonly opts: RuntimeOptions;
  private readonly directorySab = newDirectory();
  private readonly dir = new Directory(this.directorySab, 0);
  private threads: HostThread[] = [];
  /** Per host: its workers' thread ids, index-aligned with its run queues (a dead one stays until replaced). */
  private readonly hostTids = new Map<string, number[]>();
  private doorbellSab: SharedArrayBuffer | undefined;
  private readonly mainPorts = new Map<number, MessagePort>();
  /** The main thread's view of each multi-worker host's run queues (it only pushes globally). */
  private readonly taskQueues = new Map<string, TaskQueues>();
  private readonly regions = new Map<string, TaskRegion>();
  /** `process.registry` names (src/runtime/names.ts). */
  private readonly names = new NameServer({
    post: (tid, f) => this.post(tid, f),
    owner: (u) => this.dir.owner(u),
    isAlive: (u) => this.dir.isAlive(u),
    diesWith: (u, t) => this.dir.diesWith(u, t),
  });
  /** The `node:control` API: spawn, exec, run, send, terminate, cancel (src/runtime/control.ts). */
  private readonly control: ControlEndpoint;
  /** exec / run / submit (src/runtime/jobs.ts). */
  private readonly jobs: JobRunner;
  private entriesBlob: Uint8Array | undefined;
  private readonly tidPool = new TidPool(1);
  private readonly stall = new StallWatch();
  private readonly statsAsked = new StatsRequests();
  /** Consecutive replacements of one host slot that died before they were ready. */
  private readonly bootFailures = new Map<string, number>();
  /** The main thread's endpoint and receive loop (src/runtime/mainloop.ts), from start(). */
  private main: MainLoop | undefined;
  private freeCores: FreeCores | undefined;
  /** Env variables for the Lua `env` module, built on the first "env" rpc (src/runtime/env.ts). */
  private env: EnvService | undefined;
  /** The event bus of the Lua `events` module (src/runtime/events.ts). */
  private readonly bus = new EventBus((tid, fr) => this.post(tid, fr), (tid) => this.dir.isDown(tid));
  /** WASM calls of the kernel's WASM bodies, on piscina pools (src/runtime/wasm.ts); guest output to the terminal output. */
  private readonly wasm: WasmCalls;
  private get ep(): Endpoint | undefined { return this.main?.ep; }
  private closed = false;
  private started = false;
  private booted = false;
  private stopping: Promise<void> | undefined;
  /** While stop() waits: who is still running (src/runtime/shutdown.ts). */
  private progress: ShutdownProgress | undefined;

  constructor(registry: Registry, opts: RuntimeOptions = {}) {
    super();
    this.registry = registry;
    this.opts = opts;
    this.control = new ControlEndpoint({
      registry, dir: this.dir, hostTids: this.hostTids, taskQueues: this.taskQueues,
      post: (tid, f) => this.post(tid, f),
      wakeOne: (tids) => { for (const t of tids) if (this.ep!.bell.isParked(t)) { this.ep!.bell.ring(t); break; } },
      isParked: (tid) => this.ep!.bell.isParked(tid),
      freeCores: () => this.freeCores?.current() ?? -1,
      ring: (tid) => { this.ep!.bell.ring(tid); },
      lookup: (name) => this.names.lookup(name),
      assertRunning: () => this.assertRunning(),
    });
    this.jobs = new JobRunner(controlJobHost(this.control, (event) => { this.emit(event); },
      () => this.threads.filter((t) => this.registry.get(t.host)?.kind === 'process.host').length), opts.jobs);
    this.wasm = new WasmCalls(registry, (tid, f) => this.post(tid, f), (stream, bytes) => this.writeOut(stream === 'stderr' ? 2 : 1, bytes));
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
    // The main thread's result spin (src/runtime/mainloop.ts); WIPPY_RESULT_SPIN=0 turns it off (A/B).
    const resultSpin = process.env["WIPPY_RESULT_SPIN"] !== '0';
    this.main = new MainLoop(this.doorbellSab, this.mainPorts, () => this.log, (raw) => this.onFrame(raw),
      resultSpin ? () => this.jobs.inFlight > 0 : undefined);
    this.entriesBlob = kernelEntries(this.registry);
    // Run queues per host of more than one worker (src/scheduler/tasks.ts).
    for (const h of hosts) {
      const n = this.hostTids.get(h.id)!.length;
      if (n > 1) this.regions.set(h.id, createTaskRegion({ workers: n, queueSize: Math.max(2, h.host.queueSize), localQueueSize: Math.max(2, h.host.localQueueSize) }));
    }
    for (const [h, region] of this.regions) this.taskQueues.set(h, new TaskQueues(region, -1));
    await Promise.all(plan.map((p) => this.launch(p.tid, p.host, p.index, portsOf.get(p.tid)!)));
    this.booted = true;
    void this.main.run();
    this.startWatchdog();
    // The spin rule's free cores (src/transport/freecores.ts); WIPPY_FREE_CORES=0 turns it off (A/B).
    if (process.env["WIPPY_FREE_CORES"] !== '0') { this.freeCores = new FreeCores(new Int32Array(this.doorbellSab)); this.freeCores.start(); }
    this.log.debug({ threads: plan.length, hosts: hosts.map((h) => h.id) }, 'runtime started');
  }

  /** Start worker `tid` of `host` at `index` with its ports to every other thread. */
  private launch(tid: number, host: HostEntry, index: number, ports: Record<number, MessagePort>): Promise<void> {
    const init: WorkerInit = {
      tid, host: host.id, directory: this.directorySab, hostTids: this.hostTids.get(host.id)!,
      doorbell: this.doorbellSab!, tasks: this.regions.get(host.id),
      cfg: kernelConfig(this.registry, tid, host.id, this.hostTids, (t) => this.dir.isDown(t), this.log.levelVal),
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
    // Ring handovers, and "down" after them (DownReport in src/host/protocol.ts: same port, so in order).
    mainPort.on('message', (h: RingHandover | DownReport) => {
      if (h.type === 'down') { th.markDown(); return; }
      this.ep!.attach(h);
      this.ep!.bell.interrupt();
    });
    if (terminal && worker.stdin) process.stdin.pipe(worker.stdin);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: ControlFromWorker) => {
        if (m.type === 'ready') {
          th.ready = true;
          // An idle runtime does not keep Node alive: what JS awaits holds the loop (control.ts, jobs.ts).
          worker.unref(); mainPort.unref();
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

  /** A worker in one step this long is reported (src/runtime/recovery.ts watchStalls). */
  static readonly STALL_MS = STALL_WARN_MS;
  private watchdog: NodeJS.Timeout | undefined;
  private startWatchdog(): void {
    const limits = new Map(this.registry.hosts().map((h) => [h.id, h.host.stallTimeoutMs]));
    this.watchdog = watchStalls(this.stall, limits, () => this.threads, (t) => [this.dir.heartbeat(t), this.dir.busy(t)], {
      warn: (th, ms) => {
        this.log.warn({ host: th.host, tid: th.tid, stalledMs: ms, processes: this.dir.load(th.tid), stallTimeoutMs: limits.get(th.host) },
          'worker stalled inside one step; replaced at host.stall_timeout if it stays there');
        this.emit('stall', { host: th.host, tid: th.tid, ms });
      },
      terminate: (th, ms) => {
        this.log.error({ host: th.host, tid: th.tid, stalledMs: ms }, 'worker stalled; terminating it');
        void (th as HostThread).worker.terminate(); // its 'exit' event starts the recovery
      },
    });
  }

  private onControl(th: HostThread, m: ControlFromWorker): void {
    if (m.type === 'fatal') { th.reason = m.message; this.log.error({ host: th.host, tid: th.tid, message: m.message }, 'kernel fault'); }
    else if (m.type === 'stats') this.statsAsked.answer(th.tid, m);
    else if (m.type === 'wdown-done') this.tidPool.ack(th.tid, m.tid);
    else if (m.type === 'live') this.progress?.answer(th.tid, m);
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
    if (last) this.main!.handleBatch(last, () => D);
    this.ep!.bell.forget(D);
    // step 4
    const t0 = performance.now();
    const processes = this.dir.reclaim(D);
    const scanMs = performance.now() - t0;
    // step 5
    this.names.workerDied(D);
    this.control.workerDied(D, () => new WippyError(message, 'Internal'));
    this.wasm.workerDied(D);
    this.statsAsked.gone(D); // a stats() call waiting for D's answer
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
    if (this.listenerCount('error') > 0) this.emit('error', new WippyError(`worker ${th.host}#${D} died: ${message}`, 'Internal'));
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

  // ---- frames to the main thread ---------------------------------------------------------------

  private post(tid: number, frame: AnyFrame): void {
    this.main!.post(tid, frame);
  }

  /** Handle everything readable now; false if nothing was. */
  private drainOnce(): boolean {
    return this.main!.drainOnce();
  }

  private onFrame(raw: unknown): void {
    const f = asFrame(raw);
    if (f === undefined) { this.log.warn({ frame: typeof raw }, 'unknown frame on main thread'); return; }
    switch (f[0]) {
      case 'w': this.writeOut(f[I.w.fd], f[I.w.bytes] as Uint8Array); break;
      case 'rep': this.control.onReply(f); break;
      case 'e': this.emit('event', f[I.e.pid], this.control.onEvent(f)); break;
      case 'jx': { // a job's EXIT (control.ts spawnLua); decoded as an event only for a listener
        const listened = this.listenerCount('event') > 0;
        const ev = this.control.onJobExit(f, listened);
        if (listened) this.emit('event', f[I.jx.watch], ev);
        break;
      }
      case 'nreg': this.names.register(f); break;
      case 'nok': this.names.taken(f); break;
      case 'nlook': this.names.lookupFrame(f); break;
      case 'nunreg': this.names.unregister(f); break;
      case 'x': this.names.released(f); break; // names first; the worker sends the EXIT events on "xack"
      // The standard modules' frames (docs/modules.md).
      case 'log': writeProcessLog(this.log, f); break; // the Lua `logger` module
      case 'env': { // the Lua `env` module (src/runtime/env.ts)
        this.env ??= new EnvService(this.registry);
        const [res, err] = this.env.handle(f[I.env.op], f[I.env.key], f[I.env.value]);
        this.post(f[I.env.reply_tid], frame.rep(f[I.env.reply_pid], f[I.env.req], res, err));
        break;
      }
      case 'evsub': case 'evunsub': case 'evsend': this.bus.handle(f); break;
      case 'wcall': this.wasm.call(f); break; // a WASM body's call (src/runtime/wasm.ts)
      case 'wstep': this.wasm.step(f); break;
      case 'wstop': this.wasm.stop(f); break;
      case 'met': this.emit('metric', f); break; // the Lua `metrics` module (src/ops/user-metrics.ts listens)
      case 'crash': {
        // An error exit nobody watched: the operator's only trace of it.
        const [, pid, entry, host, kind, message, traceback] = f;
        this.log.error({ pid, entry, host, kind, message, traceback }, 'process crashed');
        break;
      }
      default:
        this.log.warn({ frame: f[0] }, 'unknown frame on main thread');
    }
  }

  /** Terminal output: processes' "w" frames and WASM guests' stdout/stderr. */
  private writeOut(fd: number, bytes: Uint8Array): void {
    if (this.opts.write) this.opts.write(fd, bytes);
    else writeSync(fd === 2 ? 2 : 1, bytes);
  }

  // ---- public operations -----------------------------------------------------------------------

  /** Host to run `entryId` on when none is given: meta.default_host, else the first process.host. */
  defaultHost(entryId: string): string {
    return this.control.defaultHost(entryId);
  }

  terminalHost(): string | undefined {
    return this.registry.hosts().find((x) => x.kind === 'terminal.host')?.id;
  }

  /**
   * Spawn `entryId` on `host` with `args`; `onExit` (optional) gets its EXIT. Resolves to the PID.
   * A round-robin worker of the host runs it (src/runtime/control.ts).
   */
  async spawn(entryId: string, host: string | undefined, args: unknown[] = [], onExit?: (e: ExitInfo) => void,
    ctx?: SpawnContext): Promise<string> {
    const bad = uncrossable(args);
    if (bad) throw bad;
    return this.control.spawn(entryId, host, args, onExit, ctx, false);
  }

  /**
   * Run `entryId` to completion: resolves with its result, rejects with its error (a WippyError).
   * A job: on a multi-worker host, whichever worker is free takes it.
   */
  exec(entryId: string, args: unknown[] = [], opts: JobOptions = {}): Promise<unknown> {
    return this.jobs.exec(entryId, args, opts);
  }

  /** Run `entryId` to completion and report its EXIT as data (never rejects for a process error). */
  run(entryId: string, args: unknown[] = [], opts: JobOptions = {}): Promise<ExitInfo> {
    return this.jobs.run(entryId, args, opts);
  }

  /** Submit a job: a handle with its PID (once started), its result and cancel() (src/runtime/jobs.ts). */
  submit(entryId: string, args: unknown[] = [], opts: JobOptions = {}): Job {
    return this.jobs.submit(entryId, args, opts);
  }

  /** The job runner's figures, without asking the workers. */
  jobStats(): JobStats {
    return this.jobs.stats();
  }

  /**
   * Take no new jobs, wait until every submitted job has settled, then stop() (`force`: jobs not
   * yet started are rejected instead of run). stop() alone cancels whatever runs.
   */
  async close(opts: { force?: boolean; graceMs?: number } = {}): Promise<void> {
    await this.jobs.close(opts.force === true);
    await this.stop(opts.graceMs);
  }

  /** Send a message from outside (the sender is the zero PID). */
  send(dest: string, topic: string, ...payloads: unknown[]): void {
    const bad = uncrossable(payloads, 'payloads');
    if (bad) throw bad;
    this.control.send(dest, topic, payloads);
  }

  /** Terminate a process (abnormal exit "process terminated"; links and monitors are told). */
  terminate(dest: string): void {
    this.control.terminate(dest);
  }

  /**
   * Send CANCEL to a process; if it has not exited `deadlineMs` later it is terminated
   * (default 10 s, as process.cancel).
   */
  cancel(dest: string, deadlineMs = 10_000, reason?: string): void {
    this.control.cancel(dest, deadlineMs, reason);
  }

  /** Look up a registered name. */
  lookup(name: string): string | undefined { return this.names.lookup(name); }

  /** Spawns the main thread (rt.spawn / rt.exec) put on hosts' run queues. */
  queuedSpawns(): number {
    let n = 0;
    for (const q of this.taskQueues.values()) n += q.counters.pushed;
    return n;
  }

  /** Spawns waiting on each multi-worker host's run queues: the global queue, and per worker (by index). */
  queueDepths(): Record<string, { global: number; workers: number[] }> {
    const out: Record<string, { global: number; workers: number[] }> = {};
    for (const [h, q] of this.taskQueues) out[h] = q.depths();
    return out;
  }

  /**
   * Per worker thread: live processes, Lua heap bytes, and the run-queue counters (spawns it
   * started from its own queues, from the global queue, and stolen from siblings; zero on a
   * single-worker host, whose spawns start at once). `collect`: each worker runs a full JS
   * collection before it measures, when Node exposes one (`node --expose-gc`; leak checks);
   * `table`: each worker's process table too (StatsOptions in src/runtime/stats.ts).
   */
  async stats(opts: StatsOptions = {}): Promise<RuntimeStats> {
    this.control.hold(); // the workers are unref'd: hold Node until they answer
    try {
      const workers = await Promise.all(this.threads.map((th) => this.statsAsked.ask(th, opts)));
      return Object.assign(workers, { jobs: this.jobs.stats() });
    } finally { this.control.release(); }
  }

  /**
   * Per thread id: times it parked, notifies it was sent, and parks it announced (the doorbell's
   * counters; wake-ups per message). Notifies ≤ announced parks; a cancelled announcement is no park.
   * `freeCores`: the main thread's last measure of the cores other processes leave free
   * (src/transport/freecores.ts; what the spin rule and the peer rule's spreading read), -1 when
   * not measured.
   */
  doorbell(): { parks: number[]; wakes: number[]; announced: number[]; freeCores: number } {
    const s = this.ep?.bell.stats();
    const freeCores = this.freeCores?.current() ?? -1;
    return s ? { parks: s.parks, wakes: s.wakes, announced: s.announced, freeCores } : { parks: [], wakes: [], announced: [], freeCores };
  }

  /**
   * Read-only bookkeeping sizes of the main thread, for leak checks (npm run soak): registered
   * names, PIDs holding names, JS exit watchers, pending rpc replies, frames queued for the
   * workers or waiting for ring room, live PID slots in the directory, each thread's load, and
   * the names still held by PIDs that are not alive.
   */
  internals(): { names: number; namedPids: number; watchers: number; replies: number; outgoing: number;
    ringBacklog: number; liveSlots: number; load: Record<number, number>; staleNames: string[]; wasmCalls: number;
    wasmPools: Array<{ entry: string; threads: number; queued: number }> } {
    const outgoing = this.ep?.postedFrames() ?? 0;
    const load: Record<number, number> = {};
    for (const th of this.threads) load[th.tid] = this.dir.load(th.tid);
    return { ...this.names.sizes(), ...this.control.sizes(), outgoing, ringBacklog: this.ep?.backlogFrames() ?? 0,
      liveSlots: this.dir.liveSlots(), load, staleNames: this.names.stale(), wasmCalls: this.wasm.sizes().calls,
      wasmPools: this.wasm.sizes().pools };
  }

  /**
   * Stop: every process gets CANCEL ("scheduler shutdown") with a deadline; whatever still runs
   * when it passes is killed; then the workers exit.
   */
  stop(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    if (!this.stopping) {
      // the workers are unref'd: hold Node until they have exited (their 'exit' events hold nothing)
      this.control.hold();
      this.stopping = this.doStop(graceMs).finally(() => this.control.release());
    }
    return this.stopping;
  }

  private async doStop(graceMs: number): Promise<void> {
    this.jobs.stopping();
    // The stall watchdog keeps running: a worker wedged inside one step cannot shut down, and is
    // terminated after its stall_timeout (not replaced: stopping) if that comes before the grace.
    for (const th of this.threads) th.worker.postMessage({ type: 'shutdown', graceMs } satisfies ControlToWorker);
    const all = Promise.all(this.threads.map((t) => t.down));
    this.progress = new ShutdownProgress(this.log, () => this.threads, Date.now() + graceMs);
    this.progress.start();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs + 1000); }),
    ]);
    clearTimeout(timer);
    this.progress.stop();
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
    this.freeCores?.stop();
    if (process.stdin.isTTY === undefined || this.opts.stdin) process.stdin.unpipe?.();
    for (const t of this.threads) t.expectedExit = true;
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    await this.wasm.close();
    this.closed = true;
    // Whoever still waits (a process on a worker that never came down, e.g. one wedged in a
    // step) hears now, so an `exec` or `run` awaiting it returns instead of hanging the caller.
    this.control.stopped(() => new WippyError('runtime stopped before the process exited', 'Internal'));
    this.main?.close();
    for (const t of this.threads) t.port.close();
    this.threads = [];
  }

  private assertRunning(): void {
    if (!this.started) throw new WippyError('runtime is not started', 'InvalidState' as any, false);
    if (this.stopping) throw new WippyError('scheduler is stopping', 'InvalidState' as any, false);
  }
}

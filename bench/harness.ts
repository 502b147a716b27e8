// The bench harness: what a workload is, how its runtime is built, how Lua drivers are started
// together, and how figures are checked and summarised.
//
// Model. A *workload* (spawn-exit, ring, ...) has *variants* (1 worker, all workers, across
// workers); a variant builds its own runtime from entries given in code, does a fixed amount of
// real work, checks the result and returns one or more *figures* (rows of the final table). A
// fresh runtime per variant keeps heaps and PID blocks from leaking between measurements.
//
// Timing. Most workloads are timed inside Lua: each driver process does its setup (spawns its
// peers or ring), registers a name to say it is ready (JS polls rt.lookup), waits for a "go"
// message, reads `time.now()` before and after its work and returns both, so the figure excludes
// runtime start, setup and the EXIT notification back to JS. With several drivers (one per worker
// thread) the span is max(end) - min(start) over all of them; every worker's wall clock is
// `performance.timeOrigin + performance.now()`, so the clocks agree to well under a millisecond.
// Workloads whose work is driven from JS (the job runner, JS-to-Lua sends) are timed from JS.
// Every figure carries a `timing` label saying which.
import { createRuntime, type Runtime, type ExitInfo } from '../src/index.js';
import { pino } from 'pino';

/** One row of the result table. */
export interface Figure {
  workload: string;
  variant: string;
  /** Worker threads running Lua in this variant. */
  workers: number;
  figure: string;
  value: number;
  unit: string;
  p50Us?: number;
  p99Us?: number;
  /** The amount of work done, in words ("100,000 spawns, ≤1,000 alive"). */
  work: string;
  /** How the figure was timed or measured. */
  timing: string;
  /** Extra numbers worth keeping in the JSON (spans, raw values, overheads). */
  details?: Record<string, number | string | boolean>;
}

export interface BenchContext {
  quick: boolean;
  /** "All workers": os.availableParallelism() unless --workers overrides it. */
  allWorkers: number;
  /** Per-variant time limit in ms; a variant that runs longer fails. */
  timeoutMs: number;
  /** Progress note for the current variant (shown on stderr). */
  note: (text: string) => void;
}

export interface Variant {
  label: string;
  workers: number;
  run: (ctx: BenchContext) => Promise<Figure[]>;
}

export interface Workload {
  name: string;
  title: string;
  variants: (ctx: BenchContext) => Variant[];
}

/** Raised when a workload's result does not check out. */
export class CheckFailed extends Error {
  constructor(message: string) { super(message); this.name = 'CheckFailed'; }
}

export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CheckFailed(message);
}

// ---- runtimes ---------------------------------------------------------------------------------

/** Host ids every bench runtime has; PEER_HOST only when asked for (cross-worker variants). */
export const MAIN_HOST = 'bench:main';
export const PEER_HOST = 'bench:peer';

/** Lua prelude for bench sources: microsecond wall clock and a checked spawn. */
export const LUA_PRELUDE = `
local time = require("time")
local function now_us() return time.now():unix_nano() // 1000 end
local function now_ns() return time.now():unix_nano() end
local function must(v, err, what)
  if not v then error((what or "call") .. " failed: " .. tostring(err), 2) end
  return v
end
-- Driver barrier: subscribe to "go", announce readiness by registering \`name\` (JS polls
-- rt.lookup), then wait for "go". Setup done before this call is not timed.
local function ready_go(name)
  local go = process.listen("go")
  must(process.registry.register(name), nil, "register " .. name)
  go:receive()
end
`;

/** A process.lua entry in namespace `bench` whose module is `body` (Lua, returning { main = ... }). */
export function luaEntry(name: string, body: string, kind = 'process.lua'): Record<string, unknown> {
  return { id: `bench:${name}`, kind, method: 'main', modules: ['time'], source: LUA_PRELUDE + body };
}

// Kernel faults and worker crashes are only reported through the runtime's logger: give it one
// that prints warnings and errors on stderr, so a broken runtime is loud, not silent.
const logger = pino({ level: 'warn', base: undefined }, pino.destination(2));

/**
 * A runtime for one variant: `workers` threads per process.host (the `workers` option overrides
 * every host), a second host when `peer` is set (so a spawn there lands on another thread).
 */
export async function benchRuntime(entries: Array<Record<string, unknown>>, opts: { workers: number; peer?: boolean }): Promise<Runtime> {
  // max_mailbox: 0 (no bound): fan-in queues a whole burst before its receiver runs again. On one
  // worker the 1,000 senders each send their 1,000 messages in one resume while the receiver
  // waits its turn, so ~1M messages sit unread at the peak (measured: 99,999 of 100,000 in the
  // quick run), ten times the default bound.
  // WIPPY_BENCH_HOOK=0 (or off): hosts without the reduction budget and the memory cap, so no
  // count hook is set on any process (sched.lua): the kernel's own per-message cost without the
  // hook (`ab.js --a . --b . --env-a WIPPY_BENCH_HOOK=0` measures the hook).
  const hookOff = process.env['WIPPY_BENCH_HOOK'] === '0' || process.env['WIPPY_BENCH_HOOK'] === 'off';
  const limits = hookOff ? { max_reductions: 0, max_memory_mb: 0 } : {};
  const hosts: Array<Record<string, unknown>> = [{ id: MAIN_HOST, kind: 'process.host', host: { workers: opts.workers, max_mailbox: 0, ...limits } }];
  if (opts.peer) hosts.push({ id: PEER_HOST, kind: 'process.host', host: { workers: opts.workers, ...limits } });
  return createRuntime({ entries: [...hosts, ...entries], workers: opts.workers, logger });
}

/** Run `fn` with a runtime, always stopping it afterwards (processes get a short grace period). */
export async function withRuntime<T>(rt: Runtime, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  try {
    return await fn(rt);
  } finally {
    await rt.stop(500);
  }
}

/** Reject if `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailed(`${what}: no result after ${(ms / 1000).toFixed(0)} s (hung or far too slow)`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- drivers ----------------------------------------------------------------------------------

/** A spawned process whose EXIT we wait for. */
export interface Watched { pid: string; exit: Promise<ExitInfo> }

export async function spawnWatched(rt: Runtime, entry: string, host: string, args: unknown[]): Promise<Watched> {
  let resolve!: (e: ExitInfo) => void;
  const exit = new Promise<ExitInfo>((r) => { resolve = r; });
  const pid = await rt.spawn(entry, host, args, resolve);
  return { pid, exit };
}

/** The value a process returned; throws (loudly, with the process's error) if it failed. */
export async function exitValue<T = Record<string, any>>(w: Watched, what: string): Promise<T> {
  const e = await w.exit;
  if (e.error) throw new CheckFailed(`${what} (${w.pid}) failed: ${e.error.message}`);
  return e.value as T;
}

/**
 * Result of runDrivers: what each driver returned, processes per worker thread at "go", and the
 * CPU time the whole Node process spent from "go" until the last EXIT reached JS.
 */
export interface DriverRun {
  results: Array<Record<string, any>>; placement: number[]; cpuSeconds: number;
  /** With startTogether: the instant "start" carried (µs, the workers' clock). */
  startAt?: number;
}

/**
 * CPU seconds (user + system, every thread of this process) since `since` (a process.cpuUsage()).
 * On a shared machine wall-clock throughput moves 20–30% with the neighbours' load while CPU time
 * per operation moves much less: a busy core delays the work but does not add to its CPU time.
 * Workloads report it beside their throughput as `details.cpuUsPerOp` (bench/ab.ts shows it).
 */
export function cpuSecondsSince(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1e6;
}

/**
 * Spawn one driver per element of `argsList` on `host` (the main thread places successive spawns
 * on successive worker threads of the host, round-robin), wait until each has done its setup and
 * called `ready_go(name)` (the name is passed as the driver's first argument), snapshot the
 * processes per worker thread, send them all "go" in one batch, and return their results in order.
 * `startTogether` (ms): the drivers register `<name>.warmed` after an untimed part and wait for
 * "start", sent to all once every one has, with an instant that many ms ahead (bench/spawn.ts).
 */
export async function runDrivers(rt: Runtime, entry: string, host: string, argsList: unknown[][], ctx: BenchContext,
  opts: { processes?: number; startTogether?: number } = {}): Promise<DriverRun> {
  const drivers: Watched[] = [];
  const names: string[] = [];
  for (const [i, args] of argsList.entries()) {
    names.push(`bench.ready.${i}`);
    drivers.push(await spawnWatched(rt, entry, host, [names[i], ...args]));
  }
  const exits = Promise.all(drivers.map((d, i) => exitValue(d, `driver ${i + 1} of ${entry}`)));
  exits.catch(() => {}); // awaited below
  const ready = waitFor(() => names.every((n) => rt.lookup(n) !== undefined), 'drivers to get ready');
  // A driver that fails during setup never gets ready: report its error rather than a timeout.
  await withTimeout(Promise.race([ready, exits.then(() => { throw new CheckFailed(`${entry}: drivers exited before "go"`); })]), ctx.timeoutMs, entry);
  // Spawns the runtime places on another worker are created asynchronously: when the drivers
  // set up `opts.processes` processes in all, wait until they all exist.
  const alive = async () => (await rt.stats()).reduce((a, s) => a + s.processes, 0);
  if (opts.processes !== undefined) await withTimeout(waitFor(async () => (await alive()) >= opts.processes!, 'setup processes'), ctx.timeoutMs, entry);
  const placement = (await rt.stats()).map((s) => s.processes);
  const cpu0 = process.cpuUsage();
  for (const d of drivers) rt.send(d.pid, 'go');
  let startAt: number | undefined;
  if (opts.startTogether !== undefined) {
    // Each driver registers `<its name>.warmed` after its untimed part and waits for "start": one
    // instant on the workers' clock (performance.timeOrigin + now(), as the Lua's now_us), a few
    // ms ahead, sent once every driver is there.
    const warmed = waitFor(() => names.every((n) => rt.lookup(`${n}.warmed`) !== undefined), 'drivers to warm up', ctx.timeoutMs);
    await withTimeout(Promise.race([warmed, exits.then(() => { throw new CheckFailed(`${entry}: drivers exited before "start"`); })]), ctx.timeoutMs, entry);
    startAt = Math.round((performance.timeOrigin + performance.now() + opts.startTogether) * 1000);
    for (const d of drivers) rt.send(d.pid, 'start', startAt);
  }
  const results = await withTimeout(exits, ctx.timeoutMs, entry);
  return { results, placement, cpuSeconds: cpuSecondsSince(cpu0), startAt };
}

/** Parks and notifies (doorbell wake-ups) of every thread so far, summed (Runtime.doorbell). */
export function bellCounts(rt: Runtime): { parks: number; wakes: number } {
  const d = rt.doorbell();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return { parks: sum(d.parks), wakes: sum(d.wakes) };
}

/** Poll `cond` every few milliseconds until it holds. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 600_000): Promise<void> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > ms) throw new CheckFailed(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Span in seconds of a set of driver results carrying t0/t1 in microseconds. */
export function spanSeconds(results: Array<{ t0: number; t1: number }>): number {
  let t0 = Infinity, t1 = -Infinity;
  for (const r of results) { t0 = Math.min(t0, r.t0); t1 = Math.max(t1, r.t1); }
  return (t1 - t0) / 1e6;
}

// ---- statistics and formatting ---------------------------------------------------------------

/** Nearest-rank percentile of ascending-sorted samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function sortedNumbers(xs: Iterable<number>): Float64Array {
  const a = Float64Array.from(xs);
  a.sort();
  return a;
}

export function fmtInt(n: number): string { return Math.round(n).toLocaleString('en-US'); }

/** "All workers" label: "2 workers" / "1 worker". */
export function workersLabel(n: number): string { return n === 1 ? '1 worker' : `${n} workers`; }

/** Split `total` into `parts` integer shares that add up to it. */
export function shares(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < total % parts ? 1 : 0));
}

/** The variants a workload runs on: 1 worker, and all workers when that is more than one. */
export function workerCounts(ctx: BenchContext): number[] {
  return ctx.allWorkers > 1 ? [1, ctx.allWorkers] : [1];
}

// The worker thread of a process host: one Lua kernel, driven by frames from other threads.
//
// Loop (run()). Each iteration drains every incoming ring (src/transport/endpoint.ts) plus what
// the event loop queued locally (stdin lines, self-sends, control), hands it to the kernel in one
// step, and publishes what the step produced: one batch per destination ring, one doorbell ring
// per destination. When the kernel has nothing runnable the worker spins briefly on its rings
// (adaptive, and only while spinning threads < free cores), then parks in Atomics.waitAsync on
// its doorbell until a producer rings, its earliest Lua timer is due, or an event-loop callback
// (stdin, a control message, a ring handover) interrupts the park. The event loop is never
// blocked for longer than one kernel step and one bounded spin, so timers and I/O keep working.
//
// Batching is the whole point: a cross-thread wake-up costs 11-30 µs here (measurements.md), so
// everything one step produces for a destination travels as one ring frame and one wake-up.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { createInterface, type Interface } from 'node:readline';
import { readFileSync } from 'node:fs';
import { compileFileText } from '../dialect/entry.js';
import { getHeapStatistics } from 'node:v8';
import { LuaKernel } from '../lua/engine.js';
import { Directory } from '../runtime/directory.js';
import { encodeValue } from '../codec/msgpack.js';
import { Endpoint, type RingHandover } from '../transport/endpoint.js';
import { TaskQueues } from '../scheduler/tasks.js';
import type { WorkerInit, ControlToWorker, ControlFromWorker, TestFault } from './protocol.js';

const init = workerData as WorkerInit;
const tid = init.tid;
const dir = new Directory(init.directory, tid);
const ports = new Map<number, MessagePort>();
for (const [peer, port] of Object.entries(init.ports)) ports.set(Number(peer), port as MessagePort);
// Spin floor for workers: 4096 checks (~30 µs). A peer's reply needs one kernel step on the other
// side (~30 µs measured) and a wake-up of a parked thread costs as much again, so with the
// doorbell's default floor (64 checks, the adaptive limit shrinks after every park) the two sides
// of a cross-worker ping-pong parked on every message: 118 µs per round trip on Node 24; with this
// floor 57 µs. Spinning still happens only while spinning threads < free cores.
// WIPPY_MIN_SPINS / WIPPY_MAX_SPINS override the limits (benchmark sweeps).
export const WORKER_MIN_SPINS = 4096;
const minSpins = Number(process.env["WIPPY_MIN_SPINS"]) || WORKER_MIN_SPINS;
const maxSpins = Math.max(minSpins, Number(process.env["WIPPY_MAX_SPINS"]) || 0);
const ep = new Endpoint(tid, init.doorbell, ports, { minSpins, maxSpins });

// ---- outgoing batches -------------------------------------------------------------------------
const outgoing = new Map<number, Uint8Array[]>();
const outBytes = new Map<number, number>();

function queueFrame(to: number, frame: Uint8Array): void {
  let list = outgoing.get(to);
  if (!list) { list = []; outgoing.set(to, list); outBytes.set(to, 0); }
  list.push(frame.slice()); // the view points into wasm memory: copy now
  outBytes.set(to, outBytes.get(to)! + frame.length);
}

function flush(): void {
  for (const [to, list] of outgoing) {
    if (list.length === 0) continue;
    const total = outBytes.get(to)!;
    const buf = new Uint8Array(total);
    let off = 0;
    for (const f of list) { buf.set(f, off); off += f.length; }
    list.length = 0;
    outBytes.set(to, 0);
    if (to === tid) incoming.push(buf);
    else ep.send(to, buf, true);
  }
  ep.flush();
}

// ---- stdin (terminal hosts) -----------------------------------------------------------------------
let rl: Interface | undefined;
const lineWaiters: Array<{ req: number; pid: string }> = [];
const bufferedLines: string[] = [];
let stdinClosed = false;

function answer(req: number, pid: string, value: string | null): void {
  incoming.push(encodeValue(['rep', pid, req, value ?? undefined]));
  wake();
}

function stdinRead(req: number, pid: string): void {
  if (bufferedLines.length > 0) { answer(req, pid, bufferedLines.shift()!); return; }
  if (stdinClosed) { answer(req, pid, null); return; }
  lineWaiters.push({ req, pid });
  if (!rl) {
    rl = createInterface({ input: process.stdin, terminal: false });
    rl.on('line', (line) => {
      const w = lineWaiters.shift();
      if (w) answer(w.req, w.pid, line); else bufferedLines.push(line);
    });
    rl.on('close', () => {
      stdinClosed = true;
      for (const w of lineWaiters.splice(0)) answer(w.req, w.pid, null);
    });
  }
}

// ---- the kernel ---------------------------------------------------------------------------------
// IANA zones for the Lua `time` module, through Intl: offset in seconds and, when Intl has a
// proper one (EST, CET, ...), the zone abbreviation.
const tzCache = new Map<string, Intl.DateTimeFormat | null>();
function tzOffset(name: string, secs: number): [number, string | undefined] | undefined {
  let f = tzCache.get(name);
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: '2-digit',
        day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
    } catch { f = null; }
    tzCache.set(name, f);
  }
  if (!f) return undefined;
  const parts = f.formatToParts(new Date(secs * 1000));
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  const abbr = parts.find((p) => p.type === 'timeZoneName')?.value;
  return [Math.round((asUtc - Math.floor(secs) * 1000) / 1000), abbr && /^[A-Z]{3,5}$/.test(abbr) ? abbr : undefined];
}

// Spawn placement: a new process stays on the spawner's worker unless that worker holds more than
// PLACE_SLACK processes above the least loaded worker of the host; then it goes there. Keeping
// small groups together keeps their messages inside one Lua state (no codec, no thread hop); the
// slack bounds the imbalance of a spawn burst (100k spawns from one process end up split ~50/50
// over 2 workers).
export const PLACE_SLACK = 16;
// Index-aligned with the host's run queues; a replacement worker takes the dead one's index
// (the 'wdown' control message). A dead worker stays listed until then; placement skips it.
const hostTids = init.hostTids;
function place(): number {
  let best = tid;
  let bestLoad = dir.load(tid) - PLACE_SLACK;
  for (const t of hostTids) {
    if (t === tid || dir.isDown(t)) continue;
    const l = dir.load(t);
    if (l < bestLoad) { best = t; bestLoad = l; }
  }
  if (best !== tid) dir.addLoad(best, 1);
  return best;
}

// ---- run queues (src/scheduler/tasks.ts) ----------------------------------------------------------
// Two rules decide what an idle worker takes from others.
// The busy rule: a sibling is robbed only while it is busy — inside one kernel step for more than
// STEAL_AFTER_MS (its heartbeat word has not moved for that long), or holding STEAL_BACKLOG queued
// spawns. A burst of short processes stays on the worker that spawned it (their messages and
// EXITs stay in one Lua state: ~10 µs round trips instead of ~57 µs across threads); a worker
// stuck in a long resume, or in a spawn loop, loses half its queue to an idle sibling.
// The balance rule: a worker's weight is its live processes plus its queued spawns. A thief robs
// a sibling only while its own weight + 1 is below the sibling's, and takes from the global queue
// only while its weight is within PLACE_SLACK of the lightest sibling's. Without it, an idle
// thief drained a spawn loop's queue faster than the spawner started its own share: 100k spawns
// landed 32/68 on Node 20.
export const STEAL_AFTER_MS = 1;
export const STEAL_BACKLOG = 32;
const myIndex = hostTids.indexOf(tid);
const seenBeat = hostTids.map(() => -1);
const seenAt = hostTids.map(() => 0);
function siblingBusy(i: number): boolean {
  const t = hostTids[i]!;
  // Pairs with Atomics.store(busy) / Atomics.add(heartbeat) in Directory.beat() on that worker.
  if (!dir.busy(t)) return false;
  const hb = dir.heartbeat(t);
  const now = performance.now();
  if (hb !== seenBeat[i]) { seenBeat[i] = hb; seenAt[i] = now; return false; }
  return now - seenAt[i]! > STEAL_AFTER_MS;
}
const weight = (i: number): number => dir.load(hostTids[i]!) + tasks!.queuedAt(i);
const tasks: TaskQueues | undefined = init.tasks ? new TaskQueues(init.tasks, myIndex, {
  canSteal: (i) => weight(myIndex) + 1 < weight(i) && (tasks!.queuedAt(i) >= STEAL_BACKLOG || siblingBusy(i)),
  canTakeGlobal: () => {
    const mine = weight(myIndex);
    for (let i = 0; i < hostTids.length; i++) if (i !== myIndex && weight(i) + PLACE_SLACK < mine) return false;
    return true;
  },
}) : undefined;

function taskPush(desc: Uint8Array, target: number): boolean {
  if (!tasks) return false;
  const i = target === tid ? myIndex : hostTids.indexOf(target);
  if (i < 0 || !tasks.push(desc, i)) return false;
  if (i !== myIndex) {
    ep.bell.ring(target); // placed on a sibling: wake it if it is parked
  } else {
    // The first queued spawn, or a backlog a sibling may steal at once (the busy rule): wake one
    // parked sibling. While any queue holds work, a parked worker looks again every
    // STEAL_AFTER_MS (run()), so it notices when this worker has been in one step for too long.
    const q = tasks.queuedAt(myIndex);
    if (q === 1 || q === STEAL_BACKLOG) {
      for (const t of hostTids) if (t !== tid && ep.bell.isParked(t)) { ep.bell.ring(t); break; }
    }
  }
  return true;
}

const kernel = await LuaKernel.create({
  pidAlloc: (owner) => dir.alloc(owner),
  place,
  loadAdd: (d, t) => dir.addLoad(t ?? tid, d),
  taskPush,
  taskTake: (steal) => tasks?.take(steal),
  flushNow: () => flush(),
  pidDead: (u) => dir.dead(u),
  route: (u) => [dir.owner(u), dir.isAlive(u)],
  setRunner: (u) => dir.setRunner(u),
  diesWith: (u, t) => dir.diesWith(u, t),
  post: queueFrame,
  write: (fd, bytes) => queueFrame(0, encodeValue(['w', fd, bytes.slice()])),
  stdinRead: (req, pid) => stdinRead(req, pid),
  // process.upgrade re-reads a Lua source: compiled like at load (typed Lua -> plain Lua)
  readFile: (path) => { try { return Buffer.from(compileFileText(path, readFileSync(path, 'utf8'))); } catch { return undefined; } },
  tzOffset,
}, init.cfg, init.entries);

let incoming: Uint8Array[] = [];
let nextTimer = -1;
let shuttingDown = false;
let stopped = false;
/** Dead threads whose "wdown" frame is in `incoming`: acknowledged after the step handling it. */
let wdownAcks: number[] = [];
/** A test fault to have inside the next step (Runtime.testFault). */
let testFault: TestFault | undefined;

/** An event-loop callback made work: end a pending park. */
function wake(): void {
  ep.bell.interrupt();
}

function concat(a: Uint8Array | null, parts: Uint8Array[]): Uint8Array | null {
  if (parts.length === 0) return a;
  let total = a ? a.length : 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  if (a) { out.set(a, 0); off = a.length; }
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

/** One kernel step over everything readable; true if runnable work remains. */
function runStep(): boolean {
  const batch = concat(ep.drain(), incoming);
  incoming = [];
  const acks = wdownAcks;
  wdownAcks = [];
  let r: { next: number; more: boolean };
  dir.beat(true);
  try {
    if (testFault === 'wedge') for (;;); // spins inside the step: busy, heartbeat frozen
    if (testFault === 'abort') kernel.abortForTest();
    r = kernel.step(batch);
  } catch (e) {
    // A fault that escaped the kernel's own protection (a wasm trap or abort in the Lua VM, an
    // out-of-memory, a bug in the kernel): the Lua state may be half-updated, so this worker must
    // not go on. It crashes; the main thread replaces it and tells everyone who watched its
    // processes (src/runtime/recovery.ts).
    stopped = true;
    const message = `kernel fault: ${(e as Error)?.message ?? String(e)}`;
    sendControl({ type: 'fatal', message });
    process.nextTick(() => { throw new Error(message); });
    return false;
  }
  flush();
  // Not busy only once the step's frames are in the rings: the main thread's stop reads "no live
  // process here and not inside a step" as "everything it wrote is readable" (Runtime.doStop).
  dir.beat(false);
  for (const t of acks) sendControl({ type: 'wdown-done', tid: t });
  nextTimer = r.next;
  // "down" only once every frame is in a ring: a batch still in the endpoint's local backlog (the
  // ring to its receiver was full, e.g. the terminal output of 3000 processes leaving at once)
  // would be lost when the main thread terminates this worker after "down". The park below arms
  // the backlog, so the step that finds it empty comes. Nor while spawns wait in the global queue or
  // a sibling's: the worker that may take them (the balance rule picks the lightest) would start
  // them after the main thread stopped reading, and a worker that said "down" is not asked again.
  if (shuttingDown && kernel.count() === 0 && !(tasks && (tasks.ownQueued() > 0 || tasks.queuedElsewhere())) && !ep.hasBacklog()) {
    shuttingDown = false;
    // On the port to the main thread, not parentPort: a ring this worker created for the main
    // thread during the last steps is handed over on that port, and messages on one port arrive
    // in order, so the main thread has attached every ring before it reads "down" and drains.
    ports.get(0)!.postMessage({ type: 'down' } satisfies ControlFromWorker);
  }
  return r.more;
}

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));
const hasWork = (): boolean => incoming.length > 0 || ep.hasInput();
// While spinning, the run queues are looked at every 64th check (a look is ~10 atomic loads).
let spinChecks = 0;
const hasWorkOrTasks = (): boolean => hasWork() || (tasks !== undefined && (++spinChecks & 63) === 0 && tasks.visible());

async function run(): Promise<void> {
  while (!stopped) {
    if (runStep() || hasWork()) {
      // Let the event loop breathe between busy steps (stdin, control, timers).
      await immediate();
      continue;
    }
    if (nextTimer >= 0 && nextTimer <= performance.now()) continue;
    if (tasks && tasks.visible()) { await immediate(); continue; }
    if (ep.bell.spin(hasWorkOrTasks)) continue;
    ep.bell.prepareToPark();
    if (hasWork() || (ep.hasBacklog() && ep.armBacklog())) { ep.bell.cancelPark(); continue; }
    let timeout = nextTimer >= 0 ? Math.max(0, nextTimer - performance.now()) : Infinity;
    // Queued spawns on a sibling: look again after STEAL_AFTER_MS (it may be stuck in one step).
    if (tasks && tasks.queuedElsewhere()) timeout = Math.min(timeout, STEAL_AFTER_MS);
    await ep.bell.parkAsync(timeout);
  }
}

/** Test-only faults (Runtime.testFault); never sent by the runtime itself. */
function testHook(fault: TestFault): void {
  if (fault === 'throw') setImmediate(() => { throw new Error('test fault: uncaught error in the worker'); });
  else if (fault === 'exit') process.exit(3);
  else { testFault = fault; wake(); } // 'abort', 'wedge': inside the next step
}

function sendControl(msg: ControlFromWorker): void {
  parentPort!.postMessage(msg);
}

function onControl(data: unknown): void {
  const c = data as ControlToWorker | RingHandover;
  switch (c.type) {
    case 'ring':
      ep.attach(c);
      wake();
      break;
    case 'shutdown':
      shuttingDown = true;
      incoming.push(encodeValue(['shutdown', c.graceMs]));
      wake();
      break;
    case 'kill_all':
      incoming.push(encodeValue(['kill_all']));
      wake();
      break;
    case 'wdown': {
      // Recovery step 6 (src/runtime/recovery.ts): what the dead thread published goes first,
      // then the kernel's "wdown" frame; both in this order in `incoming`.
      const last = ep.dropPeer(c.tid);
      if (last) incoming.push(last);
      incoming.push(encodeValue(['wdown', c.tid, c.message]));
      wdownAcks.push(c.tid);
      const p = c.peer;
      if (p) {
        p.port.on('message', onControl);
        ep.addPeer(p.tid, p.port);
        if (p.host === init.host && p.index >= 0 && p.index < hostTids.length) {
          hostTids[p.index] = p.tid;
          seenBeat[p.index] = -1;
        }
        incoming.push(encodeValue(['wup', p.tid, p.host]));
      }
      wake();
      break;
    }
    case 'test':
      testHook(c.fault);
      break;
    case 'stats':
      // A full JS collection first when asked and available (node --expose-gc): leak checks
      // compare live bytes, not V8's lazily collected heap.
      if (c.collect) (globalThis as { gc?: () => void }).gc?.();
      sendControl({ type: 'stats', id: c.id, processes: kernel.count(), heapBytes: kernel.heapBytes(),
        jsHeapBytes: getHeapStatistics().used_heap_size, wasmBytes: kernel.wasmBytes(),
        queue: tasks ? { ...tasks.counters } : { pushed: 0, own: 0, global: 0, stolen: 0 },
        ringBacklog: ep.backlogFrames(), mailbox: kernel.mailboxes() });
      break;
  }
}

for (const port of ports.values()) port.on('message', onControl);
parentPort!.on('message', onControl);
sendControl({ type: 'ready' });
void run();

// The worker thread of a process host: the entry point that wires one Lua kernel to the rest of
// the runtime, and answers the main thread's control messages.
//
// Owns: the wiring (the kernel's host functions, KernelHost in src/lua/engine.ts, mapped onto
// the directory, the endpoint, the run queues, placement, terminal I/O and time zones) and the
// control messages (src/host/protocol.ts). Each concept is its own file beside this one:
//   loop.ts       the step / spin / park loop and the worker's run state
//   placement.ts  where new processes go, and what an idle worker may take from its siblings
//   terminal.ts   stdin reads and terminal output frames
//   timezone.ts   IANA zone offsets for the Lua `time` module
// Shared memory: the directory (src/shm/directory.ts), the doorbells and rings (the endpoint,
// src/transport/endpoint.ts), the host's run queues (src/scheduler/tasks.ts); layouts in
// src/shm/layout.ts.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import { compileFileText } from '../dialect/entry.js';
import { getHeapStatistics } from 'node:v8';
import { LuaKernel } from '../lua/engine.js';
import { Directory } from '../shm/directory.js';
import { decodeValue, encodeValue } from '../codec/msgpack.js';
import { frame } from '../wire/frames.js';
import { Endpoint, type RingHandover } from '../transport/endpoint.js';
import { TaskQueues } from '../scheduler/tasks.js';
import { Placement, STEAL_AFTER_MS } from './placement.js';
import { Terminal } from './terminal.js';
import { tzOffset } from './timezone.js';
import { S_NOW, S_POST, S_ROUTE, stagesFromEnv } from './stages.js';
import { AWAIT_REPLY_MS, AWAIT_WORKER_MS, BLOCK_PARK_MS, WORKER_MIN_SPINS, WorkerLoop } from './loop.js';
import type { WorkerInit, ControlToWorker, ControlFromWorker, TestFault, QueueCounters } from './protocol.js';

const init = workerData as WorkerInit;
const tid = init.tid;
const dir = new Directory(init.directory, tid);
const ports = new Map<number, MessagePort>();
for (const [peer, port] of Object.entries(init.ports)) ports.set(Number(peer), port as MessagePort);
// WIPPY_MIN_SPINS / WIPPY_MAX_SPINS override the spin limits (benchmark sweeps; loop.ts).
const minSpins = Number(process.env["WIPPY_MIN_SPINS"]) || WORKER_MIN_SPINS;
const maxSpins = Math.max(minSpins, Number(process.env["WIPPY_MAX_SPINS"]) || 0);
const ep = new Endpoint(tid, init.doorbell, ports, { minSpins, maxSpins });

// Index-aligned with the host's run queues; a replacement worker takes the dead one's index
// (the 'wdown' control message). A dead worker stays listed until then; placement skips it.
// With the budget hook (a reduction or memory limit) a computing resume shares its worker's queue
// itself, and the thieves' stuck rule is off (src/host/placement.ts).
const hostCfg = (decodeValue(init.cfg) as { hosts: Record<string, { max_reductions?: number; max_memory_mb?: number }> }).hosts[init.host];
const hooked = (hostCfg?.max_reductions ?? 0) > 0 || (hostCfg?.max_memory_mb ?? 0) > 0;
const placement = new Placement(dir, tid, init.hostTids, undefined, hooked ? Infinity : STEAL_AFTER_MS);
const tasks: TaskQueues | undefined = init.tasks ? new TaskQueues(init.tasks, placement.me, placement) : undefined;
if (tasks) placement.attach(tasks);

function taskPush(desc: Uint8Array, target: number, tag?: number): boolean {
  if (!tasks) return false;
  const i = placement.indexOf(target);
  if (i < 0 || !tasks.push(desc, i, tag)) return false;
  const wake = placement.wakeAfterPush(i, (t) => ep.bell.isParked(t));
  if (wake >= 0) ep.bell.ring(wake);
  return true;
}

let loop: WorkerLoop | undefined;
// WIPPY_STAGES=DIR: stage stamps of every step (src/host/stages.ts), the host calls' included.
const stages = stagesFromEnv(tid);
const terminal = new Terminal((frame) => loop!.deliver(frame));

const routed: [number, boolean] = [-1, false];
const kernel = await LuaKernel.create({
  pidAlloc: (owner) => dir.alloc(owner),
  place: () => placement.place(),
  loadAdd: (d, t) => dir.addLoad(t ?? tid, d),
  taskPush,
  taskTake: (steal, copy) => copy ? tasks?.take(steal) : tasks?.takeTagged(steal),
  taskListed: (n) => { dir.setListed(n); return placement.siblingLighter(); },
  pidDead: (u) => dir.dead(u),
  // One pair, refilled per call (KernelHost.route: read at once): no allocation per cross-worker send.
  route: stages ? (u) => { stages.mark(S_ROUTE); routed[0] = dir.owner(u); routed[1] = dir.isAlive(u); return routed; }
    : (u) => { routed[0] = dir.owner(u); routed[1] = dir.isAlive(u); return routed; },
  setRunner: (u) => dir.setRunner(u),
  diesWith: (u, t) => dir.diesWith(u, t),
  killRequested: (u) => dir.killRequested(u),
  post: stages ? (to, bytes) => { stages.mark(S_POST); ep.post(to, bytes); } : (to, bytes) => ep.post(to, bytes), // a view into wasm memory: post() copies it at once
  // the frames a step returns, as ranges of the wasm heap: copied without a view (Endpoint.postRange)
  postRange: stages ? (to, heap, start, end, frames) => { stages.mark(S_POST); ep.postRange(to, heap, start, end, frames); }
    : (to, heap, start, end, frames) => ep.postRange(to, heap, start, end, frames),
  write: (fd, bytes) => ep.post(0, Terminal.output(fd, bytes.slice())),
  stdinRead: (req, pid, mode, n) => terminal.read(req, pid, mode, n),
  // process.upgrade re-reads a Lua source: compiled like at load (typed Lua -> plain Lua)
  readFile: (path) => { try { return Buffer.from(compileFileText(path, readFileSync(path, 'utf8'))); } catch { return undefined; } },
  tzOffset,
  ...(stages ? { now: () => { stages.mark(S_NOW); return performance.now(); } } : {}),
}, init.cfg, init.entries);

// The rings drain straight into the kernel's input area (one copy less per frame; endpoint.ts).
ep.useInputArea(kernel.inputArea);

function sendControl(msg: ControlFromWorker): void {
  parentPort!.postMessage(msg);
}

// WIPPY_BLOCK_PARK_MS sets the brief blocking park (default BLOCK_PARK_MS, 0: waitAsync only; loop.ts).
const blockEnv = process.env["WIPPY_BLOCK_PARK_MS"];
// WIPPY_AWAIT_REPLY_US sets the reply wait's window (default AWAIT_REPLY_MS, 0: off; loop.ts).
const awaitEnv = process.env["WIPPY_AWAIT_REPLY_US"];
// WIPPY_AWAIT_WORKER_US sets it after a step that sent to another worker (default: as
// WIPPY_AWAIT_REPLY_US, else AWAIT_WORKER_MS; loop.ts).
const awaitWorkerEnv = process.env["WIPPY_AWAIT_WORKER_US"] || awaitEnv;
loop = new WorkerLoop(kernel, ep, dir, tasks, ports.get(0)!, sendControl, blockEnv ? Number(blockEnv) : BLOCK_PARK_MS,
  awaitEnv ? Number(awaitEnv) / 1000 : AWAIT_REPLY_MS, awaitWorkerEnv ? Number(awaitWorkerEnv) / 1000 : AWAIT_WORKER_MS);
loop.stages = stages;

/** Frames this worker has posted, per destination thread id (Runtime.stats() `sent`). */
function sentByThread(): Record<number, number> {
  const out: Record<number, number> = {};
  ep.sentFrames.forEach((n, to) => { out[to] = n; });
  return out;
}

/**
 * The run-queue counters (Runtime.stats() `queue`): the shared queues' (tasks.ts) plus the
 * kernel's Lua-side list (src/lua/kernel/taskq.lua), whose spawns are queued and started too.
 */
function queueCounters(): QueueCounters {
  if (!tasks) return { pushed: 0, own: 0, global: 0, stolen: 0, shared: 0, kept: 0, back: 0 };
  const c = tasks.counters;
  const lq = kernel.localQueue();
  const kept = lq.queued - lq.published;
  return { pushed: c.pushed + kept, own: c.own + lq.started, global: c.global, stolen: c.stolen, shared: c.shared, kept, back: tasks.back };
}

/** Test-only faults (Runtime.testFault); never sent by the runtime itself. */
function testHook(fault: TestFault): void {
  if (fault === 'throw') setImmediate(() => { throw new Error('test fault: uncaught error in the worker'); });
  else if (fault === 'exit') process.exit(3);
  else loop!.faultInNextStep(fault); // 'abort', 'wedge': inside the next step
}

function onControl(data: unknown): void {
  const c = data as ControlToWorker | RingHandover;
  const l = loop!;
  switch (c.type) {
    case 'ring':
      ep.attach(c);
      l.wake();
      break;
    case 'shutdown':
      l.shutdown();
      l.deliver(encodeValue(frame.shutdown(c.graceMs)));
      break;
    case 'wdown': {
      // Recovery step 6 (src/runtime/recovery.ts): what the dead thread published goes first,
      // then the kernel's "wdown" frame; both in this order in the local input.
      const last = ep.dropPeer(c.tid);
      if (last) ep.deliverLocal(last);
      ep.deliverLocal(encodeValue(frame.wdown(c.tid, c.message)));
      l.ackAfterStep(c.tid);
      const p = c.peer;
      if (p) {
        p.port.on('message', onControl);
        ep.addPeer(p.tid, p.port);
        if (p.host === init.host) placement.replaced(p.index, p.tid);
        ep.deliverLocal(encodeValue(frame.wup(p.tid, p.host)));
      }
      l.wake();
      break;
    }
    case 'test':
      testHook(c.fault);
      break;
    case 'live':
      sendControl({ type: 'live', ...kernel.live(c.limit) });
      break;
    case 'stats':
      // A full JS collection first when asked and available (node --expose-gc): leak checks
      // compare live bytes, not V8's lazily collected heap.
      if (c.collect) (globalThis as { gc?: () => void }).gc?.();
      {
        const r = kernel.report(c.table ? c.table.limit : -1, c.table?.sort ?? '');
        sendControl({ type: 'stats', processes: r.live, heapBytes: kernel.heapBytes(c.quick === true),
          jsHeapBytes: getHeapStatistics().used_heap_size, wasmBytes: kernel.wasmBytes(),
          queue: queueCounters(),
          ringBacklog: ep.backlogFrames(), mailbox: c.counts ? { unread: 0, largest: 0 } : kernel.mailboxes(), started: r.started, delivered: r.delivered,
          rows: r.rows, sent: sentByThread() });
      }
      break;
  }
}

for (const port of ports.values()) port.on('message', onControl);
parentPort!.on('message', onControl);
sendControl({ type: 'ready' });
void loop.run();

// The loop of a host worker: one Lua kernel, driven by frames from other threads.
//
// Owns: the step (drain, kernel.step, flush), the idle path (spin, then park), the worker's run
// state (next timer, shutting down, stopped by a fault, recovery acknowledgements owed, test
// faults) and the "down" report at shutdown. May call: the kernel (src/lua/engine.ts), the
// endpoint (src/transport/endpoint.ts), the directory (src/shm/directory.ts) and the run queues
// (src/scheduler/tasks.ts). The wiring and the control messages are in src/host/worker.ts.
//
// Loop (run()). Each iteration drains every incoming ring plus what the event loop queued locally
// (stdin lines, self-sends, control), hands it to the kernel in one step, and publishes what the
// step produced: one batch per destination ring, one doorbell ring per destination (the
// endpoint's batching). When the kernel has nothing runnable the worker spins briefly on its rings
// (adaptive, and only while spinning threads < free cores; longer after a step that sent frames to
// another thread: the reply wait, below), then parks on its doorbell — first
// blocking in Atomics.wait for up to BLOCK_PARK_MS (off by default), then in Atomics.waitAsync —
// until a producer rings, its earliest Lua timer is due, or an event-loop callback (stdin, a control message, a
// ring handover) interrupts the park (wake()). Busy steps run back to back; the event loop runs
// at least every BREATHE_MS (held at most that long plus one kernel step and one bounded spin or
// brief park), so timers and I/O keep working.
import type { MessagePort } from 'node:worker_threads';
import type { LuaKernel } from '../lua/engine.js';
import type { Directory } from '../shm/directory.js';
import type { Endpoint } from '../transport/endpoint.js';
import { SPIN_REFUSED, SPIN_RULED, SpinWindow } from '../transport/doorbell.js';
import type { TaskQueues } from '../scheduler/tasks.js';
import { STEAL_AFTER_MS } from './placement.js';
import type { ControlFromWorker, DownReport, TestFault } from './protocol.js';
import { HOW_AWAIT, HOW_BREATHE, HOW_PARK, HOW_PARK_REFUSED, HOW_PARK_RULED, HOW_SPIN, S_BYTES, S_SENT, S_STEP, S_STEP_END, type StageStamps } from './stages.js';

// Spin floor for workers: 4096 checks (~30 µs). A peer's reply needs one kernel step on the other
// side (~30 µs measured) and a wake-up of a parked thread costs as much again, so with the
// doorbell's default floor (64 checks, the adaptive limit shrinks after every park) the two sides
// of a cross-worker ping-pong parked on every message: 118 µs per round trip on Node 24; with this
// floor 57 µs. Spinning still happens only while spinning threads < free cores.
export const WORKER_MIN_SPINS = 4096;

// The brief blocking park. A parked worker waits in Atomics.waitAsync, so its event loop keeps
// running; but a notify then reaches it through that event loop: V8 posts a task to the thread's
// platform queue, Node wakes the loop through its async handle, the task resolves a promise and a
// microtask resumes this loop. Atomics.wait is woken by the notify itself. So a
// worker may first block in Atomics.wait for up to BLOCK_PARK_MS, then go on with waitAsync.
// Two plain threads: 27-33 µs of CPU per round trip with Atomics.wait, 48-54 with waitAsync
// (native-bench/wake-latency.ts, load average 15). But in the runtime, on this shared 2-core VM at
// load average 20-30, it saved nothing: cross-worker ping-pong 214 vs 227 CPU µs per round trip
// (Node 24, 3 interleaved rounds, range 0.81-1.28×) on top of the free-cores rule, and 399 -> 512
// without it. So it is off (0) by default; WIPPY_BLOCK_PARK_MS=1 turns it on, to be measured on a
// quiet machine, where a wake-up is not mostly waiting for a core.
// What waits meanwhile is event-loop input only — control messages, ring handovers, stdin, JS
// timers — for at most BLOCK_PARK_MS (Lua timers bound the park as before). A wake-up that
// brings no ring input was for such a message (a ring handover is followed by a ring), so the
// next park is a waitAsync one. And whatever the peers do, the loop awaits the event loop at
// least every BREATHE_MS: a peer that answers within every spin or brief park would otherwise
// keep it from ever awaiting (that was so before the brief park too: spin, step, spin, step).
// Rejected: blocking without a bound (control messages and handovers would wait for the next
// ring), and ringing the doorbell after every control message (every sender of one would have
// to remember it; the bound makes it unnecessary).
export const BLOCK_PARK_MS = 0;
/** The longest the loop runs steps, spins and brief parks without letting the event loop run. */
export const BREATHE_MS = 2;

// The reply wait. A step that sent frames to another thread and left nothing runnable here is
// usually one side of a request and its answer (a ping-pong across workers, a call, an exec):
// the answer needs the peer's kernel step (15-25 µs measured with the budget hook, Node 24) and,
// if the peer was parked, its wake-up (30-80 µs under load). The adaptive spin (WORKER_MIN_SPINS,
// ~30 µs) ended before most answers, so both sides parked and every message paid a wake-up:
// measured 0.63-0.92 parks per step on each side of a cross-worker ping-pong. So after such a
// step the worker spins up to a window more (Doorbell.spin's await phase: only while spinning
// threads ≤ free cores, looked at again every 64 checks). The window adapts (SpinWindow,
// src/transport/doorbell.ts): an answer within it restores AWAIT_REPLY_MS; a window that ended
// empty is judged once the park after it ends: an answer within AWAIT_SOON × the window of the
// wait's start doubles it (a little longer would have saved the wake-up), a later one halves it,
// down to AWAIT_FLOOR_MS (a stream of sends that are never answered, or answers that take a
// wake-up of a peer without a core, cost each step at most that much spinning).
// WIPPY_AWAIT_REPLY_US sets the longest window (0: off, as before).
export const AWAIT_REPLY_MS = 0.2;
// The window's maximum after a step that sent to another worker (a cross-worker request: a
// ping-pong, a call), apart from AWAIT_REPLY_MS, the one after a step that answered the main
// thread only (the job runner, whose next job is the main thread's, not an answer). The same
// 0.2 ms by default; WIPPY_AWAIT_WORKER_US sets it, for the measurement it still needs. On a
// quiet machine (load average 1.5-2, Node 24, the stage stamps of bench/run.ts --quick --only
// ping-pong --workers 2, two pairs of runs) with 0.2 ms 1.8-3.9% of the cross-worker ping-pong's
// message steps came by a park, every one after a window that ran out (none refused by the spin
// rule), at 23-25k round trips/s; with 1 ms 0.3-0.6% and 31-39k: the answers that missed came
// within a millisecond. But an interleaved bench/ab.ts (2 rounds, load average 3-4) read 1 ms at
// 0.75x the round trips/s (0.70-0.80) and 0.77x the CPU per round trip: once the machine is not
// quiet the longer spin costs. To be settled on the quiet machine (docs/design/scheduler.md).
export const AWAIT_WORKER_MS = AWAIT_REPLY_MS;
const AWAIT_FLOOR_MS = 0.02;
const AWAIT_SOON = 2;

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

export class WorkerLoop {
  /** Deadline (performance.now() ms) of the kernel's earliest timer, or -1. */
  private nextTimer = -1;
  private shuttingDown = false;
  private stopped = false;
  /** Dead threads whose "wdown" frame is in the local input: acknowledged after the step handling it. */
  private wdownAcks: number[] = [];
  /** A test fault to have inside the next step (Runtime.testFault). */
  private testFault: TestFault | undefined;
  /** While spinning, the run queues are looked at every 64th check (a look is ~10 atomic loads). */
  private spinChecks = 0;
  /** When the loop last let the event loop run (performance.now() ms). */
  private breathedAt = 0;
  /** The last brief park was rung but found no ring input: park with waitAsync next. */
  private asyncNext = false;
  /** A step sent frames to another thread and no input came since (the reply wait, above). */
  private sentAway = false;
  /** The reply wait's window, adapted between AWAIT_FLOOR_MS and the maximum (SpinWindow). */
  private readonly window: SpinWindow;
  /** The window after a step that sent to another worker (AWAIT_WORKER_MS); `waiting` is the one in use. */
  private readonly workerWindow: SpinWindow;
  private waiting: SpinWindow | undefined;
  /** When a reply wait that ended empty began (performance.now() ms), until the park after it ends; else -1. */
  private missedSince = -1;
  /** Stage stamps (src/host/stages.ts; WIPPY_STAGES), or undefined. */
  stages: StageStamps | undefined;

  /**
   * `toMain`: the port to the main thread (the "down" report goes there, after the ring handovers
   * on the same port). `sendControl`: the parent port (ready, fatal, wdown-done, stats).
   */
  constructor(
    private readonly kernel: LuaKernel,
    private readonly ep: Endpoint,
    private readonly dir: Directory,
    private readonly tasks: TaskQueues | undefined,
    private readonly toMain: MessagePort,
    private readonly sendControl: (msg: ControlFromWorker) => void,
    /** The brief blocking park's length in ms (BLOCK_PARK_MS; 0: always waitAsync). */
    private readonly blockMs = BLOCK_PARK_MS,
    /** The reply wait's longest window in ms (AWAIT_REPLY_MS; 0: off). */
    private readonly awaitMaxMs = AWAIT_REPLY_MS,
    /** The same after a step that sent to another worker (AWAIT_WORKER_MS; 0: as awaitMaxMs). */
    awaitWorkerMs = AWAIT_WORKER_MS,
  ) {
    this.window = new SpinWindow(Math.min(AWAIT_FLOOR_MS, awaitMaxMs), awaitMaxMs, false, AWAIT_SOON);
    const w = awaitWorkerMs > 0 && awaitMaxMs > 0 ? awaitWorkerMs : awaitMaxMs;
    this.workerWindow = w === awaitMaxMs ? this.window : new SpinWindow(Math.min(AWAIT_FLOOR_MS, w), w, false, AWAIT_SOON);
  }

  /** An event-loop callback made work: end a pending park. */
  wake(): void {
    this.ep.bell.interrupt();
  }

  /** Queue encoded frames for the next step (after what the rings hold) and end a pending park. */
  deliver(bytes: Uint8Array): void {
    this.ep.deliverLocal(bytes);
    this.wake();
  }

  /** The shutdown began: report "down" once nothing is left here (see step()). */
  shutdown(): void {
    this.shuttingDown = true;
    this.stages?.dump();
  }

  /** Answer 'wdown-done' for dead thread `tid` after the next step (its "wdown" frame is queued). */
  ackAfterStep(tid: number): void {
    this.wdownAcks.push(tid);
  }

  /** Have test fault `fault` inside the next step ('abort', 'wedge'). */
  faultInNextStep(fault: TestFault): void {
    this.testFault = fault;
    this.wake();
  }

  /** One kernel step over everything readable; true if runnable work remains. */
  step(): boolean {
    const { ep, dir, kernel, tasks, stages } = this;
    stages?.begin();
    // (the batch's length only: the kernel reads it where the endpoint put it, its input area)
    const len = ep.drainLength();
    if (stages) { stages.mark(S_STEP); stages.set(S_BYTES, len); }
    // (swapped only when there are some: a step allocates nothing here)
    const acks = this.wdownAcks;
    if (acks.length > 0) this.wdownAcks = [];
    let more: boolean;
    dir.beat(true);
    try {
      if (this.testFault === 'wedge') for (;;); // spins inside the step: busy, heartbeat frozen
      if (this.testFault === 'abort') kernel.abortForTest();
      more = ep.drainsToArea ? kernel.stepInArea(len) : kernel.step(len === 0 ? null : ep.lastBatch(len));
    } catch (e) {
      // A fault that escaped the kernel's own protection (a wasm trap or abort in the Lua VM, an
      // out-of-memory, a bug in the kernel): the Lua state may be half-updated, so this worker must
      // not go on. It crashes; the main thread replaces it and tells everyone who watched its
      // processes (src/runtime/recovery.ts).
      this.stopped = true;
      const message = `kernel fault: ${(e as Error)?.message ?? String(e)}`;
      this.sendControl({ type: 'fatal', message });
      process.nextTick(() => { throw new Error(message); });
      return false;
    }
    stages?.mark(S_STEP_END);
    // Still waiting after a step that had no input (a breathe, a due timer): the answer has not come.
    const nsent = ep.flush();
    const sent = nsent > 0;
    if (stages) { stages.set(S_SENT, nsent); stages.end(); }
    this.sentAway = sent || (this.sentAway && len === 0);
    if (sent) this.waiting = ep.sentToWorkers > 0 ? this.workerWindow : this.window;
    // Not busy only once the step's frames are in the rings: the main thread's stop reads "no live
    // process here and not inside a step" as "everything it wrote is readable" (Runtime.doStop).
    dir.beat(false);
    for (let i = 0; i < acks.length; i++) this.sendControl({ type: 'wdown-done', tid: acks[i]! });
    this.nextTimer = kernel.nextDeadline;
    // "down" only once every frame is in a ring: a batch still in the endpoint's local backlog (the
    // ring to its receiver was full, e.g. the terminal output of 3000 processes leaving at once)
    // would be lost when the main thread terminates this worker after "down". The park below arms
    // the backlog, so the step that finds it empty comes. Nor while spawns wait in the global queue or
    // a sibling's: the worker that may take them (the balance rule picks the lightest) would start
    // them after the main thread stopped reading, and a worker that said "down" is not asked again.
    // Nor while the kernel has work left (more): spawns in its Lua-side list (kernel/taskq.lua).
    if (this.shuttingDown && kernel.count() === 0 && !more && !(tasks && (tasks.ownQueued() > 0 || tasks.queuedElsewhere())) && !ep.hasBacklog()) {
      this.shuttingDown = false;
      // On the port to the main thread, after the ring handovers (DownReport, src/host/protocol.ts).
      this.toMain.postMessage({ type: 'down' } satisfies DownReport);
    }
    return more;
  }

  private readonly hasWorkOrTasks = (): boolean =>
    this.ep.hasInput() || (this.tasks !== undefined && (++this.spinChecks & 63) === 0 && this.tasks.visible());

  /** Let the event loop run (stdin, control messages, ring handovers, JS timers). */
  private async breathe(): Promise<void> {
    await immediate();
    this.breathedAt = performance.now();
    if (this.stages) this.stages.how = HOW_BREATHE;
  }

  /** Step, spin, park; until a kernel fault stops the worker. */
  async run(): Promise<void> {
    const { ep, tasks } = this;
    const bell = ep.bell;
    this.breathedAt = performance.now();
    while (!this.stopped) {
      // A reply wait ended empty and the park (or the re-check) after it has ended: judge the window.
      if (this.missedSince >= 0) { this.waiting!.missed(performance.now() - this.missedSince); this.missedSince = -1; }
      // Busy: the next step at once, letting the event loop run (stdin, control, timers) once
      // BREATHE_MS have passed since it last did. Input that came during the step (a peer's
      // answer) is stepped at once too. An event-loop turn between every two steps cost a job
      // arriving during the previous job's step ~8 µs of its 85–130 µs round trip (one job in
      // flight, Node 24): the job runner's one-at-a-time latency.
      const busy = this.step() || ep.hasInput();
      const now = performance.now();
      if (busy || (tasks && tasks.visible())) {
        if (now - this.breathedAt > BREATHE_MS) await this.breathe();
        continue;
      }
      if (this.nextTimer >= 0 && this.nextTimer <= now) continue;
      // A peer that answers every step within the spin (or the brief park below) would otherwise
      // keep this loop from ever awaiting: control messages and ring handovers would wait forever.
      if (now - this.breathedAt > BREATHE_MS) { await this.breathe(); continue; }
      if (this.sentAway && this.awaitMaxMs > 0) {
        // The reply wait (above): the window adapts to whether answers come within it.
        const since = performance.now();
        const window = this.waiting ?? this.window;
        this.waiting = window;
        if (bell.spin(this.hasWorkOrTasks, window.ms)) {
          window.hit(performance.now() - since);
          if (this.stages) this.stages.how = HOW_AWAIT;
          continue;
        }
        this.missedSince = since;
      } else if (bell.spin(this.hasWorkOrTasks)) { if (this.stages) this.stages.how = HOW_SPIN; continue; }
      if (!ep.prepareToPark()) continue;
      // C2 for this worker's own run queues (the endpoint re-checked its rings): a spawn placed
      // here — a job from the main thread, a sibling's share — is published (InjectQueue.push's
      // Atomics.store) before its pusher rings (Atomics.load of our park state), so either this
      // load sees it or the pusher sees PARKED and notifies (src/transport/doorbell.ts). Without
      // it, one pushed between the visible() above and the park waited for an unrelated wake-up.
      if (tasks && tasks.ownQueued() > 0) { ep.bell.cancelPark(); continue; }
      let timeout = this.nextTimer >= 0 ? Math.max(0, this.nextTimer - performance.now()) : Infinity;
      // Queued spawns on a sibling: look again after STEAL_AFTER_MS (it may be stuck in one step).
      // Looked at after prepareToPark, never before: a sibling whose queue goes from empty to one
      // from now on sees this worker parked and rings it (Placement.wakeAfterPush); one that had
      // work already is seen here.
      if (tasks && tasks.queuedElsewhere()) timeout = Math.min(timeout, STEAL_AFTER_MS);
      // The brief blocking park (BLOCK_PARK_MS, above): only while the event loop has nothing
      // waiting that this thread could know of — not after a wake-up that brought no ring input
      // (a ring handover or a control message rang it: those are event-loop messages).
      if (this.blockMs > 0 && !this.asyncNext) {
        // A timer due within the window: one blocking park until it.
        if (timeout <= this.blockMs) { this.asyncNext = bell.park(timeout) !== 'timed-out' && !ep.hasInput(); continue; }
        if (bell.parkBriefly(this.blockMs) !== 'timed-out') { this.asyncNext = !ep.hasInput(); continue; }
        timeout -= this.blockMs;
      }
      this.asyncNext = false;
      // (the stage stamps tell a park the spin rule caused from one after a wait that ran out)
      const spinEnd = bell.spinEnd;
      await bell.parkAsync(timeout);
      this.breathedAt = performance.now();
      if (this.stages) this.stages.how = spinEnd === SPIN_REFUSED ? HOW_PARK_REFUSED : spinEnd === SPIN_RULED ? HOW_PARK_RULED : HOW_PARK;
    }
  }
}

// The main thread's side of the transport: its endpoint, the batches it sends, and the receive
// loop that reads what the workers send it.
//
// Owns: the main thread's Endpoint (src/transport/endpoint.ts: rings, doorbell, batching, the
// park re-check), the end-of-turn flush, and the containment of what the workers send: a frame
// that does not decode, or whose handling throws, is logged and dropped, never thrown out of the
// loop. May call: the endpoint, the codec, the wire decoders, and the handler it is given (the
// runtime's frame dispatch).
//
// Sending. post() encodes a frame into the destination's batch; the batches go out once at the
// end of the current turn (one microtask), so everything the main thread sends in one turn
// reaches each worker as one ring frame and one wake-up. A job's spawn frame ("sp", "spj") is
// written by src/runtime/spawn-frame.ts (the same bytes, a third of encodeValue's time).
//
// Receiving (run()): drain every ring, hand each frame to the handler, and when nothing is left
// park on the doorbell until a worker rings (the doorbell protocol: prepareToPark re-checks every
// ring after announcing the park, so no ring is missed).
//
// The result spin. While JS awaits jobs (`awaiting()`: the job runner has one running) and a core
// is free (the spin rule of src/transport/doorbell.ts: spinning threads < free cores, the cores
// the machine's other processes leave us), the loop spins on its rings before it parks: first one
// event-loop turn (setImmediate), so the continuations of what it just handled run — they submit
// the next job — then Doorbell.spin until a result comes or the spin's deadline passes (adaptive,
// RESULT_SPIN_MIN_US to RESULT_SPIN_MAX_US).
// A result caught in the spin costs no wake-up on either side: the worker that sends it finds this
// thread RUNNING and skips the Atomics.notify, and this thread skips the wake-up of a waitAsync park
// (the notify reaches it through its event loop: V8 posts a task, Node wakes the loop through an
// async handle, the task resolves a promise). Measured at one job in flight, 2 workers (Node 24,
// load average 4–5, time stamps per stage, medians of 3,000 jobs): the worker's end of step → this
// thread's wake-up 22–35 µs of an 85–130 µs round trip. The event loop is held for one spin at
// most (≤ RESULT_SPIN_MAX_US); a spin that misses shortens the next one. Otherwise — nothing
// awaited, or no free core — the main thread never spins: it is the CLI / embedding thread, and a
// spin there would take a core from the workers. Its gain is on a machine with a free core, with
// the worker that answered spinning too (src/host/loop.ts: the reply wait after a step that sent
// to another thread, this one included), so that neither side parks: one job in flight, 2 workers, Node 24, load average 3–4,
// 3,000 jobs per run: p50 37–52 µs in 5 of 6 runs (128 in the sixth), the main thread parking for
// 0.19–0.38 of the jobs, against 98–167 µs and 1.00 parks per job without either spin. Under load
// the rule refuses it; forced on there (WIPPY_FREE_CORES=0, load average 20) it missed nearly every
// time and cost latency, the worker it waited for sharing its core; with the rule on, at load
// average 14–16 (Node 20, without the worker's longer spin), on ÷ off was 0.80–0.93× (ranges
// 0.38–1.35). WIPPY_RESULT_SPIN=0 turns it off (the runtime then passes no `awaiting`).
// Rejected: spinning right after a batch, before yielding (the awaited job's continuation, which
// submits the next job, runs only once this loop awaits: the spin would wait for a job that cannot
// come), and blocking in Atomics.wait (the embedding thread's event loop must keep running).
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { encodeValue, decodeFrames } from '../codec/msgpack.js';
import { Endpoint } from '../transport/endpoint.js';
import { SpinWindow } from '../transport/doorbell.js';
import { kindOf, type AnyFrame } from '../wire/frames.js';
import { SpawnFrameWriter } from './spawn-frame.js';

/** The result spin's floor and ceiling (µs); it starts at the ceiling. */
export const RESULT_SPIN_MIN_US = 5;
export const RESULT_SPIN_MAX_US = 100;
/**
 * The main thread's doorbell spin limit, in checks: a backstop only (~1 ms at ~60 ns per check:
 * the rings' tails and the clock); the result spin ends at its deadline.
 */
const MAIN_SPIN_CHECKS = 16_384;

const immediate = () => new Promise<void>((resolve) => setImmediate(resolve));

export class MainLoop {
  readonly ep: Endpoint;
  private flushScheduled = false;
  private closed = false;

  /**
   * `ports`: one per worker thread id (shared with the caller, which adds replacements).
   * `awaiting`: does JS await a result from the workers (a running job)? (the result spin)
   */
  constructor(doorbell: SharedArrayBuffer, ports: Map<number, MessagePort>, private readonly log: () => Logger,
    private readonly handle: (raw: unknown) => void, private readonly awaiting: () => boolean = () => false) {
    this.ep = new Endpoint(0, doorbell, ports, { minSpins: MAIN_SPIN_CHECKS, maxSpins: MAIN_SPIN_CHECKS });
  }

  /**
   * The result spin's length, adapted to how long results took (Doorbell's SpinWindow, tracking:
   * a result after `waited` pulls it towards 2 × waited; a miss that a result followed within
   * RESULT_SPIN_MAX_US of the spin's start doubles it, a longer miss halves it).
   */
  private readonly window = new SpinWindow(RESULT_SPIN_MIN_US / 1000, RESULT_SPIN_MAX_US / 1000, true);
  private spinDeadline = 0;
  private readonly spinCheck = (): boolean => this.ep.hasInput() || performance.now() >= this.spinDeadline;

  /** Spin for a result (the header's result spin); true if one came. The window is the spin's deadline. */
  private spinForResult(): boolean {
    const since = performance.now();
    this.spinDeadline = since + this.window.ms;
    if (!this.ep.bell.spin(this.spinCheck) || !this.ep.hasInput()) return false;
    this.window.hit(performance.now() - since);
    return true;
  }

  /** A spin that missed began at `since`; the park after it ended now (with input or not). */
  private missed(since: number): void {
    this.window.missed(performance.now() - since);
  }

  /** Writes the per-job spawn frames ("sp", "spj") without encoding them whole (spawn-frame.ts). */
  private readonly spawnFrames = new SpawnFrameWriter();

  /** Queue `frame` for thread `tid`; the batch goes out at the end of this turn (one microtask). */
  post(tid: number, frame: AnyFrame): void {
    const k = frame[0];
    // a job's spawn frame: copied from the writer's buffer by range (no view per job)
    const n = (k === 'spj' || k === 'sp') ? this.spawnFrames.write(frame) : -1;
    if (n >= 0) this.ep.postRange(tid, this.spawnFrames.buffer, 0, n);
    else this.ep.post(tid, encodeValue(frame));
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const ep = this.ep;
    ep.flush();
    // A batch that did not fit waits in the ring's local queue; the receive loop (probably parked)
    // must run to ask the receiver for a wake-up when space frees, so end its park now.
    if (ep.hasBacklog()) ep.bell.interrupt();
  };

  /** Handle everything readable now; false if nothing was. */
  drainOnce(): boolean {
    const ep = this.ep;
    const batch = ep.drain();
    if (!batch) return false;
    this.handleBatch(batch, (at) => ep.senderAt(at));
    return true;
  }

  /**
   * Handle a batch of frames from the workers (`from`: the sending thread of the byte at an
   * offset). Nothing a worker sends may throw out of the receive loop: a bad frame is logged and
   * dropped, and so is a frame whose handling fails.
   */
  handleBatch(batch: Uint8Array, from: (at: number) => number): void {
    const frames = decodeFrames(batch, (err, at) =>
      this.log().error({ from: from(at), offset: at, bytes: batch.length, err: err.message }, 'malformed frame dropped'));
    for (const raw of frames) {
      try { this.handle(raw); } catch (err) {
        this.log().error({ frame: kindOf(raw) ?? typeof raw, err: (err as Error).message }, 'frame handling failed');
      }
    }
  }

  /** The receive loop: drain the rings, handle frames, (spin,) park until rung; until close(). */
  async run(): Promise<void> {
    const ep = this.ep;
    const bell = ep.bell;
    // A batch came while a job was awaited: it may have settled the job, and the job's
    // continuation may submit the next one (awaiting() is false until it does).
    let handled = false;
    while (!this.closed) {
      const awaited = this.awaiting();
      if (this.drainOnce()) { handled ||= awaited; continue; }
      if (ep.hasBacklog()) ep.flush();
      let spun = -1;
      if ((handled || this.awaiting()) && bell.maySpin()) {
        handled = false;
        await immediate();
        if (this.closed) break;
        if (ep.hasInput()) continue;
        if (this.awaiting()) {
          spun = performance.now();
          if (this.spinForResult()) continue;
        }
      }
      handled = false;
      if (!ep.prepareToPark()) { if (spun >= 0) this.missed(spun); continue; }
      await bell.parkAsync();
      if (spun >= 0) this.missed(spun);
    }
  }

  /** End the receive loop and leave the doorbell. */
  close(): void {
    this.closed = true;
    this.ep.bell.interrupt();
    this.ep.close();
  }
}

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
// reaches each worker as one ring frame and one wake-up.
//
// Receiving (run()): drain every ring, hand each frame to the handler, and when nothing is left
// park on the doorbell until a worker rings (the doorbell protocol: prepareToPark re-checks every
// ring after announcing the park, so no ring is missed). The main thread never spins: it is the
// CLI / embedding thread, and spinning here would take a core from the workers.
import type { MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { encodeValue, decodeFrames } from '../codec/msgpack.js';
import { Endpoint } from '../transport/endpoint.js';
import { kindOf, type AnyFrame } from '../wire/frames.js';

export class MainLoop {
  readonly ep: Endpoint;
  private flushScheduled = false;
  private closed = false;

  /** `ports`: one per worker thread id (shared with the caller, which adds replacements). */
  constructor(doorbell: SharedArrayBuffer, ports: Map<number, MessagePort>, private readonly log: () => Logger,
    private readonly handle: (raw: unknown) => void) {
    this.ep = new Endpoint(0, doorbell, ports, { minSpins: 0, maxSpins: 0 });
  }

  /** Queue `frame` for thread `tid`; the batch goes out at the end of this turn (one microtask). */
  post(tid: number, frame: AnyFrame): void {
    this.ep.post(tid, encodeValue(frame));
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

  /** The receive loop: drain the rings, handle frames, park until rung; until close(). */
  async run(): Promise<void> {
    const ep = this.ep;
    while (!this.closed) {
      if (this.drainOnce()) continue;
      if (ep.hasBacklog()) ep.flush();
      if (!ep.prepareToPark()) continue;
      await ep.bell.parkAsync();
    }
  }

  /** End the receive loop and leave the doorbell. */
  close(): void {
    this.closed = true;
    this.ep.bell.interrupt();
    this.ep.close();
  }
}

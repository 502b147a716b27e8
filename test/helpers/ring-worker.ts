// The other thread of the two-thread tests in test/ring.test.ts and test/deque.test.ts, plus the
// seeded frame generator both threads share. The tests import this module for the generator and
// call startWorker({ role, ... }), which runs this same file in a worker (the role dispatch at the
// bottom only runs there).
// A worker posts `{ ready: true }`, runs, then reports `{ ok: true, ... }` or `{ ok: false, error }`.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../src/transport/ring.js';
import { Doorbell } from '../../src/transport/doorbell.js';
import { Deque, InjectQueue } from '../../src/scheduler/deque.js';
import { TaskQueues, type TaskRegion } from '../../src/scheduler/tasks.js';
import { mulberry32 } from './prng.js';

const PAUSE_CELL = new Int32Array(new SharedArrayBuffer(4));

/**
 * Back-off for the spinning test loops: after 1024 rounds without progress, sleep 50 µs so a peer
 * thread gets the core on a loaded 2-core machine (spinning threads starve each other otherwise:
 * spinning collapses ~500x when a core is busy, docs/design/scheduler.md). Returns the new idle count.
 */
export function backoff(progress: boolean, idle: number): number {
  // (Not Doorbell: these loops test the rings and queues alone.)
  if (progress) return 0;
  if (idle >= 1024) Atomics.wait(PAUSE_CELL, 0, 0, 0.05);
  return idle + 1;
}

export { mulberry32 }; // for the tests that import it from here

/** Length of the next frame: half small (0..64 bytes), half anywhere in 0..4× the ring. */
export function frameLength(rng: () => number, capacity: number): number {
  return rng() < 0.5 ? Math.floor(rng() * 65) : Math.floor(rng() * (4 * capacity + 1));
}

function frameByte(seq: number, i: number): number {
  return (seq * 131 + i * 7 + 1) & 255;
}

/** Frame number `seq` of `length` bytes: contents are a function of (seq, index). */
export function makeFrame(seq: number, length: number): Uint8Array {
  const frame = new Uint8Array(length);
  for (let i = 0; i < length; i++) frame[i] = frameByte(seq, i);
  return frame;
}

/** Null if `bytes` is frame `seq` of `length` bytes, else what differs. */
export function frameMismatch(bytes: Uint8Array, seq: number, length: number): string | null {
  if (bytes.length !== length) return `frame ${seq}: length ${bytes.length}, expected ${length}`;
  for (let i = 0; i < length; i++) {
    if (bytes[i] !== frameByte(seq, i)) return `frame ${seq} (${length} bytes): byte ${i} is ${bytes[i]}, expected ${frameByte(seq, i)}`;
  }
  return null;
}

/**
 * One side of a bidirectional exchange: sends `count` seeded frames on `out`, receives the peer's
 * `count` frames on `input` and checks them. Never blocks; `step()` does a bounded slice of work.
 */
export interface ExchangeOptions {
  input: SpscRing;
  out: SpscRing;
  /** Ring capacity the frame lengths are drawn against. */
  capacity: number;
  sendSeed: number;
  recvSeed: number;
  count: number;
  label: string;
}

export class Exchange {
  received = 0;
  private sent = 0;
  private readonly input: SpscRing;
  private readonly out: SpscRing;
  private readonly capacity: number;
  private readonly count: number;
  private readonly label: string;
  private readonly sendRng: () => number;
  private readonly recvRng: () => number;
  private readonly onFrame = (bytes: Uint8Array): void => {
    const seq = this.received++;
    const problem = frameMismatch(bytes, seq, frameLength(this.recvRng, this.capacity));
    if (problem !== null) throw new Error(`${this.label}: ${problem}`);
  };

  constructor(o: ExchangeOptions) {
    this.input = o.input;
    this.out = o.out;
    this.capacity = o.capacity;
    this.count = o.count;
    this.label = o.label;
    this.sendRng = mulberry32(o.sendSeed);
    this.recvRng = mulberry32(o.recvSeed);
  }

  get done(): boolean {
    return this.sent === this.count && this.out.pendingFrames === 0 && this.received === this.count;
  }

  /** Offer a burst (so the ring really fills), pump, read a little. True if anything moved. */
  step(): boolean {
    const burst = Math.min(8, this.count - this.sent);
    for (let i = 0; i < burst; i++) {
      const seq = this.sent++;
      this.out.offer(makeFrame(seq, frameLength(this.sendRng, this.capacity)), true);
    }
    const moved = pumped(this.out);
    return this.input.read(this.onFrame, 4) > 0 || burst > 0 || moved;
  }
}

export interface WorkerReport { ok: boolean; error?: string; [key: string]: unknown }

/** Start a helper worker; resolves once it runs, with a promise of its final report. */
export async function startWorker(workerData: object): Promise<{ report: Promise<WorkerReport> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData });
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
  });
  const messages: WorkerReport[] = [];
  const waiters: Array<(m: WorkerReport) => void> = [];
  worker.on('message', (m: WorkerReport) => {
    const waiter = waiters.shift();
    if (waiter !== undefined) waiter(m);
    else messages.push(m);
  });
  const next = (): Promise<WorkerReport> =>
    Promise.race([failed, new Promise<WorkerReport>((resolve) => {
      const m = messages.shift();
      if (m !== undefined) resolve(m);
      else waiters.push(resolve);
    })]);
  await next(); // { ready: true }
  return { report: next() };
}

/** pump(), and whether it moved anything. */
export function pumped(ring: SpscRing): boolean {
  const frames = ring.pendingFrames;
  const bytes = ring.pendingBytes;
  ring.pump();
  return ring.pendingFrames !== frames || ring.pendingBytes !== bytes;
}

function report(message: object): void {
  parentPort!.postMessage(message);
}

function run(data: Record<string, any>): object {
  switch (data.role) {
    case 'produce': {
      // Seeded frames of 0..4× the ring on one ring; the main thread checks them.
      const ring = new SpscRing(data.ring);
      const rng = mulberry32(data.seed);
      for (let seq = 0; seq < data.count; seq++) {
        ring.offer(makeFrame(seq, frameLength(rng, ring.capacity)), true);
        // Keep the FIFO short; pump never blocks, so this polls while the consumer catches up.
        for (let idle = 0; ring.pendingFrames > 16;) idle = backoff(pumped(ring), idle);
      }
      for (let idle = 0; ring.pendingFrames > 0;) idle = backoff(pumped(ring), idle);
      return {};
    }
    case 'produce-parking': {
      // Like 'produce', but parks on its doorbell whenever the ring is full, relying on the
      // consumer's takeSpaceWanted() + ring() to wake it; rings the consumer after each write.
      const ring = new SpscRing(data.ring);
      const bell = new Doorbell(data.bell, data.self, data.bellOptions);
      const rng = mulberry32(data.seed);
      const canPump = (): boolean => ring.canPump();
      let timeouts = 0;
      for (let seq = 0; seq < data.count; seq++) {
        ring.offer(makeFrame(seq, frameLength(rng, ring.capacity)), true);
        bell.ring(data.peer);
        while (!ring.pump()) {
          bell.ring(data.peer);
          if (!bell.idle(canPump, data.parkTimeoutMs)) timeouts++;
        }
        bell.ring(data.peer);
      }
      bell.close();
      return { timeouts, parks: bell.stats().parks[data.self] };
    }
    case 'exchange': {
      const input = new SpscRing(data.input);
      const out = new SpscRing(data.out);
      const ex = new Exchange({ input, out, capacity: out.capacity, sendSeed: data.sendSeed, recvSeed: data.recvSeed, count: data.count, label: 'worker' });
      const deadline = Date.now() + data.timeoutMs;
      for (let idle = 0; !ex.done;) {
        idle = backoff(ex.step(), idle);
        if (Date.now() > deadline) throw new Error(`worker: no progress, received ${ex.received}/${data.count}`);
      }
      return {};
    }
    case 'pong': {
      // Echo `rounds` frames back, parking whenever the input is empty.
      const input = new SpscRing(data.input);
      const out = new SpscRing(data.out);
      const bell = new Doorbell(data.bell, data.self, data.bellOptions);
      let timeouts = 0;
      let got = 0;
      const check = (): boolean => !input.isEmpty();
      const echo = (bytes: Uint8Array): void => {
        got++;
        out.offer(bytes);
      };
      while (got < data.rounds) {
        if (!bell.idle(check, data.parkTimeoutMs)) timeouts++;
        input.read(echo);
        out.pump();
        bell.ring(data.peer);
      }
      bell.close();
      return { timeouts };
    }
    case 'thief': {
      // Steal from the owner's deque (single steals and halves into an own deque) until the owner
      // is done and the deque is empty; count every item taken.
      const victim = new Deque(data.victim);
      const own = new Deque(data.own);
      const taken = new Int32Array(data.taken);
      const flags = new Int32Array(data.flags);
      const rng = mulberry32(data.seed);
      let steals = 0;
      for (let idle = 0; ;) {
        const ownerDone = Atomics.load(flags, 0) === 1;
        let got = 0;
        if (rng() < 0.5) {
          const item = victim.steal();
          if (item !== undefined) {
            Atomics.add(taken, item, 1);
            got++;
          }
        } else if (victim.stealHalf(own) > 0) {
          for (let item = own.pop(); item !== undefined; item = own.pop()) {
            Atomics.add(taken, item, 1);
            got++;
          }
        }
        if (got === 0 && ownerDone && victim.size() === 0) break;
        steals += got;
        idle = backoff(got > 0, idle);
      }
      return { steals };
    }
    case 'inject': {
      // One of two threads that both push their own range and pop anything.
      const q = new InjectQueue(data.queue);
      const taken = new Int32Array(data.taken);
      const total = new Int32Array(data.total);
      return injectLoop(q, taken, total, data.first, data.count, data.all, mulberry32(data.seed), 'worker');
    }
    case 'tasks':
      return tasksLoop(data.region, data.me, new Int32Array(data.taken), new Int32Array(data.total), data.count, data.all, mulberry32(data.seed), 'worker');
    default:
      throw new Error(`unknown role ${data.role}`);
  }
}

/**
 * Push `count` items starting at `first` into `q` while popping; record every pop in `taken` and
 * the shared `total`; check each producer's items come out in increasing order. Until `all` popped.
 */
export function injectLoop(q: InjectQueue, taken: Int32Array, total: Int32Array, first: number, count: number, all: number, rng: () => number, label: string): { pops: number } {
  let next = first;
  let pops = 0;
  // Last item seen from each producer (items of producer k are k*count .. (k+1)*count - 1).
  const last = [-1, -1];
  const take = (item: number): void => {
    const producer = Math.floor(item / count);
    if (item <= last[producer]) throw new Error(`${label}: item ${item} after ${last[producer]} from producer ${producer}`);
    last[producer] = item;
    Atomics.add(taken, item, 1);
    Atomics.add(total, 0, 1);
    pops++;
  };
  for (let idle = 0; Atomics.load(total, 0) < all;) {
    if (next < first + count && rng() < 0.6) {
      if (q.push(next)) next++;
      else idle = backoff(false, idle);
    } else {
      const item = q.pop();
      if (item !== undefined) take(item);
      idle = backoff(item !== undefined, idle);
    }
  }
  if (next !== first + count) throw new Error(`${label}: pushed only ${next - first}/${count}`);
  return { pops };
}

/** Descriptor `item` of a tasks run: 4 bytes of the item number, then bytes derived from it. */
export function taskDescriptor(item: number, length: number): Uint8Array {
  const d = new Uint8Array(Math.max(4, length));
  new DataView(d.buffer).setInt32(0, item);
  for (let i = 4; i < d.length; i++) d[i] = (item * 31 + i) & 255;
  return d;
}

/** The item number a descriptor of taskDescriptor() carries. */
export function taskItem(d: Uint8Array): number {
  return new DataView(d.buffer, d.byteOffset).getInt32(0);
}

/**
 * One worker of a host's run queues (src/scheduler/tasks.ts): push `count` descriptors (items
 * me*count …), sometimes to the sibling's inject queue, while taking anything (own queues, the
 * global queue, stealing from the sibling); record each taken item in `taken` and check its
 * bytes. Until `all` are taken.
 */
export function tasksLoop(region: TaskRegion, me: number, taken: Int32Array, total: Int32Array, count: number, all: number, rng: () => number, label: string): { takes: number; stolen: number } {
  const q = new TaskQueues(region, me);
  const other = 1 - me;
  let next = me * count;
  const end = next + count;
  let takes = 0;
  for (let idle = 0; Atomics.load(total, 0) < all;) {
    if (next < end && rng() < 0.6) {
      const len = Math.floor(rng() * (q.maxBytes + 1));
      if (q.push(taskDescriptor(next, len), rng() < 0.2 ? other : me)) next++;
      else idle = backoff(false, idle);
    } else {
      const d = q.take(rng() < 0.5);
      if (d !== undefined) {
        const item = taskItem(d);
        const want = taskDescriptor(item, d.length);
        for (let i = 0; i < d.length; i++) if (d[i] !== want[i]) throw new Error(`${label}: descriptor ${item} damaged at byte ${i}`);
        Atomics.add(taken, item, 1);
        Atomics.add(total, 0, 1);
        takes++;
      }
      idle = backoff(d !== undefined, idle);
    }
  }
  if (next !== end) throw new Error(`${label}: pushed only ${next - me * count}/${count}`);
  return { takes, stolen: q.counters.stolen };
}

if (!isMainThread && parentPort !== null && workerData?.role !== undefined) {
  // Lets the test start its side only once this thread runs (a worker takes ~30-100 ms to boot).
  report({ ready: true });
  try {
    report({ ok: true, ...run(workerData) });
  } catch (e) {
    report({ ok: false, error: e instanceof Error ? e.stack ?? e.message : String(e) });
  }
}

// The plain SharedArrayBuffer ceiling for the transport, and SpscRing measured against it.
//
// "Plain" is the least a ring between two threads can do: fixed-size slots, no headers, no
// callback, the consumer reads each message in place; the producer publishes tail per message,
// the consumer publishes head once per drained batch (as SpscRing does). Both sides spin (no
// parking): this is the ceiling, not a scheduler benchmark. Cases, one worker thread + main:
//   one-way    worker → main, 16-byte and 256-byte messages, msgs/s
//   ping-pong  main → worker → main, 16-byte messages, spinning receivers, round trips/s
// Each case runs RUNS times, the kinds interleaved so machine noise hits them alike; printed are the
// median and the best run of each, with ours / ceiling ratios from the same process run. On a
// shared, noisy 2-core machine spinning threads are hit hard (spinning collapses ~500x when a core
// is busy, docs/design/scheduler.md): trust the best runs and the ratios, not single figures.
// Run: node dist/native-bench/sab-ring.js [--quick], after compiling. tsconfig.json does not
// include native-bench/ yet; until it does:
//   npx tsc --outDir dist --rootDir . --module NodeNext --moduleResolution NodeNext --target ES2022 \
//     --strict --skipLibCheck --types node native-bench/sab-ring.ts
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { SpscRing } from '../src/transport/ring.js';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 1 : 5;
const RING_BYTES = 1 << 20;
const LINE_INTS = 16;
/** Control words: [0] head, [16] tail, [32] start flag (main → worker), [48] done (worker → main). */
const HEAD = 0;
const TAIL = LINE_INTS;
const GO = 2 * LINE_INTS;
const CONTROL_BYTES = 4 * LINE_INTS * 4;

// --- the minimal ring -------------------------------------------------------------------------

class PlainRing {
  static create(): SharedArrayBuffer {
    return new SharedArrayBuffer(CONTROL_BYTES + RING_BYTES);
  }

  readonly control: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Int32Array;
  private readonly slots: number;
  private readonly slotMask: number;
  private readonly size: number;
  private tail = 0;
  private head = 0;
  private cachedHead = 0;

  constructor(sab: SharedArrayBuffer, size: number) {
    this.control = new Int32Array(sab, 0, CONTROL_BYTES / 4);
    this.data = new Uint8Array(sab, CONTROL_BYTES, RING_BYTES);
    this.words = new Int32Array(sab, CONTROL_BYTES, RING_BYTES / 4);
    this.size = size;
    // Message sizes are powers of two, so slot indices are masked.
    this.slots = RING_BYTES / size;
    this.slotMask = this.slots - 1;
  }

  write(msg: Uint8Array): boolean {
    if (this.tail - this.cachedHead === this.slots) {
      this.cachedHead = Atomics.load(this.control, HEAD);
      if (this.tail - this.cachedHead === this.slots) return false;
    }
    this.data.set(msg, (this.tail & this.slotMask) * this.size);
    Atomics.store(this.control, TAIL, ++this.tail);
    return true;
  }

  /** Drain everything published; returns the sum of the first word of each message. */
  drain(): number {
    const tail = Atomics.load(this.control, TAIL);
    let head = this.head;
    if (head === tail) return -1;
    let sum = 0;
    const wordsPerSlot = this.size >> 2;
    for (; head !== tail; head++) sum += this.words[(head & this.slotMask) * wordsPerSlot];
    this.head = head;
    Atomics.store(this.control, HEAD, head);
    return sum;
  }

  /** Messages drained so far. */
  get received(): number {
    return this.head;
  }
}

// --- the worker side ----------------------------------------------------------------------------

interface Job {
  kind: 'plain' | 'ours' | 'ours-offer';
  mode: 'oneway' | 'pingpong';
  size: number;
  count: number;
  out: SharedArrayBuffer;
  back?: SharedArrayBuffer;
  go: SharedArrayBuffer;
}

function waitGo(go: Int32Array): void {
  Atomics.store(go, 1, 1);
  while (Atomics.load(go, 0) === 0);
}

function worker(job: Job): void {
  const go = new Int32Array(job.go);
  const msg = new Uint8Array(job.size);
  const msg32 = new Int32Array(msg.buffer);
  if (job.kind === 'plain') {
    const out = new PlainRing(job.out, job.size);
    const back = job.back === undefined ? null : new PlainRing(job.back, job.size);
    waitGo(go);
    for (let i = 0; i < job.count; i++) {
      if (back !== null) while (back.received <= i) back.drain();
      msg32[0] = i;
      while (!out.write(msg));
    }
    return;
  }
  const out = new SpscRing(job.out);
  const back = job.back === undefined ? null : new SpscRing(job.back);
  let got = 0;
  const onFrame = (): void => { got++; };
  waitGo(go);
  const offer = job.kind === 'ours-offer';
  for (let i = 0; i < job.count; i++) {
    if (back !== null) while (got <= i) back.read(onFrame);
    msg32[0] = i;
    if (offer) {
      if (!out.offer(msg)) while (!out.pump());
    } else {
      while (!out.write(msg));
    }
  }
}

// --- the main side ------------------------------------------------------------------------------

async function run(job: Omit<Job, 'out' | 'back' | 'go'>): Promise<number> {
  const plain = job.kind === 'plain';
  const out = plain ? PlainRing.create() : SpscRing.create(RING_BYTES);
  const back = job.mode === 'pingpong' ? (plain ? PlainRing.create() : SpscRing.create(RING_BYTES)) : undefined;
  const goSab = new SharedArrayBuffer(8);
  const go = new Int32Array(goSab);
  const w = new Worker(new URL(import.meta.url), { workerData: { ...job, out, back, go: goSab } });
  const exited = new Promise<void>((resolve, reject) => {
    w.once('error', reject);
    w.once('exit', () => resolve());
  });
  // Wait (without blocking the loop) until the worker is spinning on the start flag.
  while (Atomics.load(go, 1) === 0) await new Promise((r) => setTimeout(r, 1));

  const msg = new Uint8Array(job.size);
  const msg32 = new Int32Array(msg.buffer);
  const n = job.count;
  let elapsed: number;
  if (plain) {
    const input = new PlainRing(out, job.size);
    const reply = back === undefined ? null : new PlainRing(back, job.size);
    Atomics.store(go, 0, 1);
    const t0 = performance.now();
    if (reply === null) {
      while (input.received < n) input.drain();
    } else {
      for (let i = 0; i < n; i++) {
        msg32[0] = i;
        while (!reply.write(msg));
        while (input.received <= i) input.drain();
      }
    }
    elapsed = performance.now() - t0;
  } else {
    const input = new SpscRing(out);
    const reply = back === undefined ? null : new SpscRing(back);
    let got = 0;
    let check = 0;
    const onFrame = (bytes: Uint8Array): void => {
      // Read the sequence number, as the plain consumer does.
      check += bytes[0];
      got++;
    };
    Atomics.store(go, 0, 1);
    const t0 = performance.now();
    if (reply === null) {
      while (got < n) input.read(onFrame);
    } else {
      for (let i = 0; i < n; i++) {
        msg32[0] = i;
        while (!reply.write(msg));
        while (got <= i) input.read(onFrame);
      }
    }
    elapsed = performance.now() - t0;
    if (check < 0) console.log(check);
  }
  await exited;
  return (n / elapsed) * 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

function fmt(rate: number): string {
  return rate >= 1e6 ? `${(rate / 1e6).toFixed(2)} M` : `${(rate / 1e3).toFixed(1)} k`;
}

async function main(): Promise<void> {
  console.log(`sab-ring: Node ${process.version}, ${RUNS} run(s) per case, median; 1 MiB rings, spinning receivers`);
  const cases: Array<{ label: string; unit: string; mode: Job['mode']; size: number; count: number }> = [
    { label: 'one-way, 16-byte messages', unit: 'msgs/s', mode: 'oneway', size: 16, count: QUICK ? 2e6 : 5e6 },
    { label: 'one-way, 256-byte messages', unit: 'msgs/s', mode: 'oneway', size: 256, count: QUICK ? 5e5 : 2e6 },
    { label: 'ping-pong, 16-byte messages', unit: 'round trips/s', mode: 'pingpong', size: 16, count: QUICK ? 1e5 : 5e5 },
  ];
  const kinds: Job['kind'][] = ['plain', 'ours', 'ours-offer'];
  for (const c of cases) {
    const rates: Record<string, number[]> = { plain: [], ours: [], 'ours-offer': [] };
    // Interleave the kinds run by run so machine noise hits them alike.
    for (let r = 0; r < RUNS; r++) {
      for (const kind of kinds) rates[kind].push(await run({ kind, mode: c.mode, size: c.size, count: c.count }));
    }
    const ceiling = median(rates.plain);
    const bestCeiling = Math.max(...rates.plain);
    console.log(`\n${c.label} (${c.unit})${' '.repeat(Math.max(0, 36 - c.label.length - c.unit.length))}median     ratio   best       ratio`);
    for (const kind of kinds) {
      const m = median(rates[kind]);
      const best = Math.max(...rates[kind]);
      const name = kind === 'plain' ? 'plain SAB ring (ceiling)' : kind === 'ours' ? 'SpscRing write()' : 'SpscRing offer()/pump()';
      const ratio = (x: number, of: number): string => (kind === 'plain' ? '' : `${((x / of) * 100).toFixed(0)}%`).padStart(5);
      console.log(`  ${name.padEnd(26)} ${fmt(m).padStart(9)}   ${ratio(m, ceiling)}   ${fmt(best).padStart(9)}  ${ratio(best, bestCeiling)}   runs: ${rates[kind].map(fmt).join(', ')}`);
    }
  }
}

if (isMainThread) {
  await main();
} else {
  worker(workerData as Job);
}
